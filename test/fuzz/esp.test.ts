/**
 * The ESP parser (src/esp/esp.ts `openEsp`) and the ESP-in-UDP demux (src/esp/udp.ts): sealed
 * packets of every suite, ESN on and off, mutated. A mutant opens only if it is a genuine packet;
 * a packet that did not authenticate leaves the replay window as it was. The demux classifies
 * every datagram, whatever it holds, by the rules of RFC 3948 §2.
 */
import t from 'tap';
import { nodeBackend } from '../../src/crypto/index.js';
import { SUITES } from '../../src/crypto/suites.js';
import type { CipherSuite } from '../../src/crypto/types.js';
import { openEsp, sealEsp, type RecvState, type SendState } from '../../src/esp/esp.js';
import { ReplayWindow } from '../../src/esp/replay.js';
import { classify } from '../../src/esp/udp.js';
import { fuzz } from './harness.js';
import { concat, int, mutate, pick, toHex, type Rng } from './mutate.js';

interface Seed {
  suite: CipherSuite;
  esn: boolean;
  packets: Uint8Array[];
}

const key = (n: number, x: number) => new Uint8Array(n).map((_, i) => (i * 13 + x) & 0xff);
const aeadOf = (suite: CipherSuite) => nodeBackend.aead(suite, key(SUITES[suite].encKeyLen, 1), SUITES[suite].integKeyLen ? key(SUITES[suite].integKeyLen, 2) : undefined);

/** Packets 101..108 of each suite (ESN: in the second 2^32 block), payloads of 0..90 bytes. */
const SEEDS: Seed[] = (Object.keys(SUITES) as CipherSuite[]).flatMap((suite) =>
  [false, true].map((esn) => {
    const send: SendState = { spi: 0xc0ffee01, aead: aeadOf(suite), esn, seq: (esn ? 2 ** 32 : 0) + 100 };
    const packets = [0, 1, 15, 16, 17, 40, 64, 90].map((len, i) => sealEsp(send, i % 2 ? 41 : 4, key(len, i), (n) => key(n, 9))!);
    return { suite, esn, packets };
  }),
);

/** A receiver that has seen packets up to 100 (and one at 105, inside the window). */
function receiver(s: Seed): RecvState {
  const replay = new ReplayWindow(32);
  const base = s.esn ? 2 ** 32 : 0;
  for (const q of [base + 99, base + 100, base + 105]) replay.commit(q);
  return { aead: aeadOf(s.suite), esn: s.esn, replay };
}

const windowOf = (r: RecvState) => JSON.stringify([r.replay.highest, [...(r.replay as unknown as { ring: Uint32Array }).ring]]);
const RECEIVERS = new Map(SEEDS.map((s) => [s, receiver(s)]));
const ALL = SEEDS.flatMap((s) => s.packets);

t.test('mutated ESP packets: only genuine ones open; the replay window moves only for them', async (t) => {
  let opened = 0;
  await fuzz(t, 'esp-open', {
    make: (r) => {
      const s = pick(r, SEEDS);
      const original = pick(r, s.packets);
      return { s, original, packet: mutate(r, original, { others: s.packets }) };
    },
    show: (x) => `${x.s.suite} esn=${x.s.esn} ${toHex(x.packet)}`,
    run: ({ s, original, packet }) => {
      const recv = RECEIVERS.get(s)!;
      const before = windowOf(recv);
      const res = openEsp(recv, packet);
      const genuine = s.packets.some((p) => toHex(p) === toHex(packet));
      const authenticated = res.ok || res.reason === 'padding';
      if (authenticated && !genuine) return `a mutant authenticated (${res.ok ? 'opened' : res.reason}); original ${toHex(original)}`;
      if (!authenticated && windowOf(recv) !== before) return `the replay window moved on ${res.ok ? 'ok' : res.reason}`;
      if (authenticated) {
        opened++;
        RECEIVERS.set(s, receiver(s)); // a genuine packet was committed: start from the same state again
      }
      return undefined;
    },
  });
  t.ok(opened > 0, `${opened} mutants were the genuine packet and opened`);
});

/** Datagrams as they arrive on port 4500: keepalives, IKE behind the marker, ESP, runts. */
function datagram(r: Rng): Uint8Array {
  const ike = concat(new Uint8Array(4), key(28 + int(r, 40), 3));
  return mutate(r, pick(r, [Uint8Array.of(0xff), ike, pick(r, ALL), new Uint8Array(8), Uint8Array.of(0, 0, 0, 0)]), { others: [ike, ...ALL] });
}

function expected(d: Uint8Array): string {
  if (d.length === 1 && d[0] === 0xff) return 'keepalive';
  if (d.length < 8) return 'runt';
  return d[0] === 0 && d[1] === 0 && d[2] === 0 && d[3] === 0 ? 'ike' : 'esp';
}

t.test('the ESP-in-UDP demux classifies every datagram by RFC 3948 §2', async (t) => {
  const seen = new Set<string>();
  await fuzz(t, 'esp-udp-demux', {
    make: datagram,
    show: toHex,
    run: (d) => {
      const c = classify(d);
      seen.add(c);
      return c === expected(d) ? undefined : `classified ${c}, RFC 3948 says ${expected(d)}`;
    },
  }, 0.25);
  t.same([...seen].sort(), ['esp', 'ike', 'keepalive', 'runt'], 'every class was reached');
});
