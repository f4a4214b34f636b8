/**
 * keyline's IKE codecs and crypto against a real peer, strongSwan's charon, before keyline's
 * state machine exists: initiator.ts hand-builds IKE_SA_INIT and IKE_AUTH from keyline's modules
 * and this test checks charon's answers with them, and with charon's own view (its log at key
 * level, swanctl --list-sas). charon is the responder in namespace B (192.0.2.2). Our datagrams
 * leave from namespace A (192.0.2.1, ports 500 and 4500) through udp-child.ts, so the addresses
 * charon sees and hashes into NAT_DETECTION are the real ones.
 *
 *   1. IKE_SA_INIT: decoding, payload rules, chosen proposal, x25519, Nr, NAT-D both ways.
 *   2. MODP-2048 KE against an x25519-only charon: INVALID_KE_PAYLOAD(31), then a retry.
 *   3. IKE_AUTH with PSK: SK_e*, SK_p*, AUTH both ways, ESP keys, narrowed TS, CHILD_SA installed.
 *
 * Needs root and strongSwan (charon.ts requireCharon): missing either FAILS, never skips.
 */
import t, { type Test } from 'tap';
import { createHash, randomBytes } from 'node:crypto';
import { createNamespacePair, registerCleanup, run } from '../netns/ns.js';
import { charonResponderConf, loggedHexDumps, requireCharon, startCharon, type Charon } from './charon.js';
import { NAT_T_PORT, startUdpRelay, type UdpRelay } from './udp.js';
import { A, B, buildAuth, buildInit, espTransforms, exchangeAuth, exchangeInit, ikeSa, ikeTransforms, net24, prf, SUITE } from './initiator.js';
import type { Payload, RawPayload } from '../../src/ike/message.js';
import { AUTH_METHOD, EXCHANGE, FLAG, ID_TYPE, NOTIFY, PAYLOAD, PROTO } from '../../src/ike/constants.js';
import { checkRules } from '../../src/ike/rules.js';
import { natHash, detectNat } from '../../src/ike/natd.js';
import type { Transform } from '../../src/ike/payloads/sa.js';
import { verifyPskAuth } from '../../src/crypto/psk-auth.js';
import { deriveChildKeys } from '../../src/crypto/ike-keys.js';
import { KE } from '../../src/wire/iana.js';
import { hex } from '../../src/wire/bytes.js';
import type { Endpoint } from '../../src/sa/types.js';

/** charon's IKE proposal: x25519 only, so offering MODP-2048 alone gets INVALID_KE_PAYLOAD. */
const IKE_PROPOSAL = 'aes256gcm16-prfsha256-curve25519';
const CHARON_LOGGED_SELECTION = 'selected proposal: IKE:AES_GCM_16_256/PRF_HMAC_SHA2_256/CURVE_25519';
const PSK = 'keyline-interop-psk-not-secret-0123456789';
const ID_KEYLINE = 'keyline-a.example.org';
const ID_CHARON = 'charon-b.example.org';

// We ask for 198.51.100.0/24 <-> 203.0.113.0/24; charon only serves the lower half of its side,
// so it must narrow TSr to 203.0.113.0/25 (RFC 7296 §2.9).
const CONF = charonResponderConf({
  psk: PSK,
  localId: ID_CHARON,
  remoteId: ID_KEYLINE,
  ikeProposals: [IKE_PROPOSAL],
  espProposals: ['aes256gcm16'],
  localTs: ['203.0.113.0/25'],
  remoteTs: ['198.51.100.0/24'],
});

t.test('keyline IKE_SA_INIT and IKE_AUTH against strongSwan charon', { timeout: 60_000 }, async (t) => {
  requireCharon();
  const started = Date.now();
  const pair = await createNamespacePair();
  registerCleanup(t, pair.destroy);
  // Inner host addresses (as the shell harness has them): libipsec's route into its TUN device
  // needs a source inside charon's local TS, else the CHILD_SA fails with TS_UNACCEPTABLE.
  await run(['ip', '-n', pair.a, 'addr', 'add', '198.51.100.1/32', 'dev', 'lo']);
  await run(['ip', '-n', pair.b, 'addr', 'add', '203.0.113.1/32', 'dev', 'lo']);
  const charon = await startCharon(pair.b, 'responder', { swanctlConf: CONF, logKeys: true, t });
  t.comment(`charon pid ${charon.pid} in ${pair.b}, log ${charon.logPath}`);
  const relay = await startUdpRelay(t, pair.a, { addr: A.addr, ports: [A.port, NAT_T_PORT] });
  t.comment(`set-up took ${Date.now() - started} ms`);

  await t.test('x25519 proposal: response decodes, passes the rules, agrees on keys and NAT-D', (t) => initAccepted(t, relay, charon));
  await t.test('MODP-2048 KE while charon wants x25519: INVALID_KE_PAYLOAD(31), retry succeeds', (t) => invalidKe(t, relay, charon));
  await t.test('IKE_AUTH with PSK: SK, key derivation and AUTH interoperate; CHILD_SA installed', (t) => authPsk(t, relay, charon));
  t.comment(`interop run took ${Date.now() - started} ms`);
});

async function initAccepted(t: Test, relay: UdpRelay, charon: Charon): Promise<void> {
  const init = buildInit([KE.CURVE25519], KE.CURVE25519);
  const res = await exchangeInit(relay, init);
  const h = res.header;
  t.equal(res.datagram.from, B.addr, 'answer from 192.0.2.2');
  t.equal(res.datagram.fromPort, B.port, 'answer from port 500');
  t.equal(h.exchange, EXCHANGE.IKE_SA_INIT, 'IKE_SA_INIT');
  t.equal(h.flags & (FLAG.R | FLAG.I), FLAG.R, 'response flag set, initiator flag clear');
  t.equal(h.messageId, 0, 'message ID 0');
  t.equal(h.spiI, init.spiI, 'our SPIi echoed');
  t.not(h.spiR, 0n, `charon chose SPIr ${h.spiR.toString(16)}`);
  t.same(checkRules(h.exchange, true, res.raw, []), { ok: true }, 'passes the payload rules table');

  const sa = only(t, res.payloads, 'SA');
  t.equal(sa?.proposals.length, 1, 'one proposal chosen');
  const p = sa?.proposals[0];
  t.equal(p?.num, 1, 'under our proposal number');
  t.equal(p?.protocol, PROTO.IKE, 'protocol IKE');
  t.equal(p?.spi.length, 0, 'no SPI in an IKE_SA_INIT proposal');
  t.same(sortTransforms(p?.transforms ?? []), sortTransforms(ikeTransforms([KE.CURVE25519])), 'exactly the transforms we offered (AES-GCM-16/256, PRF-SHA256, x25519)');

  const ke = only(t, res.payloads, 'KE');
  t.equal(ke?.group, KE.CURVE25519, 'KE group 31');
  t.equal(ke?.data.length, 32, 'x25519 public value is 32 bytes');
  const shared = init.kex.computeShared(ke!.data);
  t.equal(shared.length, 32, 'shared secret computed');
  t.ok(shared.some((b) => b !== 0), 'shared secret not all zero');

  const nr = only(t, res.payloads, 'NONCE');
  t.ok(nr && nr.data.length >= 16 && nr.data.length <= 256, `Nr is ${nr?.data.length} bytes (16..256)`);

  // NAT-D (RFC 7296 §2.23). charon recomputed our two hashes from what it saw and logged both:
  // equal means our SHA-1(SPIi | 0 | IP | port) is right and there is no NAT on the way.
  const log = charon.log();
  const sentSrc = hex(natHash(init.spiI, 0n, A));
  const sentDst = hex(natHash(init.spiI, 0n, B));
  t.equal(sentSrc, sha1Natd(init.spiI, 0n, A), 'our NAT_DETECTION_SOURCE_IP is SHA-1(SPIi | 0 | 192.0.2.1 | 500)');
  t.ok(dumps(log, 'precalculated src_hash').includes(sentSrc), 'charon computed our NAT_DETECTION_SOURCE_IP from the packet it saw');
  t.ok(dumps(log, 'precalculated dst_hash').includes(sentDst), 'charon computed our NAT_DETECTION_DESTINATION_IP from its own address');
  t.notOk(/(remote|local) host is behind NAT/.test(log), 'charon: neither side behind a NAT');

  // charon's hashes, over SPIi | SPIr as in the response header. Its DESTINATION hash is genuine.
  // Its SOURCE hash is faked on purpose: kernel-libipsec can only do UDP-encapsulated ESP, so
  // charon always pretends a NAT ("faking NAT situation to enforce UDP encapsulation"), even with
  // encap = no. keyline must take that as "peer behind NAT" and float to 4500 (§2.23).
  const src = notifies(res.payloads, NOTIFY.NAT_DETECTION_SOURCE_IP);
  const dst = notifies(res.payloads, NOTIFY.NAT_DETECTION_DESTINATION_IP);
  t.equal(src.length, 1, 'one NAT_DETECTION_SOURCE_IP');
  t.equal(dst.length, 1, 'one NAT_DETECTION_DESTINATION_IP');
  t.equal(hex(dst[0] ?? new Uint8Array()), sha1Natd(h.spiI, h.spiR, A), 'NAT_DETECTION_DESTINATION_IP = SHA-1(SPIi | SPIr | 192.0.2.1 | 500)');
  t.not(hex(src[0] ?? new Uint8Array()), sha1Natd(h.spiI, h.spiR, B), 'NAT_DETECTION_SOURCE_IP deliberately wrong (forced UDP encapsulation)');
  t.ok(log.includes('faking NAT situation to enforce UDP encapsulation'), 'charon says it fakes the NAT');
  t.same(
    detectNat(h.spiI, h.spiR, src, dst[0], { addr: res.datagram.from, port: res.datagram.fromPort }, A),
    { peerBehindNat: true, selfBehindNat: false },
    'keyline detectNat: we are not behind a NAT; charon "is" (so IKE_AUTH and ESP go to 4500)',
  );
  t.ok(log.includes(CHARON_LOGGED_SELECTION), `charon logged "${CHARON_LOGGED_SELECTION}"`);
}

async function invalidKe(t: Test, relay: UdpRelay, charon: Charon): Promise<void> {
  // SA allows MODP-2048 and x25519, KE carries MODP-2048: charon picks x25519 and asks for it.
  const init = buildInit([KE.MODP_2048, KE.CURVE25519], KE.MODP_2048);
  t.equal(init.kex.publicKey.length, 256, 'MODP-2048 KE data is 256 bytes');
  const res = await exchangeInit(relay, init);
  t.equal(res.header.flags & FLAG.R, FLAG.R, 'a response');
  t.equal(res.header.spiI, init.spiI, 'our SPIi echoed');
  t.comment(`SPIr in the INVALID_KE_PAYLOAD response: ${res.header.spiR.toString(16)}`);
  t.same(checkRules(res.header.exchange, true, res.raw, []), { ok: true }, 'notify-only response passes the rules table');
  t.same(res.payloads.map((p) => p.type), ['N'], 'only a Notify');
  const n = res.payloads[0];
  t.equal(n?.type === 'N' && n.notify, NOTIFY.INVALID_KE_PAYLOAD, 'INVALID_KE_PAYLOAD');
  t.equal(n?.type === 'N' && hex(n.data), '001f', 'notify data: the group charon wants, 31 (2 octets)');
  t.equal(n?.type === 'N' && n.protocol, 0, 'protocol 0');
  t.equal(n?.type === 'N' && n.spi.length, 0, 'no SPI');

  // RFC 7296 §1.2: retry with the group the responder asked for.
  const retry = buildInit([KE.MODP_2048, KE.CURVE25519], KE.CURVE25519, init.spiI);
  const ok = await exchangeInit(relay, retry);
  t.same(checkRules(ok.header.exchange, true, ok.raw, []), { ok: true }, 'retry: response passes the rules');
  const chosen = only(t, ok.payloads, 'SA')?.proposals[0]?.transforms ?? [];
  t.same(sortTransforms(chosen), sortTransforms(ikeTransforms([KE.CURVE25519])), 'retry: x25519 chosen from our two KE transforms');
  const ke = only(t, ok.payloads, 'KE');
  t.equal(ke && retry.kex.computeShared(ke.data).length, 32, 'retry: x25519 shared secret computed');
  t.ok(charon.log().includes('DH group MODP_2048 unacceptable, requesting CURVE_25519'), 'charon logged why it refused');
}

async function authPsk(t: Test, relay: UdpRelay, charon: Charon): Promise<void> {
  const init = buildInit([KE.CURVE25519], KE.CURVE25519);
  const initRes = await exchangeInit(relay, init);
  t.same(checkRules(EXCHANGE.IKE_SA_INIT, true, initRes.raw, []), { ok: true }, 'IKE_SA_INIT response passes the rules');
  const sa = ikeSa(init, initRes);
  const espSpi = new Uint8Array(randomBytes(4));
  const psk = new TextEncoder().encode(PSK);
  const tsI = [net24('198.51.100.0')];
  const tsR = [net24('203.0.113.0')];
  const { message } = buildAuth(sa, init, { psk, idI: ID_KEYLINE, idR: ID_CHARON, espSpi, tsI, tsR });

  const res = await exchangeAuth(relay, sa, message);
  const h = res.header;
  t.equal(`${res.datagram.from}:${res.datagram.fromPort}`, `${B.addr}:${NAT_T_PORT}`, 'answer from 192.0.2.2:4500, non-ESP marker stripped');
  t.equal(h.exchange, EXCHANGE.IKE_AUTH, 'IKE_AUTH');
  t.equal(h.flags & (FLAG.R | FLAG.I), FLAG.R, 'response flag set, initiator flag clear');
  t.equal(h.messageId, 1, 'message ID 1');
  t.same([h.spiI, h.spiR], [sa.spiI, sa.spiR], 'same IKE SA');
  t.same(res.raw.map((p) => p.type), [PAYLOAD.SK], 'everything inside one SK payload');
  if (!res.opened.ok) {
    t.fail(`charon's IKE_AUTH response does not open with our SK_er (${res.opened.reason})`);
    return;
  }
  t.pass('charon\'s response authenticates and decrypts with keyline\'s SK_er (AES-GCM-16/256)');
  t.same(checkRules(EXCHANGE.IKE_AUTH, true, res.raw, res.opened.inner), { ok: true }, 'decrypted chain passes the rules table');
  const errors = res.inner.flatMap((p) => (p.type === 'N' && p.notify < NOTIFY.INITIAL_CONTACT ? [p.notify] : []));
  t.same(errors, [], 'no error notify');

  // ResponderSignedOctets = RealMessage2 | NonceIData | prf(SK_pr, IDr body)
  const idr = only(t, res.inner, 'IDr');
  t.equal(idr?.idType, ID_TYPE.ID_FQDN, 'IDr is an FQDN');
  t.equal(idr && new TextDecoder().decode(idr.data), ID_CHARON, 'IDr is charon');
  const auth = only(t, res.inner, 'AUTH');
  t.equal(auth?.method, AUTH_METHOD.PSK, 'AUTH method: shared key');
  const idrRaw = res.opened.inner.find((p: RawPayload) => p.type === PAYLOAD.IDr)!;
  t.ok(auth && verifyPskAuth(prf, psk, initRes.datagram.data, sa.ni, sa.keys.skPr, idrRaw.body, auth.data), 'keyline verifyPskAuth accepts charon\'s AUTH');

  const child = only(t, res.inner, 'SA');
  const p = child?.proposals[0];
  t.equal(child?.proposals.length, 1, 'one ESP proposal chosen');
  t.equal(p?.protocol, PROTO.ESP, 'protocol ESP');
  t.equal(p?.spi.length, 4, `charon's inbound ESP SPI ${p && hex(p.spi)}`);
  t.same(sortTransforms(p?.transforms ?? []), sortTransforms(espTransforms()), 'ESP: AES-GCM-16/256, no ESN');
  const rTsI = only(t, res.inner, 'TSi')?.selectors.map((x) => `${ipv4(x.start)}-${ipv4(x.end)}`);
  const rTsR = only(t, res.inner, 'TSr')?.selectors.map((x) => `${ipv4(x.start)}-${ipv4(x.end)}`);
  t.same(rTsI, ['198.51.100.0-198.51.100.255'], 'TSi as asked');
  t.same(rTsR, ['203.0.113.0-203.0.113.127'], 'TSr narrowed by charon to its 203.0.113.0/25');

  // charon's own numbers (ike/chd log level 4) against keyline's.
  const log = charon.log();
  t.ok(dumps(log, 'shared Diffie Hellman secret').includes(hex(sa.shared)), 'same x25519 shared secret');
  for (const [title, key] of [['Sk_d secret', sa.keys.skD], ['Sk_ei secret', sa.keys.skEi], ['Sk_er secret', sa.keys.skEr], ['Sk_pi secret', sa.keys.skPi], ['Sk_pr secret', sa.keys.skPr]] as const) {
    t.ok(dumps(log, title).includes(hex(key)), `same ${title.split(' ')[0]} (${key.length} bytes)`);
  }
  const esp = deriveChildKeys(prf, sa.keys.skD, SUITE, sa.ni, sa.nr, undefined);
  t.ok(dumps(log, 'encryption initiator key').includes(hex(esp.initiatorToResponder.encKey)), 'same ESP key + salt, initiator to responder');
  t.ok(dumps(log, 'encryption responder key').includes(hex(esp.responderToInitiator.encKey)), 'same ESP key + salt, responder to initiator');
  t.match(log, /authentication of 'keyline-a\.example\.org' with pre-shared key successful/, 'charon accepted our AUTH');

  // What charon installed: IKE SA and CHILD_SA, ESP in UDP through libipsec, route into ipsec0.
  const sas = (await charon.swanctl(['--list-sas'])).stdout;
  const spiText = `${sa.spiI.toString(16).padStart(16, '0')}_i ${sa.spiR.toString(16).padStart(16, '0')}_r*`;
  t.match(sas, new RegExp(`keyline: #\\d+, ESTABLISHED, IKEv2, ${spiText}`), 'swanctl: IKE SA ESTABLISHED with our SPIs');
  t.match(sas, /AES_GCM_16-256\/PRF_HMAC_SHA2_256\/CURVE_25519/, 'swanctl: IKE suite');
  t.match(sas, /keyline: #\d+, reqid \d+, INSTALLED, TUNNEL-in-UDP, ESP:AES_GCM_16-256/, 'swanctl: CHILD_SA INSTALLED, tunnel mode, ESP in UDP');
  t.match(sas, new RegExp(`in  ${hex(p?.spi ?? new Uint8Array())},`), 'swanctl: inbound SPI as charon sent it');
  t.match(sas, new RegExp(`out ${hex(espSpi)},`), 'swanctl: outbound SPI is ours');
  t.match(sas, /local  203\.0\.113\.0\/25\s+remote 198\.51\.100\.0\/24/, 'swanctl: narrowed selectors');
  const routes = await run(['ip', '-n', charon.ns, 'route', 'show', 'table', '220'], { allowFail: true });
  t.match(routes.stdout, /198\.51\.100\.0\/24 dev ipsec0/, 'charon routed 198.51.100.0/24 into its libipsec TUN');
  if (!t.passing()) t.comment(sas);
}

function only<K extends Payload['type']>(t: Test, ps: Payload[], type: K): (Payload & { type: K }) | undefined {
  const found = ps.filter((p): p is Payload & { type: K } => p.type === type);
  t.equal(found.length, 1, `one ${type} payload`);
  return found[0];
}

const dumps = (log: string, title: string): string[] => loggedHexDumps(log, title).map(hex);

const notifies = (ps: Payload[], type: number): Uint8Array[] => ps.flatMap((p) => (p.type === 'N' && p.notify === type ? [p.data] : []));

const sortTransforms = (ts: readonly Transform[]) => [...ts].sort((a, b) => a.type - b.type || a.id - b.id);

const ipv4 = (b: Uint8Array) => [...b].join('.');

/** NAT-D computed independently of src/ike/natd.ts, straight from RFC 7296 §2.23. */
function sha1Natd(spiI: bigint, spiR: bigint, at: Endpoint): string {
  const b = Buffer.alloc(22);
  b.writeBigUInt64BE(spiI, 0);
  b.writeBigUInt64BE(spiR, 8);
  at.addr.split('.').forEach((o, i) => (b[16 + i] = Number(o)));
  b.writeUInt16BE(at.port, 20);
  return createHash('sha1').update(b).digest('hex');
}
