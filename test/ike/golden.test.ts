import t from 'tap';
import { fromHex, hex } from '../../src/wire/bytes.js';
import { addrText } from '../../src/sa/selector.js';
import { ENCR, KE as KE_ID, name } from '../../src/wire/iana.js';
import { decodeMessage, decodePayload, decodePayloadChain, encodeChain, encodeMessage, encodePayload } from '../../src/ike/message.js';
import type { Payload, RawPayload } from '../../src/ike/message.js';
import { keyLength } from '../../src/ike/payloads/sa.js';
import { checkRules } from '../../src/ike/rules.js';
import { EXCHANGE, FLAG, NOTIFY, PAYLOAD, PROTO, TRANSFORM } from '../../src/ike/constants.js';
import { isResponse } from '../../src/ike/header.js';
import { BODIES, HAND_INIT, MESSAGES } from './vectors.js';

function decodeOk(h: string) {
  const m = decodeMessage(fromHex(h));
  if (!m.ok) throw new Error(`unexpected version result ${m.header.major}`);
  return m;
}

const typed = (raws: readonly RawPayload[]): Payload[] => raws.map(decodePayload);
const only = <K extends Payload['type']>(ps: Payload[], type: K) => ps.filter((p): p is Payload & { type: K } => p.type === type);

for (const v of MESSAGES) {
  t.test(`round trip: ${v.name}`, async (t) => {
    const bytes = fromHex(v.hex);
    const m = decodeOk(v.hex);
    t.equal(m.header.length, bytes.length);
    t.equal(hex(encodeMessage(m.header, m.payloads)), hex(bytes), 'raw payloads re-encode to the same bytes');
    const again = typed(m.payloads).map(encodePayload);
    t.equal(hex(encodeMessage(m.header, again)), hex(bytes), 'typed payloads re-encode to the same bytes');
    if (v.inner) {
      const inner = decodePayloadChain(v.inner.first, fromHex(v.inner.hex));
      const chain = encodeChain(typed(inner).map(encodePayload));
      t.equal(chain.first, v.inner.first, "SK's next payload");
      t.equal(hex(chain.bytes), hex(fromHex(v.inner.hex)), 'inner chain re-encodes to the same bytes');
      t.equal(m.payloads.at(-1)?.innerFirst, v.inner.first, 'SK carries the first inner type');
    }
    const r = checkRules(m.header.exchange, isResponse(m.header), m.payloads, v.inner ? decodePayloadChain(v.inner.first, fromHex(v.inner.hex)) : []);
    t.same(r, { ok: true }, 'a real message passes the rules table');
  });
}

t.test('hand-built IKE_SA_INIT: every field', async (t) => {
  const m = decodeOk(HAND_INIT);
  t.equal(m.header.spiI, 0xa1b2c3d4e5f60718n);
  t.equal(m.header.spiR, 0n);
  t.same([m.header.major, m.header.minor, m.header.exchange, m.header.flags, m.header.messageId], [2, 0, EXCHANGE.IKE_SA_INIT, FLAG.I, 0]);
  const ps = typed(m.payloads);
  t.same(
    ps.map((p) => p.type),
    ['SA', 'KE', 'NONCE', 'N', 'N'],
  );
  const [sa] = only(ps, 'SA');
  t.equal(sa?.proposals.length, 2);
  const [p1, p2] = sa!.proposals;
  t.same([p1!.num, p1!.protocol, p1!.spi.length], [1, PROTO.IKE, 0]);
  t.same(
    p1!.transforms.map((x) => [x.type, x.id]),
    [
      [TRANSFORM.ENCR, ENCR.ENCR_AES_GCM_16],
      [TRANSFORM.PRF, 5],
      [TRANSFORM.KE, KE_ID.CURVE25519],
    ],
  );
  t.equal(keyLength(p1!.transforms[0]!), 256);
  t.equal(keyLength(p1!.transforms[1]!), undefined);
  t.same(
    p2!.transforms.map((x) => [x.type, x.id, keyLength(x)]),
    [
      [1, ENCR.ENCR_AES_CBC, 256],
      [2, 5, undefined],
      [3, 12, undefined],
      [4, 31, undefined],
    ],
  );
  const [ke] = only(ps, 'KE');
  t.same([ke?.group, ke?.data.length], [31, 32]);
  t.equal(only(ps, 'NONCE')[0]?.data.length, 32);
  t.same(
    only(ps, 'N').map((n) => [name(NOTIFY, n.notify), n.protocol, n.spi.length, n.data.length]),
    [
      ['NAT_DETECTION_SOURCE_IP', 0, 0, 20],
      ['NAT_DETECTION_DESTINATION_IP', 0, 0, 20],
    ],
  );
});

t.test('wireshark IKE_SA_INIT pair: fields', async (t) => {
  const req = decodeOk(MESSAGES[1]!.hex);
  const resp = decodeOk(MESSAGES[2]!.hex);
  t.equal(req.header.spiI, 0xea684d21597afd36n);
  t.equal(resp.header.spiR, 0xd9fe2ab22dac23acn);
  t.equal(resp.header.flags, FLAG.R);
  const sa = only(typed(req.payloads), 'SA')[0]!;
  const t0 = sa.proposals[0]!.transforms[0]!;
  t.same([t0.type, t0.id, keyLength(t0)], [TRANSFORM.ENCR, 15, 128], 'ENCR_AES_CCM_12, 128-bit key');
  t.equal(only(typed(req.payloads), 'KE')[0]?.group, 19);
  t.same(
    only(typed(req.payloads), 'N').map((n) => n.notify),
    [NOTIFY.NAT_DETECTION_SOURCE_IP, NOTIFY.NAT_DETECTION_DESTINATION_IP, NOTIFY.SIGNATURE_HASH_ALGORITHMS],
  );
  t.same(
    only(typed(resp.payloads), 'N').map((n) => name(NOTIFY, n.notify)),
    ['NAT_DETECTION_SOURCE_IP', 'NAT_DETECTION_DESTINATION_IP', 'MULTIPLE_AUTH_SUPPORTED'],
  );
});

t.test('wireshark INFORMATIONAL: SK last, decrypted Delete of the IKE SA', async (t) => {
  const m = decodeOk(MESSAGES[3]!.hex);
  t.same(
    m.payloads.map((p) => p.type),
    [PAYLOAD.SK],
  );
  const sk = decodePayload(m.payloads[0]!);
  t.equal(sk.type, 'SK');
  const inner = typed(decodePayloadChain(MESSAGES[3]!.inner!.first, fromHex(MESSAGES[3]!.inner!.hex)));
  t.same(inner, [{ type: 'D', protocol: PROTO.IKE, spiSize: 0, spis: [] }]);
});

t.test('aosp IKE_AUTH inner chain: fields', async (t) => {
  const v = MESSAGES[6]!;
  const ps = typed(decodePayloadChain(v.inner!.first, fromHex(v.inner!.hex)));
  t.same(
    ps.map((p) => p.type),
    ['IDi', 'IDr', 'AUTH', 'SA', 'TSi', 'TSr', 'N', 'N'],
  );
  t.equal(addrText(only(ps, 'IDi')[0]!.data), '10.80.80.13');
  t.equal(addrText(only(ps, 'IDr')[0]!.data), '10.80.80.80');
  t.same([only(ps, 'AUTH')[0]!.method, only(ps, 'AUTH')[0]!.data.length], [2, 20]);
  const p = only(ps, 'SA')[0]!.proposals[0]!;
  t.same([p.protocol, hex(p.spi)], [PROTO.ESP, '2ad4c0a2']);
  t.same(
    p.transforms.map((x) => [x.type, x.id, keyLength(x)]),
    [
      [1, 12, 128],
      [3, 2, undefined],
      [5, 0, undefined],
    ],
  );
  const tsi = only(ps, 'TSi')[0]!.selectors[0]!;
  t.same([tsi.tsType, tsi.protocol, tsi.startPort, tsi.endPort, addrText(tsi.start), addrText(tsi.end)], [7, 0, 0, 65535, '0.0.0.0', '255.255.255.255']);
  t.same(
    only(ps, 'N').map((n) => [name(NOTIFY, n.notify), hex(n.data)]),
    [
      ['INITIAL_CONTACT', ''],
      ['SET_WINDOW_SIZE', '00000001'],
    ],
  );
});

for (const v of BODIES) {
  t.test(`payload body round trip: ${v.name}`, async (t) => {
    const body = fromHex(v.hex);
    const p = decodePayload({ type: v.type, critical: false, body });
    t.not(p.type, 'unknown');
    const raw = encodePayload(p);
    t.equal(raw.type, v.type);
    t.equal(hex(raw.body), hex(body));
  });
}

const body = (i: number): Payload => {
  const v = BODIES[i]!;
  return decodePayload({ type: v.type, critical: false, body: fromHex(v.hex) });
};

t.test('payload fields', async (t) => {
  t.same(body(2), { type: 'D', protocol: PROTO.ESP, spiSize: 4, spis: [fromHex('c0ffee01'), fromHex('c0ffee02'), fromHex('c0ffee03')] });
  t.same(body(4), { type: 'N', protocol: PROTO.ESP, notify: NOTIFY.REKEY_SA, spi: fromHex('8a7b6c5d'), data: new Uint8Array(0) });
  const ts = body(7);
  if (ts.type !== 'TSi') throw new Error('not TSi');
  t.same(
    ts.selectors.map((s) => [s.tsType, s.protocol, s.startPort, s.endPort, addrText(s.start), addrText(s.end)]),
    [
      [7, 6, 0, 65535, '192.0.2.0', '192.0.2.255'],
      [8, 0, 0, 65535, '2001:db8::', '2001:db8::ffff:ffff:ffff:ffff'],
    ],
  );
  const sa = body(9);
  if (sa.type !== 'SA') throw new Error('not SA');
  t.same(sa.proposals[0]!.transforms[0]!.attributes, [
    { type: 14, tv: true, value: 128 },
    { type: 33, tv: false, value: fromHex('abcdef') },
    { type: 34, tv: true, value: 0x1234 },
  ]);
});
