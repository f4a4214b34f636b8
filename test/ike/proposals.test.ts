import t from 'tap';
import { fromHex, hex } from '../../src/wire/bytes.js';
import { Reader } from '../../src/wire/reader.js';
import { Writer } from '../../src/wire/writer.js';
import { ENCR, ESN, INTEG, KE, PRF } from '../../src/wire/iana.js';
import { PROTO, TRANSFORM } from '../../src/ike/constants.js';
import * as sa from '../../src/ike/payloads/sa.js';
import type { Proposal, Sa, Transform } from '../../src/ike/payloads/sa.js';
import {
  checkChosen,
  fromTransforms,
  MAX_PROPOSALS,
  offersGroup,
  parseEspProposal,
  parseEspProposals,
  parseIkeProposal,
  parseIkeProposals,
  selectProposal,
  toSaPayload,
} from '../../src/ike/proposals.js';
import { HAND_INIT } from './vectors.js';

const { transform: tr } = sa;
const bytes = (s: Sa): string => {
  const w = new Writer();
  sa.encode(w, s);
  return hex(w.finish());
};
const h = (s: string): string => s.replace(/\s+/g, '');
const SPI = fromHex('c0ffee01');

t.test('parse: strongSwan notation', async (t) => {
  t.same(parseIkeProposal('aes256gcm16-prfsha256-x25519'), { suite: 'aes256gcm16', prf: 'sha256', group: 31 });
  t.same(parseIkeProposal('chacha20poly1305-prfsha256-x25519'), { suite: 'chacha20poly1305', prf: 'sha256', group: 31 });
  t.same(parseIkeProposal('aes128-sha256-modp2048'), { suite: 'aes128-sha256', prf: 'sha256', group: 14 }, 'PRF from the integrity algorithm');
  t.same(parseIkeProposal('aes256-sha2_256-prfsha512-modp3072'), { suite: 'aes256-sha256', prf: 'sha512', group: 15 }, 'explicit PRF wins');
  t.same(parseIkeProposal('aes128gcm16-prfsha384-curve25519'), { suite: 'aes128gcm16', prf: 'sha384', group: 31 }, 'curve25519 = x25519');
  t.same(parseIkeProposal(' AES256GCM16 - PRFSHA256 - X25519 '), { suite: 'aes256gcm16', prf: 'sha256', group: 31 }, 'case and blanks');
  t.same(parseEspProposal('aes256gcm16'), { suite: 'aes256gcm16', esn: false }, 'noesn by default, as strongSwan');
  t.same(parseEspProposal('aes128-sha256'), { suite: 'aes128-sha256', esn: false });
  t.same(parseEspProposal('aes256gcm16-x25519'), { suite: 'aes256gcm16', esn: false, group: 31 }, 'PFS group');
  t.same(parseEspProposal('aes128-sha256-modp2048-esn'), { suite: 'aes128-sha256', esn: true, group: 14 });
  t.same(parseEspProposal('chacha20poly1305-noesn'), { suite: 'chacha20poly1305', esn: false });
  t.same(parseIkeProposals('aes256gcm16-prfsha256-x25519, aes128-sha256-modp2048').map((p) => p.suite), ['aes256gcm16', 'aes128-sha256'], 'preference order kept');
  t.same(parseEspProposals('aes256gcm16,aes128-sha256-esn').map((p) => p.esn), [false, true]);
});

t.test('parse: errors name the token and what is accepted', async (t) => {
  const code = { code: 'BAD_PROPOSAL' };
  t.throws(() => parseIkeProposal('aes192-sha256-modp2048'), { ...code, message: /unknown algorithm "aes192".*accepted: encryption aes128gcm16/ });
  t.throws(() => parseIkeProposal('aes256gcm16-prfsha256-ecp256'), { ...code, message: /"ecp256".*x25519/ });
  t.throws(() => parseIkeProposal('aes256gcm16-x25519'), { ...code, message: /needs a PRF/ });
  t.throws(() => parseIkeProposal('aes128-modp2048'), { ...code, message: /needs an integrity algorithm/ });
  t.throws(() => parseIkeProposal('aes256gcm16-sha256-prfsha256-x25519'), { ...code, message: /combined mode/ });
  t.throws(() => parseIkeProposal('aes128-aes256-sha256-modp2048'), { ...code, message: /one encryption algorithm per proposal/ });
  t.throws(() => parseIkeProposal('aes128gcm16-prfsha256'), { ...code, message: /no key exchange/ });
  t.throws(() => parseIkeProposal('aes128gcm16-prfsha256-x25519-esn'), { ...code, message: /ESP proposals only/ });
  t.throws(() => parseIkeProposal('aes128--sha256-modp2048'), { ...code, message: /unknown algorithm ""/ });
  t.throws(() => parseIkeProposal('constructor'), code, 'no prototype lookups');
  t.throws(() => parseEspProposal('aes128gcm16-prfsha256'), { ...code, message: /no PRF/ });
  t.throws(() => parseEspProposal('x25519'), { ...code, message: /no encryption algorithm/ });
  t.throws(() => parseEspProposal('aes128gcm16-esn-noesn'), { ...code, message: /one ESN algorithm/ });
  t.throws(() => parseEspProposals('aes128gcm16,,aes256gcm16'), { ...code, message: /empty proposal/ });
  t.throws(() => parseEspProposals(Array(MAX_PROPOSALS + 1).fill('aes128gcm16').join(',')), { ...code, message: /at most/ });
});

// Golden SA bodies, written out from the RFC 7296 §3.3 layouts and IANA numbers.
const GOLDEN: { name: string; sa: () => Sa; hex: string }[] = [
  {
    name: 'IKE aes256gcm16-prfsha256-x25519',
    sa: () => toSaPayload(parseIkeProposals('aes256gcm16-prfsha256-x25519'), 'ike'),
    // proposal (last), len 36, #1, IKE, SPI size 0, 3 transforms; ENCR 20 KEY_LENGTH 256; PRF 5; KE 31
    hex: '00 00 0024 01 01 00 03  03 00 000c 01 00 0014 800e 0100  03 00 0008 02 00 0005  00 00 0008 04 00 001f',
  },
  {
    name: 'IKE chacha20poly1305-prfsha256-x25519',
    sa: () => toSaPayload(parseIkeProposals('chacha20poly1305-prfsha256-x25519'), 'ike'),
    // ENCR 28 without KEY_LENGTH (RFC 7634 §2)
    hex: '00 00 0020 01 01 00 03  03 00 0008 01 00 001c  03 00 0008 02 00 0005  00 00 0008 04 00 001f',
  },
  {
    name: 'IKE aes128-sha256-modp2048',
    sa: () => toSaPayload(parseIkeProposals('aes128-sha256-modp2048'), 'ike'),
    // ENCR 12 KEY_LENGTH 128; PRF 5 (from sha256); INTEG 12; KE 14
    hex: '00 00 002c 01 01 00 04  03 00 000c 01 00 000c 800e 0080  03 00 0008 02 00 0005  03 00 0008 03 00 000c  00 00 0008 04 00 000e',
  },
  {
    name: 'IKE aes256gcm16-prfsha512-modp3072 rekey with an 8-byte SPI',
    sa: () => toSaPayload(parseIkeProposals('aes256gcm16-prfsha512-modp3072'), 'ike', fromHex('0102030405060708')),
    hex: '00 00 002c 01 01 08 03 0102030405060708  03 00 000c 01 00 0014 800e 0100  03 00 0008 02 00 0007  00 00 0008 04 00 000f',
  },
  {
    name: 'ESP aes256gcm16',
    sa: () => toSaPayload(parseEspProposals('aes256gcm16'), 'esp', SPI),
    // #1, ESP (3), SPI size 4, 2 transforms; ENCR 20/256; ESN 0
    hex: '00 00 0020 01 03 04 02 c0ffee01  03 00 000c 01 00 0014 800e 0100  00 00 0008 05 00 0000',
  },
  {
    name: 'ESP aes128-sha256',
    sa: () => toSaPayload(parseEspProposals('aes128-sha256'), 'esp', SPI),
    hex: '00 00 0028 01 03 04 03 c0ffee01  03 00 000c 01 00 000c 800e 0080  03 00 0008 03 00 000c  00 00 0008 05 00 0000',
  },
  {
    name: 'ESP aes256gcm16-x25519-esn, then chacha20poly1305',
    sa: () => toSaPayload(parseEspProposals('aes256gcm16-x25519-esn, chacha20poly1305'), 'esp', SPI),
    hex:
      '02 00 0028 01 03 04 03 c0ffee01  03 00 000c 01 00 0014 800e 0100  03 00 0008 04 00 001f  00 00 0008 05 00 0001' +
      '00 00 001c 02 03 04 02 c0ffee01  03 00 0008 01 00 001c  00 00 0008 05 00 0000',
  },
];

t.test('SA payload bytes (golden)', async (t) => {
  for (const g of GOLDEN) {
    const s = g.sa();
    t.equal(bytes(s), h(g.hex), g.name);
    const back = sa.decode(new Reader(fromHex(g.hex)));
    t.same(back, s, `${g.name}: decodes to the same structure`);
  }
  // The hand-built IKE_SA_INIT in vectors.ts carries the same two proposals at bytes 32..112.
  const init = fromHex(HAND_INIT).subarray(32, 32 + 80);
  t.equal(bytes(toSaPayload(parseIkeProposals('aes256gcm16-prfsha256-x25519, aes256-sha256-x25519'), 'ike')), hex(init), 'matches HAND_INIT');
  t.throws(() => toSaPayload([], 'ike'), { code: 'BAD_PROPOSAL' });
  t.throws(() => toSaPayload(parseEspProposals('aes256gcm16'), 'esp'), { code: 'BAD_SPI' }, 'ESP needs its SPI');
  t.throws(() => toSaPayload(parseIkeProposals('aes256gcm16-prfsha256-x25519'), 'ike', SPI), { code: 'BAD_SPI' });
});

t.test('fromTransforms reads back each proposal', async (t) => {
  for (const text of ['aes256gcm16-prfsha256-x25519', 'aes128-sha256-modp2048', 'chacha20poly1305-prfsha384-modp3072']) {
    const p = parseIkeProposal(text);
    t.same(fromTransforms('ike', toSaPayload([p], 'ike').proposals[0]!.transforms), p, text);
  }
  for (const text of ['aes256gcm16', 'aes128-sha256-esn', 'aes128gcm16-x25519']) {
    const p = parseEspProposal(text);
    t.same(fromTransforms('esp', toSaPayload([p], 'esp', SPI).proposals[0]!.transforms), p, text);
  }
  t.equal(fromTransforms('ike', [tr(TRANSFORM.ENCR, 3), tr(TRANSFORM.PRF, 5), tr(TRANSFORM.KE, 31)]), undefined, '3DES');
});

/** A proposal as a peer writes it: any number of transforms per type. */
const prop = (num: number, protocol: number, transforms: Transform[], spi: Uint8Array = new Uint8Array(0)): Proposal => ({ num, protocol, spi, transforms });
const E = TRANSFORM.ENCR;

/** Roughly strongSwan's default IKE offer: an AEAD proposal and a CBC one, many transforms each. */
const STRONGSWAN_IKE: Sa = {
  proposals: [
    prop(1, PROTO.IKE, [
      tr(E, ENCR.ENCR_AES_GCM_16, 128),
      tr(E, ENCR.ENCR_AES_GCM_16, 256),
      tr(E, ENCR.ENCR_CHACHA20_POLY1305),
      tr(TRANSFORM.PRF, PRF.PRF_HMAC_SHA2_256),
      tr(TRANSFORM.PRF, PRF.PRF_HMAC_SHA2_384),
      tr(TRANSFORM.PRF, PRF.PRF_HMAC_SHA2_512),
      tr(TRANSFORM.KE, KE.CURVE25519),
      tr(TRANSFORM.KE, 19),
      tr(TRANSFORM.KE, KE.MODP_2048),
    ]),
    prop(2, PROTO.IKE, [
      tr(E, ENCR.ENCR_AES_CBC, 128),
      tr(E, ENCR.ENCR_AES_CBC, 256),
      tr(TRANSFORM.INTEG, INTEG.AUTH_HMAC_SHA2_256_128),
      tr(TRANSFORM.INTEG, INTEG.AUTH_HMAC_SHA2_384_192),
      tr(TRANSFORM.PRF, PRF.PRF_HMAC_SHA2_256),
      tr(TRANSFORM.KE, KE.CURVE25519),
      tr(TRANSFORM.KE, KE.MODP_3072),
      tr(TRANSFORM.KE, KE.MODP_2048),
    ]),
  ],
};

t.test('select: our preference from a strongSwan-style offer', async (t) => {
  const ours = parseIkeProposals('aes256gcm16-prfsha384-x25519, aes128-sha256-modp2048');
  const c = selectProposal(STRONGSWAN_IKE, ours, 'ike');
  t.same(c?.proposal, ours[0]);
  t.equal(c?.num, 1);
  t.equal(bytes(c!.sa), h('00 00 0024 01 01 00 03  03 00 000c 01 00 0014 800e 0100  03 00 0008 02 00 0006  00 00 0008 04 00 001f'), 'one transform per type');
  const cbcFirst = parseIkeProposals('aes128-sha256-modp2048, aes256gcm16-prfsha384-x25519');
  const c2 = selectProposal(STRONGSWAN_IKE, cbcFirst, 'ike');
  t.same([c2?.num, c2?.proposal], [2, cbcFirst[0]], 'our order decides, not the peer’s');
  t.same(
    c2!.sa.proposals[0]!.transforms.map((x) => [x.type, x.id]),
    [
      [E, 12],
      [TRANSFORM.PRF, 5],
      [TRANSFORM.INTEG, 12],
      [TRANSFORM.KE, 14],
    ],
  );
  t.equal(selectProposal(STRONGSWAN_IKE, parseIkeProposals('aes256-sha256-prfsha512-modp3072'), 'ike'), undefined, 'nothing acceptable: NO_PROPOSAL_CHOSEN');
  t.equal(selectProposal({ proposals: [] }, ours, 'ike'), undefined);
});

t.test('select: KE group of the peer’s KE payload', async (t) => {
  const ours = parseIkeProposals('aes256gcm16-prfsha256-x25519, aes256gcm16-prfsha256-modp2048, aes128-sha256-modp3072');
  t.equal(selectProposal(STRONGSWAN_IKE, ours, 'ike')?.proposal.group, 31, 'without a hint: our first');
  t.equal(selectProposal(STRONGSWAN_IKE, ours, 'ike', { keGroup: 14 })?.proposal.group, 14, 'same suite with the peer’s group saves a round trip');
  const c = selectProposal(STRONGSWAN_IKE, ours, 'ike', { keGroup: 15 });
  t.same([c?.proposal.suite, c?.proposal.group], ['aes256gcm16', 31], 'never trades the cipher for the group: caller sends INVALID_KE_PAYLOAD(31)');
  t.ok(offersGroup(ours, 15) && offersGroup(ours, 14) && !offersGroup(ours, 19) && !offersGroup(ours, 0));
});

t.test('select: RFC 7296 §3.3.6 acceptability rules', async (t) => {
  const ours = parseIkeProposals('aes128gcm16-prfsha256-x25519');
  const base = (): Transform[] => [tr(E, 20, 128), tr(TRANSFORM.PRF, 5), tr(TRANSFORM.KE, 31)];
  const one = (ts: Transform[], p: number = PROTO.IKE, spi: Uint8Array = new Uint8Array(0)): Sa => ({ proposals: [prop(1, p, ts, spi)] });
  t.ok(selectProposal(one(base()), ours, 'ike'), 'control');
  t.equal(selectProposal(one([...base(), tr(250, 1)]), ours, 'ike'), undefined, 'unknown transform type rejects the proposal');
  t.equal(selectProposal(one([...base(), tr(TRANSFORM.ESN, 0)]), ours, 'ike'), undefined, 'ESN is not an IKE transform type');
  const twoProps: Sa = { proposals: [prop(1, PROTO.IKE, [...base(), tr(250, 1)]), prop(2, PROTO.IKE, base())] };
  t.equal(selectProposal(twoProps, ours, 'ike')?.num, 2, '... but the next proposal is still considered');
  const oddAttr: Transform = { type: E, id: 20, attributes: [{ type: 14, tv: true, value: 128 }, { type: 99, tv: true, value: 1 }] };
  t.equal(selectProposal(one([oddAttr, tr(TRANSFORM.PRF, 5), tr(TRANSFORM.KE, 31)]), ours, 'ike'), undefined, 'unknown attribute rejects the transform');
  const c = selectProposal(one([oddAttr, ...base()]), ours, 'ike');
  t.same(c?.sa.proposals[0]!.transforms[0], tr(E, 20, 128), '... and a clean one of the same type is used');
  t.equal(selectProposal(one([tr(E, 20, 256), tr(TRANSFORM.PRF, 5), tr(TRANSFORM.KE, 31)]), ours, 'ike'), undefined, 'key length must match');
  t.equal(selectProposal(one([tr(E, 20), tr(TRANSFORM.PRF, 5), tr(TRANSFORM.KE, 31)]), ours, 'ike'), undefined, 'AES without KEY_LENGTH');
  const chacha = parseIkeProposals('chacha20poly1305-prfsha256-x25519');
  t.equal(selectProposal(one([tr(E, 28, 256), tr(TRANSFORM.PRF, 5), tr(TRANSFORM.KE, 31)]), chacha, 'ike'), undefined, 'ChaCha20 with KEY_LENGTH');
  t.equal(selectProposal(one([tr(E, 20, 128), tr(TRANSFORM.KE, 31)]), ours, 'ike'), undefined, 'missing PRF');
  t.equal(selectProposal(one([tr(E, 20, 128), tr(TRANSFORM.PRF, 5)]), ours, 'ike'), undefined, 'missing KE');
  const withNone = selectProposal(one([...base(), tr(TRANSFORM.INTEG, INTEG.NONE)]), ours, 'ike');
  t.same(withNone?.sa.proposals[0]!.transforms.map((x) => [x.type, x.id]), [[E, 20], [2, 5], [3, 0], [4, 31]], 'INTEG NONE with an AEAD is echoed');
  t.equal(selectProposal(one([...base(), tr(TRANSFORM.INTEG, 12)]), ours, 'ike'), undefined, 'an AEAD cannot take a real INTEG');
  t.equal(selectProposal(one(base(), PROTO.ESP, SPI), ours, 'ike'), undefined, 'wrong protocol');
  t.equal(selectProposal(one(base(), PROTO.IKE, fromHex('0102')), ours, 'ike'), undefined, 'odd SPI size');
});

t.test('select: ESP, ESN and PFS', async (t) => {
  const esp = (ts: Transform[], spi: Uint8Array = fromHex('deadbeef')): Sa => ({ proposals: [prop(1, PROTO.ESP, ts, spi)] });
  const gcm = tr(E, 20, 256);
  const noesn = parseEspProposals('aes256gcm16');
  const both = [tr(TRANSFORM.ESN, ESN.ESN), tr(TRANSFORM.ESN, ESN.NO_ESN)];
  const c = selectProposal(esp([gcm, ...both]), noesn, 'esp', { spi: SPI });
  t.same(c?.sa.proposals[0]!.transforms.map((x) => [x.type, x.id]), [[E, 20], [TRANSFORM.ESN, 0]], 'ESN negotiated down to ours');
  t.equal(hex(c!.peerSpi), 'deadbeef', 'the peer’s SPI');
  t.equal(hex(c!.sa.proposals[0]!.spi), 'c0ffee01', 'our SPI in the reply');
  const esn = parseEspProposals('aes256gcm16-esn');
  t.equal(selectProposal(esp([gcm, tr(TRANSFORM.ESN, 0)]), esn, 'esp'), undefined, 'we insist on ESN, the peer cannot');
  t.equal(selectProposal(esp([gcm, tr(TRANSFORM.ESN, 1)]), noesn, 'esp'), undefined, 'the peer insists on ESN');
  t.equal(selectProposal(esp([gcm]), noesn, 'esp'), undefined, 'ESN is mandatory for ESP (§3.3.3)');
  t.equal(selectProposal(esp([gcm, tr(TRANSFORM.PRF, 5), tr(TRANSFORM.ESN, 0)]), noesn, 'esp'), undefined, 'PRF is not an ESP type');
  t.equal(selectProposal(esp([gcm, tr(TRANSFORM.ESN, 0)], new Uint8Array(0)), noesn, 'esp'), undefined, 'ESP needs a 4-byte SPI');
  const pfs = parseEspProposals('aes256gcm16-x25519');
  const keOffer = esp([gcm, tr(TRANSFORM.KE, KE.NONE), tr(TRANSFORM.KE, 31), tr(TRANSFORM.ESN, 0)]);
  t.same(selectProposal(keOffer, pfs, 'esp')?.sa.proposals[0]!.transforms.map((x) => x.id), [20, 31, 0], 'PFS chosen');
  t.same(selectProposal(keOffer, noesn, 'esp')?.sa.proposals[0]!.transforms.map((x) => x.id), [20, 0, 0], 'no PFS: KE NONE echoed');
  t.equal(selectProposal(esp([gcm, tr(TRANSFORM.KE, 31), tr(TRANSFORM.ESN, 0)]), noesn, 'esp'), undefined, 'the peer insists on PFS');
  t.equal(selectProposal(esp([gcm, tr(TRANSFORM.ESN, 0)]), pfs, 'esp'), undefined, 'we insist on PFS');
  const ah: Sa = { proposals: [prop(1, PROTO.AH, [tr(TRANSFORM.INTEG, 12), tr(TRANSFORM.ESN, 0)], SPI), prop(2, PROTO.ESP, [gcm, tr(TRANSFORM.ESN, 0)], SPI)] };
  t.equal(selectProposal(ah, noesn, 'esp')?.num, 2, 'AH proposals are passed over');
});

t.test('checkChosen: the initiator’s view of the reply', async (t) => {
  const mine = parseIkeProposals('aes256gcm16-prfsha256-x25519, aes128-sha256-modp2048');
  const sent = toSaPayload(mine, 'ike');
  const theirs = parseIkeProposals('aes128-sha256-modp2048');
  const reply = selectProposal(sent, theirs, 'ike')!.sa;
  t.same(checkChosen(sent, reply, 'ike'), { ok: true, proposal: mine[1], num: 2, peerSpi: new Uint8Array(0) }, 'end to end');
  const fail = (r: Sa, why: RegExp, msg: string) => t.match(checkChosen(sent, r, 'ike'), { ok: false, reason: why }, msg);
  const good = reply.proposals[0]!;
  fail({ proposals: [good, good] }, /1 proposal; it carries 2/, 'two proposals');
  fail({ proposals: [] }, /carries 0/, 'none');
  fail({ proposals: [{ ...good, num: 3 }] }, /number 3 was not offered/, 'a number we did not use');
  fail({ proposals: [{ ...good, num: 1 }] }, /one transform of each type/, 'CBC transforms under the number of our AEAD proposal');
  const swap = (i: number, t2: Transform): Proposal => ({ ...good, transforms: good.transforms.map((x, j) => (j === i ? t2 : x)) });
  fail({ proposals: [swap(1, tr(TRANSFORM.PRF, PRF.PRF_HMAC_SHA2_512))] }, /type 2 ID 7 was not offered/, 'a transform we did not offer');
  fail({ proposals: [swap(0, tr(E, 12, 256))] }, /type 1 ID 12 was not offered/, 'key length we did not offer');
  fail({ proposals: [{ ...good, transforms: good.transforms.slice(0, 3) }] }, /one transform of each type/, 'a type left out');
  fail({ proposals: [{ ...good, transforms: [...good.transforms, good.transforms[0]!] }] }, /one transform of each type/, 'a type twice');
  fail({ proposals: [{ ...good, protocol: PROTO.ESP }] }, /protocol 3/, 'protocol');
  fail({ proposals: [{ ...good, spi: SPI }] }, /SPI of 4 bytes/, 'SPI in IKE_SA_INIT');
  const espSent = toSaPayload(parseEspProposals('aes256gcm16-esn, aes128-sha256'), 'esp', SPI);
  const espReply = selectProposal(espSent, parseEspProposals('aes128-sha256, aes256gcm16-esn'), 'esp', { spi: fromHex('0a0b0c0d') })!.sa;
  t.match(checkChosen(espSent, espReply, 'esp'), { ok: true, num: 2, proposal: { suite: 'aes128-sha256', esn: false } }, 'ESP end to end');
  const espChosen = checkChosen(espSent, espReply, 'esp');
  t.equal(espChosen.ok && hex(espChosen.peerSpi), '0a0b0c0d');
  t.match(checkChosen(espSent, { proposals: [{ ...espReply.proposals[0]!, spi: new Uint8Array(0) }] }, 'esp'), { ok: false, reason: /SPI of 0 bytes, need 4/ });
});
