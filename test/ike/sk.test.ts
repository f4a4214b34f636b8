import t from 'tap';
import { randomBytes } from 'node:crypto';
import { SUITE_NAMES, SUITES, nobleBackend, nodeBackend } from '../../src/crypto/index.js';
import type { Aead, Backend, CipherSuite } from '../../src/crypto/types.js';
import type { IkeSaKeys } from '../../src/crypto/ike-keys.js';
import { concat, fromHex, hex } from '../../src/wire/bytes.js';
import { decodeMessage, encodeMessage } from '../../src/ike/message.js';
import type { HeaderFields, RawPayload } from '../../src/ike/message.js';
import { EXCHANGE, FLAG, PAYLOAD } from '../../src/ike/constants.js';
import { counterIv, ivSource, openMessage, sealMessage, skKeys } from '../../src/ike/sk.js';
import type { OpenResult, SkKeys } from '../../src/ike/sk.js';

const BACKENDS: readonly Backend[] = [nodeBackend, nobleBackend];
const rnd = (n: number): Uint8Array => new Uint8Array(randomBytes(n));

const HDR: HeaderFields = {
  spiI: 0x0102030405060708n,
  spiR: 0x1112131415161718n,
  major: 2,
  minor: 0,
  exchange: EXCHANGE.IKE_AUTH,
  flags: FLAG.I,
  messageId: 1,
};

/** Random IKE SA keys of the right sizes for `suite` (what deriveIkeKeys would produce). */
function fakeKeys(suite: CipherSuite): IkeSaKeys {
  const s = SUITES[suite];
  const a = s.integKeyLen;
  return { skD: rnd(32), skAi: a ? rnd(a) : undefined, skAr: a ? rnd(a) : undefined, skEi: rnd(s.encKeyLen), skEr: rnd(s.encKeyLen), skPi: rnd(32), skPr: rnd(32) };
}

/** Initiator and responder ends of one IKE SA. */
function pair(suite: CipherSuite, be: Backend): { i: SkKeys; r: SkKeys } {
  const k = fakeKeys(suite);
  return { i: skKeys(k, suite, be, 'initiator'), r: skKeys(k, suite, be, 'responder') };
}

// IDi (FQDN "a.example"), AUTH (PSK, 32 bytes), N(INITIAL_CONTACT): bodies only, the chain codec adds headers.
const INNER: RawPayload[] = [
  { type: PAYLOAD.IDi, critical: false, body: concat(fromHex('02000000'), new TextEncoder().encode('a.example')) },
  { type: PAYLOAD.AUTH, critical: false, body: concat(fromHex('02000000'), new Uint8Array(32).fill(0x5a)) },
  { type: PAYLOAD.N, critical: false, body: fromHex('00004000') },
];

function open(buf: Uint8Array, aead: Aead): OpenResult | 'undecodable' {
  let m;
  try {
    m = decodeMessage(buf);
  } catch {
    return 'undecodable';
  }
  return m.ok ? openMessage(buf, m, aead) : 'undecodable';
}

const suites = (be: Backend) => SUITE_NAMES.filter((s) => be.supports(s));

t.test('round trip for every suite, both backends, both directions', async (t) => {
  for (const be of BACKENDS) {
    for (const suite of suites(be)) {
      const { i, r } = pair(suite, be);
      const info = SUITES[suite];
      const buf = sealMessage(HDR, INNER, i.send, ivSource(i.send, rnd));
      const m = decodeMessage(buf);
      if (!m.ok) throw new Error('version');
      t.equal(m.header.length, buf.length, `${be.name} ${suite}: header length includes IV and ICV`);
      t.equal(m.header.next, PAYLOAD.SK);
      t.equal(m.payloads.length, 1);
      t.equal(m.payloads[0]!.innerFirst, PAYLOAD.IDi, 'SK next payload = first inner type');
      const plainLen = m.payloads[0]!.body.length - info.ivLen - info.icvLen;
      if (info.combined) t.equal(plainLen, 4 + 13 + 4 + 36 + 4 + 4 + 1, 'AEAD: no padding, one pad length byte');
      else t.equal(plainLen % 16, 0, 'CBC: padded to the block');
      const got = openMessage(buf, m, r.recv);
      t.same(got.ok && got.inner.map((p) => [p.type, hex(p.body)]), INNER.map((p) => [p.type, hex(p.body)]), `${be.name} ${suite}: initiator -> responder`);
      t.same(open(buf, i.recv), { ok: false, reason: 'auth' }, 'our own send key does not open it on our receive side');
      const back = sealMessage({ ...HDR, flags: FLAG.R }, [], r.send, ivSource(r.send, rnd));
      t.same(open(back, i.recv), { ok: true, inner: [] }, `${be.name} ${suite}: empty SK responder -> initiator`);
    }
  }
});

t.test('node and noble interoperate', async (t) => {
  for (const suite of suites(nodeBackend)) {
    const k = fakeKeys(suite);
    const a = skKeys(k, suite, nodeBackend, 'initiator');
    const b = skKeys(k, suite, nobleBackend, 'responder');
    const got = open(sealMessage(HDR, INNER, a.send, ivSource(a.send, rnd)), b.recv);
    t.ok(got !== 'undecodable' && got.ok, suite);
  }
});

t.test('unencrypted payloads before SK are covered too', async (t) => {
  const { i, r } = pair('aes256gcm16', nobleBackend);
  const v: RawPayload = { type: PAYLOAD.V, critical: false, body: fromHex('aabbccdd') };
  const buf = sealMessage(HDR, INNER, i.send, ivSource(i.send, rnd), [v]);
  const m = decodeMessage(buf);
  t.same(m.ok && m.payloads.map((p) => p.type), [PAYLOAD.V, PAYLOAD.SK]);
  const got = open(buf, r.recv);
  t.ok(got !== 'undecodable' && got.ok);
  const bad = buf.slice();
  bad[32] = bad[32]! ^ 1; // inside the vendor ID body
  t.same(open(bad, r.recv), { ok: false, reason: 'auth' });
});

t.test('every single bit flip is rejected, never thrown', async (t) => {
  for (const suite of ['aes128gcm16', 'chacha20poly1305', 'aes256-sha256'] as const) {
    const { i, r } = pair(suite, nobleBackend);
    const buf = sealMessage(HDR, INNER.slice(0, 1), i.send, ivSource(i.send, rnd));
    let rejected = 0;
    let undecodable = 0;
    for (let bit = 0; bit < buf.length * 8; bit++) {
      const b = buf.slice();
      b[bit >> 3] = b[bit >> 3]! ^ (0x80 >> (bit & 7));
      const got = open(b, r.recv);
      if (got === 'undecodable') undecodable++;
      else if (!got.ok && got.reason === 'auth') rejected++;
      else t.fail(`${suite}: flip of bit ${bit} gave ${JSON.stringify(got)}`);
    }
    // Only length fields, the next-payload chain and the version make a message undecodable.
    t.equal(rejected + undecodable, buf.length * 8, `${suite}: ${rejected} auth failures, ${undecodable} undecodable`);
    t.ok(rejected > (buf.length - 28) * 8, `${suite}: everything after the header authenticates`);
  }
});

/** Cut `cut` bytes off the SK body's end and fix both length fields, so it still decodes. */
function shortened(buf: Uint8Array, cut: number): Uint8Array {
  const b = buf.slice(0, buf.length - cut);
  new DataView(b.buffer).setUint32(24, b.length);
  new DataView(b.buffer).setUint16(30, b.length - 28);
  return b;
}

t.test('truncation never throws', async (t) => {
  for (const suite of ['aes256gcm16', 'aes128-sha256'] as const) {
    const { i, r } = pair(suite, nobleBackend);
    const buf = sealMessage(HDR, INNER, i.send, ivSource(i.send, rnd));
    for (let n = 0; n < buf.length; n++) t.doesNotThrow(() => open(buf.subarray(0, n), r.recv));
    for (let cut = 1; cut <= buf.length - 32; cut++) {
      t.same(open(shortened(buf, cut), r.recv), { ok: false, reason: 'auth' }, `${suite}: SK body ${cut} bytes short`);
    }
  }
});

/**
 * A second, independent SK builder with chosen padding, the way another implementation may pad
 * (strongSwan pads AEAD plaintexts too). aad = everything before the IV, as RFC 5282 §5.1 says.
 */
function sealPadded(aead: Aead, inner: RawPayload[], padding: Uint8Array, iv: Uint8Array, padLenByte = padding.length): Uint8Array {
  const probe = encodeMessage(HDR, inner);
  const chain = probe.subarray(28);
  const plain = concat(chain, padding, new Uint8Array([padLenByte]));
  const skLen = 4 + iv.length + plain.length + aead.icvLen;
  const head = encodeMessage(HDR, [{ type: PAYLOAD.SK, critical: false, body: new Uint8Array(skLen - 4), innerFirst: inner[0]?.type ?? 0 }]).subarray(0, 32);
  return concat(head, iv, aead.seal(head, iv, plain));
}

t.test('peer padding: arbitrary bytes and lengths are accepted; a bad pad length is malformed', async (t) => {
  for (const be of BACKENDS) {
    for (const suite of suites(be)) {
      const { i, r } = pair(suite, be);
      const info = SUITES[suite];
      const iv = rnd(info.ivLen);
      const chainLen = encodeMessage(HDR, INNER).length - 28;
      const block = info.combined ? 1 : 16;
      for (const extra of [0, 1, 7, 16, 33]) {
        // Smallest padding that aligns, plus `extra` blocks' worth of random bytes.
        const base = (block - ((chainLen + 1) % block)) % block;
        const padding = rnd(base + extra * block);
        if (padding.length > 255) continue;
        const got = open(sealPadded(i.send, INNER, padding, iv), r.recv);
        t.ok(got !== 'undecodable' && got.ok && got.inner.length === 3, `${be.name} ${suite}: ${padding.length} padding bytes`);
      }
      const tooLong = sealPadded(i.send, INNER.slice(2), new Uint8Array(info.combined ? 0 : 7), iv, 200);
      t.match(open(tooLong, r.recv), { ok: false, reason: 'malformed', why: /Pad Length/ }, `${be.name} ${suite}: pad length past the start`);
    }
  }
});

t.test('an authenticated but broken inner chain is malformed, not auth', async (t) => {
  const { i, r } = pair('aes128gcm16', nobleBackend);
  const iv = rnd(8);
  // Generic header claims 200 bytes with 4 present.
  const broken: RawPayload[] = [{ type: PAYLOAD.N, critical: false, body: new Uint8Array(0) }];
  const buf = sealPadded(i.send, broken, new Uint8Array(0), iv);
  t.same(open(buf, r.recv), { ok: true, inner: [{ type: PAYLOAD.N, critical: false, body: new Uint8Array(0) }] }, 'control: the well-formed one opens');
  const plain = concat(fromHex('0000 00c8'), new Uint8Array([0]));
  const head = buf.slice(0, 32);
  new DataView(head.buffer).setUint32(24, 32 + 8 + plain.length + 16);
  new DataView(head.buffer).setUint16(30, 4 + 8 + plain.length + 16);
  const bad = concat(head, iv, i.send.seal(head, iv, plain));
  t.match(open(bad, r.recv), { ok: false, reason: 'malformed', why: /malformed/ });
});

t.test('IVs: a 64-bit counter for AEADs, random for CBC', async (t) => {
  t.equal(hex(counterIv(0n)), '0000000000000000');
  t.equal(hex(counterIv(0x0102030405060708n)), '0102030405060708');
  t.equal(hex(counterIv((1n << 64n) - 1n)), 'ffffffffffffffff');
  t.throws(() => counterIv(1n << 64n), { code: 'IV_EXHAUSTED' });
  t.throws(() => counterIv(-1n), { code: 'IV_EXHAUSTED' });
  const { i } = pair('chacha20poly1305', nobleBackend);
  const next = ivSource(i.send, () => t.fail('no randomness for counters') as never);
  t.same([next(8), next(8), next(8)].map(hex), ['0000000000000000', '0000000000000001', '0000000000000002']);
  const a = sealMessage(HDR, INNER, i.send, next);
  t.equal(hex(a.subarray(32, 40)), '0000000000000003', 'the IV on the wire is the counter');
  const cbc = pair('aes128-sha256', nobleBackend).i.send;
  const calls: number[] = [];
  const rand = ivSource(cbc, (n) => (calls.push(n), new Uint8Array(n).fill(calls.length)));
  t.same([hex(rand(16)), calls], ['01'.repeat(16), [16]]);
  t.throws(() => sealMessage(HDR, INNER, cbc, () => new Uint8Array(8)), { code: 'BAD_IV' }, 'a wrong-size IV is a caller bug');
});

t.test('keys per direction follow the original roles', async (t) => {
  const k = fakeKeys('aes128-sha256');
  const i = skKeys(k, 'aes128-sha256', nobleBackend, 'initiator');
  const r = skKeys(k, 'aes128-sha256', nobleBackend, 'responder');
  const fromI = sealMessage(HDR, INNER, i.send, ivSource(i.send, rnd));
  const fromR = sealMessage(HDR, INNER, r.send, ivSource(r.send, rnd));
  const byHand = nobleBackend.aead('aes128-sha256', k.skEi, k.skAi);
  t.ok((open(fromI, byHand) as { ok: boolean }).ok, 'initiator sends with SK_ei / SK_ai');
  t.same(open(fromR, byHand), { ok: false, reason: 'auth' }, 'the responder does not');
  t.ok((open(fromR, nobleBackend.aead('aes128-sha256', k.skEr, k.skAr)) as { ok: boolean }).ok, 'responder sends with SK_er / SK_ar');
});

/*
 * Known answer: a real IKE_AUTH request protected by ENCR_AES_GCM_16 with a 256-bit key, from
 * AOSP's IKE library tests (packages/modules/IPsec, tests/iketests/.../message/
 * IkeEncryptedPayloadBodyTest.java: AES_GCM_MSG_HEX_STRING, AES_GCM_MSG_ENCR_KEY (key || salt),
 * AES_GCM_MSG_IV, AES_GCM_MSG_DECRYPTED_BODY_HEX_STRING). The plaintext is one AUTH payload
 * (PSK, 32 bytes) followed by Pad Length 0: no padding, as keyline sends it.
 */
const AOSP_GCM = {
  msg:
    '77c708b4523e39a4 71dc683c1d4f2136 2e 20 23 08 00000005 00000061' + // HDR: SK first, IKE_AUTH, I, msg 5, 97 bytes
    '27 00 0045' + // SK: next AUTH (39), length 69
    'fbd69d9ee2dafc5e' + // IV
    '7c03a0106761065b28fa8d11aed6046f7f8af117e44da7635be6e0dfafcb0a387c53fb46ba5d6fa950' + // ciphertext (41 bytes)
    '9161915929de97b7fbe23dc65723b0fe', // ICV
  key: '7C04513660DEC572D896105254EF92608054F8E6EE19E79CE52AB8697B2B5F2C2AA90C29',
  iv: 'fbd69d9ee2dafc5e',
  inner: '000000280200000033233837e909ec805d56151bef5b1fa9b8e25b32419c9b3fc96ee699ec29d501',
};

t.test('KAT: AOSP IKE_AUTH message, AES-GCM-16-256', async (t) => {
  const buf = fromHex(AOSP_GCM.msg);
  const m = decodeMessage(buf);
  if (!m.ok) throw new Error('version');
  for (const be of BACKENDS) {
    const aead = be.aead('aes256gcm16', fromHex(AOSP_GCM.key));
    const got = openMessage(buf, m, aead);
    if (!got.ok) {
      t.fail(`${be.name}: ${got.reason}`);
      continue;
    }
    t.same(
      got.inner.map((p) => [p.type, p.critical]),
      [[PAYLOAD.AUTH, false]],
    );
    const { header } = m;
    t.equal(hex(concat(fromHex('00000028'), got.inner[0]!.body)), AOSP_GCM.inner, `${be.name}: decrypts to the published body`);
    const again = sealMessage(header, got.inner, aead, () => fromHex(AOSP_GCM.iv));
    t.equal(hex(again), hex(buf), `${be.name}: sealing the body with the same IV gives the same bytes`);
  }
});
