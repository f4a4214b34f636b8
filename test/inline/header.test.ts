/**
 * The inline header codec (README.md §3): golden bytes, round trips, refusals, and mutated headers
 * handed to the engine: nothing changes without a valid tag. The decoder's own mutation fuzz is in
 * test/fuzz/inline.test.ts.
 */
import t from 'tap';
import { decodeHeader, encodeHeader, headerLen, HEADER_TYPE, INLINE_NEXT_HEADER, SCOPE } from '../../src/inline/header.js';
import { fromHex, hex } from '../../src/wire/bytes.js';
import { rng } from '../helpers/rng.js';
import { HOST_A, HOST_B } from '../ike/agents.js';
import { icmpEcho } from '../helpers/packets.js';
import { inl, inlineIkePair } from './world.js';

const N1 = fromHex('000102030405060708090a0b0c0d0e0f');
const N2 = fromHex('f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff');

t.test('golden bytes: OFFER 48 octets, ANSWER 64, RETIRE 48', async (t) => {
  const offer = encodeHeader({ next: 4, type: HEADER_TYPE.OFFER, scope: SCOPE['host-pair'], encrId: 20, keyBits: 256, replySpi: 0xc0ffee01, lifetime: 600, nonce: N1 });
  t.equal(
    hex(offer),
    '04' + '11' + '02' + '14' + '0100' + '0000' + 'c0ffee01' + '00000258' + hex(N1) + '00'.repeat(16),
    'next 4, version 1 / OFFER, host-pair, ENCR_AES_GCM_16, 256 bits, SPI, 600 s, N1, tag to fill',
  );
  t.equal(offer.length, 48);
  const answer = encodeHeader({ next: 59, type: HEADER_TYPE.ANSWER, scope: SCOPE.port, encrId: 28, keyBits: 0, replySpi: 0x1234, lifetime: 60, nonce: N2, peerNonce: N1 });
  t.equal(answer.length, 64);
  t.equal(hex(answer.subarray(0, 16)), '3b' + '12' + '04' + '1c' + '0000' + '0000' + '00001234' + '0000003c');
  t.equal(headerLen(HEADER_TYPE.RETIRE), 48);
  const d = decodeHeader(answer);
  if ('fail' in d) throw new Error(d.fail);
  t.equal(d.len, 64);
  t.same([...d.header.peerNonce!], [...N1]);
  t.same([...d.header.nonce], [...N2]);
  t.equal(INLINE_NEXT_HEADER, 253, 'RFC 3692 experimental protocol number');
});

t.test('the decoder refuses what is not a header', async (t) => {
  const good = encodeHeader({ next: 4, type: HEADER_TYPE.ANSWER, scope: 2, encrId: 20, keyBits: 256, replySpi: 999, lifetime: 600, nonce: N2, peerNonce: N1 });
  const fail = (b: Uint8Array) => {
    const d = decodeHeader(b);
    return 'fail' in d ? d.fail : 'ok';
  };
  t.equal(fail(good.subarray(0, 63)), 'inline-short');
  t.equal(fail(Uint8Array.of(4, 0x21)), 'inline-version');
  t.equal(fail(Uint8Array.of(4, 0x17)), 'inline-type');
  const reserved = good.slice();
  reserved[7] = 1;
  t.equal(fail(reserved), 'inline-reserved');
});

t.test('mutated headers handed to the engine change nothing unless the tag verifies', async (t) => {
  const p = await inlineIkePair();
  t.teardown(() => p.stop());
  const carrierIn = [...(p.b.agent.driver as unknown as { sad: { all(): Iterable<import('../../src/drivers/userspace/sa-state.js').UserSa> } }).sad.all()].find((s) => s.spec.dir === 'in')!;
  // A genuine OFFER as B's carrier would deliver it (decrypted), captured from A's engine.
  let genuine: Uint8Array | undefined;
  const driverA = p.a.agent.driver as unknown as { inline: { host: { transmit: (...a: unknown[]) => boolean } } };
  const host = driverA.inline.host;
  const orig = host.transmit;
  host.transmit = (sa, next, payload, len) => {
    if (next === INLINE_NEXT_HEADER && !genuine) genuine = (payload as Uint8Array).slice();
    return orig(sa, next, payload, len);
  };
  p.a.tun.inject(icmpEcho(HOST_A, HOST_B, 1, 1));
  await p.settle();
  host.transmit = orig;
  t.ok(genuine, 'captured an OFFER');
  const B = inl(p.b);
  const before = JSON.stringify(B.counters);
  const size = B.size;
  const r = rng(11);
  const from = { addr: '192.0.2.1', port: 4500 };
  for (let i = 0; i < 5_000; i++) {
    const b = genuine!.slice(0, r() < 0.2 ? Math.floor(r() * genuine!.length) : genuine!.length);
    const flips = 1 + Math.floor(r() * 3);
    for (let k = 0; k < flips && b.length; k++) { const at = Math.floor(r() * b.length); b[at] = b[at]! ^ (1 << Math.floor(r() * 8)); }
    B.onHeader(carrierIn, b, from);
  }
  t.equal(JSON.stringify(B.counters), before, 'no counter of B moved');
  t.equal(B.size, size, 'no flow created');
  t.ok((p.b.agent.driver.drops() as Record<string, number>)['inline-tag']! > 1000, 'most mutants fail the tag');
});
