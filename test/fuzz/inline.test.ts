/**
 * Inline keying (src/inline/): the header codec on mutated golden headers, and the receive path
 * from the wire: ESP datagrams towards an agent, either mutated copies of captured inline traffic
 * (IKE parent and static parent) or authenticated ESP on the IKE carrier whose inline header is
 * mutated (the tag decides). No flow, counter or SA may change unless the header authenticated;
 * nothing throws past the packet handler.
 */
import t from 'tap';
import { decodeHeader, encodeHeader, headerLen, HEADER_TYPE, INLINE_NEXT_HEADER, SCOPE } from '../../src/inline/header.js';
import { sealEsp, type SendState } from '../../src/esp/esp.js';
import { nodeBackend } from '../../src/crypto/index.js';
import type { UserspaceDriver } from '../../src/drivers/userspace/driver.js';
import type { Endpoint } from '../../src/sa/types.js';
import { fromHex } from '../../src/wire/bytes.js';
import { HOST_A, HOST_B, type Side } from '../ike/agents.js';
import { icmpEcho } from '../helpers/packets.js';
import { inl, inlineIkePair, staticPair, type StaticPair } from '../inline/world.js';
import { fuzz } from './harness.js';
import { concat, mutate, pick, toHex, type Field } from './mutate.js';

const N1 = fromHex('000102030405060708090a0b0c0d0e0f');
const N2 = fromHex('f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff');
const TAG = fromHex('a0a1a2a3a4a5a6a7a8a9aaabacadaeaf');
const withTag = (h: Uint8Array) => (h.set(TAG, h.length - 16), h);
const HEADERS = [
  withTag(encodeHeader({ next: 4, type: HEADER_TYPE.OFFER, scope: SCOPE['host-pair'], encrId: 20, keyBits: 256, replySpi: 0xc0ffee01, lifetime: 600, nonce: N1 })),
  withTag(encodeHeader({ next: 59, type: HEADER_TYPE.ANSWER, scope: SCOPE.port, encrId: 28, keyBits: 0, replySpi: 0x1234, lifetime: 60, nonce: N2, peerNonce: N1 })),
  withTag(encodeHeader({ next: 41, type: HEADER_TYPE.RETIRE, scope: SCOPE.host, encrId: 20, keyBits: 128, replySpi: 0x2000, lifetime: 0, nonce: N1 })),
];
/** The header's own fields: next header, version/type (which sets the length), reserved, SPI, lifetime. */
const HEADER_SHAPE: Field[] = [
  { at: 0, size: 1, kind: 'next' },
  { at: 1, size: 1, kind: 'type' },
  { at: 4, size: 2, kind: 'length' },
  { at: 6, size: 2, kind: 'count' },
  { at: 8, size: 4, kind: 'count' },
  { at: 12, size: 4, kind: 'count' },
];

t.test('mutated headers: decoded exactly as encoded, or refused with a reason', async (t) => {
  const outcomes: Record<string, number> = {};
  await fuzz(t, 'inline-header', {
    make: (r) => concat(mutate(r, pick(r, HEADERS), { shape: () => HEADER_SHAPE, others: HEADERS }), r() < 0.3 ? icmpEcho(HOST_A, HOST_B, 1, 1) : new Uint8Array(0)),
    show: toHex,
    run: (b) => {
      const d = decodeHeader(b);
      const k = 'fail' in d ? d.fail : 'ok';
      outcomes[k] = (outcomes[k] ?? 0) + 1;
      if ('fail' in d) return undefined;
      if (d.len !== headerLen(d.header.type) || d.len > b.length) return `length ${d.len} for type ${d.header.type} in ${b.length} bytes`;
      const again = withTag(encodeHeader(d.header));
      again.set(d.header.tag, d.len - 16);
      return toHex(again) === toHex(b.subarray(0, d.len)) ? undefined : `re-encodes to ${toHex(again)}`;
    },
  }, 0.5);
  t.comment(JSON.stringify(outcomes));
  t.ok(outcomes['ok']! > 0 && Object.keys(outcomes).length === 5, 'every outcome was reached');
});

/** What of a side's inline and SA state may not change: flows, counters, SAs (drops may rise). */
function state(s: Side): string {
  const e = inl(s);
  const sad = [...(s.agent.driver as unknown as UserspaceDriver).sad.all()].map((x) => [x.spec.dir, x.spec.spi, x.recv?.replay.highest, x.counters.packets]);
  return JSON.stringify({ size: e.size, counters: e.counters, sad });
}
const internal = (s: Side) => (s.agent.driver.drops() as Record<string, number>)['internal'] ?? 0;
const FROM_A: Endpoint = { addr: '192.0.2.1', port: 4500 };
const TO_B: Endpoint = { addr: '192.0.2.2', port: 4500 };

/** A's first packet to B's subnet makes an OFFER, B's reply the ANSWER: one flow, traffic both ways; then the wire is left alone. */
async function oneFlow(p: Pick<StaticPair, 'a' | 'b' | 'net' | 'settle'>): Promise<void> {
  p.a.tun.inject(icmpEcho(HOST_A, HOST_B, 1, 1));
  await p.settle();
  p.b.tun.inject(icmpEcho(HOST_B, HOST_A, 1, 1));
  await p.settle();
  p.net.fault = undefined;
}

t.test('the receive path from the wire: IKE parent, mutated ESP and authenticated ESP with mutated headers', async (t) => {
  const captured: Uint8Array[] = [];
  const p = await inlineIkePair({ fault: (d, _from, to) => (to.port === 4500 && d[0] !== 0 && captured.push(d.slice()), [d]) });
  t.teardown(() => p.stop());
  await oneFlow(p);
  t.ok(inl(p.b).size > 0 && captured.length >= 2, `a flow is up; ${captured.length} ESP datagrams captured`);
  // A sender on B's IKE carrier SA: authenticated ESP whose inline header is what the fuzzer says.
  const carrier = [...(p.b.agent.driver as unknown as UserspaceDriver).sad.all()].find((s) => s.spec.dir === 'in' && s.spec.reqid === 1)!;
  const spec = carrier.spec;
  const send: SendState = { spi: spec.spi, aead: nodeBackend.aead(spec.suite, spec.encKey, spec.integKey), esn: spec.esn, seq: 1_000_000 };
  const genuine = HEADERS[0]!;
  const before = state(p.b);
  let sealed = 0;
  await fuzz(t, 'inline-receive-ike', {
    make: (r) => {
      if (r() < 0.5) return mutate(r, pick(r, captured), { others: captured });
      sealed++;
      const header = mutate(r, genuine, { shape: () => HEADER_SHAPE, others: HEADERS });
      return sealEsp(send, INLINE_NEXT_HEADER, concat(header, icmpEcho(HOST_A, HOST_B, 9, 9)), (n) => new Uint8Array(n))!;
    },
    show: toHex,
    run: async (d) => {
      p.net.carry(d, FROM_A, TO_B);
      await p.net.settle();
      return undefined;
    },
  }, 0.75);
  await p.settle();
  const after = JSON.parse(state(p.b)) as { sad: [string, number, number, number][] };
  const carrierNow = after.sad.find((x) => x[0] === 'in' && x[1] === spec.spi)!;
  // The carrier's replay window and packet count moved for the authenticated ones; nothing else did.
  const strip = (s: string) => JSON.stringify({ ...JSON.parse(s), sad: (JSON.parse(s) as typeof after).sad.filter((x) => x[1] !== spec.spi) });
  t.equal(strip(state(p.b)), strip(before), 'no flow, counter or other SA of B changed');
  t.ok(carrierNow[2] >= 1_000_000 || sealed === 0, 'the authenticated carrier packets were received');
  t.equal(internal(p.b), 0, 'nothing escaped the packet handler');
  t.ok((p.b.agent.driver.drops() as Record<string, number>)['inline-tag']! > 0, 'mutated headers failed the tag');
});

t.test('the receive path from the wire: static parent, mutated ESP', async (t) => {
  const captured: Uint8Array[] = [];
  const p = await staticPair({ fault: (d, _from, to) => (to.addr === TO_B.addr && captured.push(d.slice()), [d]) });
  t.teardown(() => p.stop());
  await oneFlow(p);
  t.ok(inl(p.b).size > 0 && captured.length >= 1, `a flow is up; ${captured.length} ESP datagrams captured`);
  const before = state(p.b);
  await fuzz(t, 'inline-receive-static', {
    make: (r) => mutate(r, pick(r, captured), { others: captured }),
    show: toHex,
    run: async (d) => {
      p.net.carry(d, FROM_A, TO_B);
      await p.net.settle();
      const now = state(p.b);
      return now === before ? undefined : `B changed: ${now} (was ${before})`;
    },
  }, 0.5);
  t.equal(internal(p.b), 0, 'nothing escaped the packet handler');
});
