/**
 * A hand-driven IKEv2 initiator made of keyline's modules, for the interop tests: it builds the
 * messages of IKE_SA_INIT and IKE_AUTH (RFC 7296 §1.2) and derives the keys, but keeps no state
 * machine (keyline's own does not exist yet). Each step returns what the next needs, so a test can
 * assert on every intermediate value. The suite is fixed: AES-GCM-16/256, PRF-HMAC-SHA2-256.
 */
import { randomBytes } from 'node:crypto';
import { decodeMessage, decodePayload, encodeMessage, encodePayload, type IkeHeader, type Payload, type RawPayload } from '../../src/ike/message.js';
import { EXCHANGE, FLAG, ID_TYPE, AUTH_METHOD, IKE, NOTIFY, PROTO, TRANSFORM, TS_TYPE } from '../../src/ike/constants.js';
import { natHash } from '../../src/ike/natd.js';
import { transform, type Transform } from '../../src/ike/payloads/sa.js';
import type { Selector } from '../../src/ike/payloads/ts.js';
import { ivSource, openMessage, sealMessage, skKeys, type IvSource, type OpenResult, type SkKeys } from '../../src/ike/sk.js';
import { newKeyExchange, type KeyExchange } from '../../src/crypto/dh/index.js';
import { deriveIkeKeys, type IkeSaKeys } from '../../src/crypto/ike-keys.js';
import { pskAuth } from '../../src/crypto/psk-auth.js';
import { autoBackend, type CipherSuite, type Prf } from '../../src/crypto/index.js';
import { ENCR, ESN, PRF } from '../../src/wire/iana.js';
import type { Endpoint } from '../../src/sa/types.js';
import { NAT_T_PORT, request, type Datagram, type UdpRelay } from './udp.js';

/** Our side (namespace A) and charon's (namespace B). */
export const A: Endpoint = { addr: '192.0.2.1', port: 500 };
export const B: Endpoint = { addr: '192.0.2.2', port: 500 };
export const SUITE: CipherSuite = 'aes256gcm16';
export const backend = autoBackend;
export const prf: Prf = backend.prf('sha256');

/** ENCR_AES_GCM_16 (256-bit key), PRF_HMAC_SHA2_256, then the KE methods offered. */
export const ikeTransforms = (groups: readonly number[]): Transform[] => [
  transform(TRANSFORM.ENCR, ENCR.ENCR_AES_GCM_16, 256),
  transform(TRANSFORM.PRF, PRF.PRF_HMAC_SHA2_256),
  ...groups.map((g) => transform(TRANSFORM.KE, g)),
];

/** ESP AES-GCM-16/256 without ESN (ESN is mandatory in an ESP proposal, §3.3.3). */
export const espTransforms = (): Transform[] => [transform(TRANSFORM.ENCR, ENCR.ENCR_AES_GCM_16, 256), transform(TRANSFORM.ESN, ESN.NO_ESN)];

export interface Init {
  spiI: bigint;
  kex: KeyExchange;
  ni: Uint8Array;
  /** The request as sent: RealMessage1 of the initiator's AUTH (§2.15). */
  message: Uint8Array;
}

export interface Response {
  header: IkeHeader;
  raw: RawPayload[];
  payloads: Payload[];
  datagram: Datagram;
}

/** HDR, SAi1, KEi, Ni, N(NAT_DETECTION_SOURCE_IP), N(NAT_DETECTION_DESTINATION_IP). */
export function buildInit(groups: readonly number[], keGroup: number, spiI = randomSpi()): Init {
  const kex = newKeyExchange(keGroup, 'node');
  const ni = new Uint8Array(randomBytes(32));
  const payloads: Payload[] = [
    { type: 'SA', proposals: [{ num: 1, protocol: PROTO.IKE, spi: new Uint8Array(0), transforms: ikeTransforms(groups) }] },
    { type: 'KE', group: keGroup, data: kex.publicKey },
    { type: 'NONCE', data: ni },
    // SPIr is zero in the request (§2.23)
    notify(NOTIFY.NAT_DETECTION_SOURCE_IP, natHash(spiI, 0n, A)),
    notify(NOTIFY.NAT_DETECTION_DESTINATION_IP, natHash(spiI, 0n, B)),
  ];
  const message = encodeMessage({ spiI, spiR: 0n, major: 2, minor: 0, exchange: EXCHANGE.IKE_SA_INIT, flags: FLAG.I, messageId: 0 }, payloads.map(encodePayload));
  return { spiI, kex, ni, message };
}

/** Send an IKE_SA_INIT request from A:500 to B:500 and decode charon's response. */
export async function exchangeInit(relay: UdpRelay, init: Init): Promise<Response> {
  const datagram = await request(relay, { port: A.port, to: B.addr, toPort: B.port, message: init.message, isResponse: (d) => answers(d, init.spiI, 0) });
  const m = decodeMessage(datagram.data);
  if (!m.ok) throw new Error(`charon answered with major version ${m.header.major}`);
  return { datagram, header: m.header, raw: m.payloads, payloads: m.payloads.map(decodePayload) };
}

export interface IkeSa {
  spiI: bigint;
  spiR: bigint;
  ni: Uint8Array;
  nr: Uint8Array;
  shared: Uint8Array;
  keys: IkeSaKeys;
  sk: SkKeys;
  iv: IvSource;
}

/** The IKE SA keys from a successful IKE_SA_INIT (§2.14), and its SK protection as initiator. */
export function ikeSa(init: Init, res: Response): IkeSa {
  const ke = res.payloads.find((p) => p.type === 'KE');
  const nr = res.payloads.find((p) => p.type === 'NONCE');
  if (ke?.type !== 'KE' || nr?.type !== 'NONCE') throw new Error('IKE_SA_INIT response without KE or Nr');
  const shared = init.kex.computeShared(ke.data);
  const { spiI, spiR } = res.header;
  const keys = deriveIkeKeys(prf, SUITE, init.ni, nr.data, shared, spiBytes(spiI), spiBytes(spiR));
  const sk = skKeys(keys, SUITE, backend, 'initiator');
  return { spiI, spiR, ni: init.ni, nr: nr.data, shared, keys, sk, iv: ivSource(sk.send, (n) => backend.randomBytes(n)) };
}

export interface AuthOffer {
  psk: Uint8Array;
  idI: string;
  idR?: string;
  /** Our inbound ESP SPI. */
  espSpi: Uint8Array;
  tsI: Selector[];
  tsR: Selector[];
}

/** HDR, SK {IDi, [IDr,] AUTH, SAi2, TSi, TSr} as message 1, with IDi's body for the AUTH checks. */
export function buildAuth(sa: IkeSa, init: Init, o: AuthOffer): { message: Uint8Array; idiBody: Uint8Array } {
  const idi = encodePayload({ type: 'IDi', idType: ID_TYPE.ID_FQDN, data: utf8(o.idI) });
  // InitiatorSignedOctets = RealMessage1 | NonceRData | prf(SK_pi, IDi body)
  const auth = pskAuth(prf, o.psk, init.message, sa.nr, sa.keys.skPi, idi.body);
  const inner: RawPayload[] = [
    idi,
    ...(o.idR ? [encodePayload({ type: 'IDr', idType: ID_TYPE.ID_FQDN, data: utf8(o.idR) })] : []),
    encodePayload({ type: 'AUTH', method: AUTH_METHOD.PSK, data: auth }),
    encodePayload({ type: 'SA', proposals: [{ num: 1, protocol: PROTO.ESP, spi: o.espSpi, transforms: espTransforms() }] }),
    encodePayload({ type: 'TSi', selectors: o.tsI }),
    encodePayload({ type: 'TSr', selectors: o.tsR }),
  ];
  const header = { spiI: sa.spiI, spiR: sa.spiR, major: 2, minor: 0, exchange: EXCHANGE.IKE_AUTH, flags: FLAG.I, messageId: 1 };
  return { message: sealMessage(header, inner, sa.sk.send, sa.iv), idiBody: idi.body };
}

/**
 * Send IKE_AUTH to B:4500 from A:4500 (after NAT detection both sides float, §2.23; udp.ts adds
 * the non-ESP marker) and open charon's response with SK_er.
 */
export async function exchangeAuth(relay: UdpRelay, sa: IkeSa, message: Uint8Array): Promise<Response & { opened: OpenResult; inner: Payload[] }> {
  const datagram = await request(relay, { port: NAT_T_PORT, to: B.addr, toPort: NAT_T_PORT, message, isResponse: (d) => answers(d, sa.spiI, 1) });
  const m = decodeMessage(datagram.data);
  if (!m.ok) throw new Error(`charon answered with major version ${m.header.major}`);
  const opened = openMessage(datagram.data, m, sa.sk.recv);
  const inner = opened.ok ? opened.inner.map(decodePayload) : [];
  return { datagram, header: m.header, raw: m.payloads, payloads: m.payloads.map(decodePayload), opened, inner };
}

/** A TS_IPV4_ADDR_RANGE covering a.b.c.0/24, any protocol and port. */
export function net24(prefix: string): Selector {
  const [a, b, c] = prefix.split('.').map(Number) as [number, number, number];
  return { tsType: TS_TYPE.TS_IPV4_ADDR_RANGE, protocol: 0, startPort: 0, endPort: 65535, start: Uint8Array.of(a, b, c, 0), end: Uint8Array.of(a, b, c, 255) };
}

export const notify = (type: number, data: Uint8Array): Payload => ({ type: 'N', protocol: 0, notify: type, spi: new Uint8Array(0), data });

/** A response to our request with this SPIi and Message ID. */
function answers(d: Datagram, spiI: bigint, messageId: number): boolean {
  if (d.data.length < IKE.headerLen) return false;
  const b = Buffer.from(d.data.buffer, d.data.byteOffset, d.data.length);
  return b.readBigUInt64BE(0) === spiI && (b[19]! & FLAG.R) !== 0 && b.readUInt32BE(20) === messageId;
}

export function spiBytes(spi: bigint): Uint8Array {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, spi);
  return b;
}

export function randomSpi(): bigint {
  for (;;) {
    const v = randomBytes(8).readBigUInt64BE();
    if (v !== 0n) return v;
  }
}

const utf8 = (s: string) => new TextEncoder().encode(s);
