import t from 'tap';
import { fromHex, hex, concat } from '../../src/wire/bytes.js';
import { KeylineError, MalformedError } from '../../src/wire/errors.js';
import { decodeMessage, decodePayload, decodePayloadChain, encodeChain, encodeMessage, encodePayload } from '../../src/ike/message.js';
import type { HeaderFields } from '../../src/ike/message.js';
import { EXCHANGE, FLAG, IKE, NOTIFY, PAYLOAD } from '../../src/ike/constants.js';
import { BODIES, HAND_INIT, MESSAGES } from './vectors.js';
import { malformed, patched, raw } from './helpers.js';

const HDR: HeaderFields = { spiI: 1n, spiR: 2n, major: 2, minor: 0, exchange: EXCHANGE.INFORMATIONAL, flags: FLAG.I, messageId: 7 };

t.test('every prefix of every golden message is a MalformedError', async (t) => {
  for (const v of MESSAGES) {
    const b = fromHex(v.hex);
    let other = 0;
    for (let n = 0; n < b.length; n++) {
      try {
        decodeMessage(b.subarray(0, n));
        other++;
      } catch (e) {
        if (!(e instanceof MalformedError)) other++;
      }
    }
    t.equal(other, 0, `${v.name}: ${b.length} prefixes`);
  }
});

t.test('every prefix of every decrypted inner chain is a MalformedError', async (t) => {
  for (const v of MESSAGES) {
    if (!v.inner) continue;
    const b = fromHex(v.inner.hex);
    for (let n = 0; n < b.length; n++) malformed(t, () => decodePayloadChain(v.inner!.first, b.subarray(0, n)));
  }
});

t.test('every prefix of every payload body is a MalformedError or a shorter payload that re-encodes to itself', async (t) => {
  for (const v of BODIES) {
    const b = fromHex(v.hex);
    for (let n = 0; n < b.length; n++) {
      const prefix = b.subarray(0, n);
      try {
        const p = decodePayload({ type: v.type, critical: false, body: prefix });
        t.equal(hex(encodePayload(p).body), hex(prefix), `${v.name}: prefix ${n} decodes consistently`);
      } catch (e) {
        if (!(e instanceof MalformedError)) t.fail(`${v.name}: prefix ${n} threw ${String(e)}`);
      }
    }
  }
});

// Offsets in HAND_INIT: header 0..27, SA generic header at 28, the last N at 244 - 28 = 216.
const SA_AT = 28;
const LAST_AT = 216;

t.test('length lies in the generic payload header, in check order', async (t) => {
  // 1. not enough bytes for the generic header: the header promises an SA, the datagram ends.
  const bare = patched('0000000000000001 0000000000000000 21 20 22 08 00000000 0000001c', 0);
  const e1 = malformed(t, () => decodeMessage(bare), /generic header/);
  t.same([e1?.need, e1?.have], [4, 0]);
  // 2. declared length below 4.
  for (const len of [0, 1, 3]) {
    const e2 = malformed(t, () => decodeMessage(patched(HAND_INIT, SA_AT + 2, 0, len)), /payload length/);
    t.same([e2?.need, e2?.have], [4, len]);
  }
  // 3. declared length beyond the bytes left.
  const e3 = malformed(t, () => decodeMessage(patched(HAND_INIT, LAST_AT + 2, 0, 0x1d)), /payload length/);
  t.same([e3?.need, e3?.have], [25, 24]);
  malformed(t, () => decodeMessage(patched(HAND_INIT, SA_AT + 2, 0xff, 0xff)), /payload length/);
});

t.test('the header length must equal the datagram length', async (t) => {
  const b = fromHex(HAND_INIT);
  const e = malformed(t, () => decodeMessage(patched(HAND_INIT, 27, 0xf5)), /header length/);
  t.same([e?.need, e?.have], [244, 245]);
  malformed(t, () => decodeMessage(patched(HAND_INIT, 27, 0xf3)), /header length/);
  malformed(t, () => decodeMessage(concat(b, new Uint8Array(1))), /header length/);
  malformed(t, () => decodeMessage(patched(HAND_INIT, 24, 0xff, 0xff, 0xff, 0xff)), /header length/);
});

t.test('a chain that ends early or late', async (t) => {
  // The last payload names a next one that is not there.
  malformed(t, () => decodeMessage(patched(HAND_INIT, LAST_AT, PAYLOAD.V)), /generic header/);
  // The chain ends (next = 0) while bytes remain: the header length covers them.
  malformed(t, () => decodeMessage(patched(HAND_INIT, SA_AT, 0)), /after the last payload/);
});

const vees = (n: number, lastNext: number = PAYLOAD.NONE): Uint8Array => {
  const body = new Uint8Array(4 * n);
  for (let i = 0; i < n; i++) body.set([i === n - 1 ? lastNext : PAYLOAD.V, 0, 0, 4], 4 * i);
  return body;
};
const message = (first: number, body: Uint8Array): Uint8Array => {
  const h = fromHex('0000000000000001 0000000000000002 00 20 25 08 00000000 00000000');
  h[16] = first;
  new DataView(h.buffer).setUint32(24, 28 + body.length);
  return concat(h, body);
};

t.test(`payload count is capped at ${IKE.maxPayloads}`, async (t) => {
  const ok = decodeMessage(message(PAYLOAD.V, vees(IKE.maxPayloads)));
  t.equal(ok.ok && ok.payloads.length, IKE.maxPayloads);
  const e = malformed(t, () => decodeMessage(message(PAYLOAD.V, vees(IKE.maxPayloads + 1))), /payload count/);
  t.same([e?.need, e?.have], [IKE.maxPayloads, IKE.maxPayloads + 1]);
  // A "loop": every payload names V next, 16k of them; the cap stops the walk, not the buffer.
  malformed(t, () => decodeMessage(message(PAYLOAD.V, vees(16_000, PAYLOAD.V))), /payload count/);
  malformed(t, () => decodePayloadChain(PAYLOAD.V, vees(IKE.maxPayloads + 1)), /payload count/);
  t.throws(() => encodeChain(Array.from({ length: IKE.maxPayloads + 1 }, () => raw(PAYLOAD.V))), KeylineError);
});

t.test('SK must be last, and never inside SK', async (t) => {
  const sk = encodeMessage(HDR, [raw(PAYLOAD.N), { type: PAYLOAD.SK, critical: false, body: new Uint8Array(20), innerFirst: PAYLOAD.D }]);
  const m = decodeMessage(sk);
  t.same(m.ok && m.payloads.map((p) => [p.type, p.innerFirst]), [
    [PAYLOAD.N, undefined],
    [PAYLOAD.SK, PAYLOAD.D],
  ]);
  // Append a V after SK and fix the header length: SK's Next Payload names the inner chain, so
  // the V is trailing garbage.
  malformed(t, () => decodeMessage(message(PAYLOAD.SK, fromHex('2b000008 00000000 00000004'))), /must be last/);
  malformed(t, () => decodePayloadChain(PAYLOAD.SK, fromHex('00000008 00000000')), /inside an encrypted payload/);
  malformed(t, () => decodePayloadChain(PAYLOAD.SKF, fromHex('00000008 00010001')), /inside an encrypted payload/);
  t.throws(() => encodeChain([{ type: PAYLOAD.SK, critical: false, body: new Uint8Array(0) }, raw(PAYLOAD.V)]), KeylineError);
  t.throws(() => encodeChain([{ type: PAYLOAD.V, critical: false, body: new Uint8Array(0xfffc) }]), KeylineError);
  t.equal(encodeChain([{ type: PAYLOAD.V, critical: false, body: new Uint8Array(0xfffb) }]).bytes.length, 0xffff);
});

t.test('critical bit and reserved bits of the generic header', async (t) => {
  const m = decodeMessage(message(200, fromHex('2b800005 ee 00000004')));
  t.same(m.ok && m.payloads.map((p) => [p.type, p.critical, p.body.length]), [
    [200, true, 1],
    [PAYLOAD.V, false, 0],
  ]);
  const reserved = decodeMessage(message(PAYLOAD.V, fromHex('007f0004')));
  t.same(reserved.ok && reserved.payloads[0]?.critical, false, 'reserved bits are ignored');
  t.equal(hex(encodeChain([{ type: 200, critical: true, body: new Uint8Array(0) }]).bytes), '00800004');
});

t.test('a foreign major version comes back typed, before any length check', async (t) => {
  const v1 = patched(HAND_INIT, 17, 0x10, 0x02);
  v1[27] = 0; // an IKEv1 header with a wrong length still gets its answer
  const r = decodeMessage(v1);
  t.same(r.ok ? 'ok' : [r.notify, r.header.major], [NOTIFY.INVALID_MAJOR_VERSION, 1]);
});
