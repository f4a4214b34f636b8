/**
 * The generic payload as the chain walker leaves it (RawPayload), the typed union of the payloads
 * keyline understands (Payload), and the dispatcher between them. A payload body must be used up
 * exactly by its codec: bytes left over are malformed, not ignored.
 *
 *   Generic payload header (RFC 7296 §3.2):
 *                        1                   2                   3
 *    0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   | Next Payload  |C|  RESERVED   |         Payload Length        |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 */
import { Reader } from '../wire/reader.js';
import { Writer } from '../wire/writer.js';
import { MalformedError } from '../wire/errors.js';
import { name } from '../wire/iana.js';
import { PAYLOAD } from './constants.js';
import * as sa from './payloads/sa.js';
import * as ke from './payloads/ke.js';
import * as id from './payloads/id.js';
import * as cert from './payloads/cert.js';
import * as auth from './payloads/auth.js';
import * as nonce from './payloads/nonce.js';
import * as notify from './payloads/notify.js';
import * as del from './payloads/delete.js';
import * as vendor from './payloads/vendor.js';
import * as ts from './payloads/ts.js';

/** One payload of a chain: its type (the previous Next Payload field), critical bit and body. */
export interface RawPayload {
  type: number;
  critical: boolean;
  body: Uint8Array;
  /** SK and SKF only: their own Next Payload field, the type of the first payload inside. */
  innerFirst?: number;
}

export type Payload =
  | ({ type: 'SA' } & sa.Sa)
  | ({ type: 'KE' } & ke.Ke)
  | ({ type: 'IDi' | 'IDr' } & id.Id)
  | ({ type: 'CERT' | 'CERTREQ' } & cert.Cert)
  | ({ type: 'AUTH' } & auth.Auth)
  | ({ type: 'NONCE' } & nonce.Nonce)
  | ({ type: 'N' } & notify.Notify)
  | ({ type: 'D' } & del.Delete)
  | ({ type: 'V' } & vendor.Vendor)
  | ({ type: 'TSi' | 'TSr' } & ts.Ts)
  /** Still encrypted: the crypto layer opens `body`, then decodePayloadChain(innerFirst, ...). */
  | { type: 'SK' | 'SKF'; innerFirst: number; body: Uint8Array }
  /** A type keyline does not implement, kept so the caller can skip it or refuse it if critical. */
  | { type: 'unknown'; code: number; critical: boolean; body: Uint8Array };

export type PayloadName = Exclude<Payload['type'], 'unknown'>;

/** Wire code of every payload keyline understands. CP and EAP are absent on purpose. */
export const PAYLOAD_CODE: Readonly<Record<PayloadName, number>> = {
  SA: PAYLOAD.SA,
  KE: PAYLOAD.KE,
  IDi: PAYLOAD.IDi,
  IDr: PAYLOAD.IDr,
  CERT: PAYLOAD.CERT,
  CERTREQ: PAYLOAD.CERTREQ,
  AUTH: PAYLOAD.AUTH,
  NONCE: PAYLOAD.NONCE,
  N: PAYLOAD.N,
  D: PAYLOAD.D,
  V: PAYLOAD.V,
  TSi: PAYLOAD.TSi,
  TSr: PAYLOAD.TSr,
  SK: PAYLOAD.SK,
  SKF: PAYLOAD.SKF,
};

const NAME_OF = new Map<number, PayloadName>(Object.entries(PAYLOAD_CODE).map(([n, c]) => [c, n as PayloadName]));

/** Does keyline understand this payload type? (If not, the critical bit decides.) */
export const isKnownPayload = (code: number): boolean => NAME_OF.has(code);

/** The union tag of a known payload type, undefined for unknown ones. */
export const payloadName = (code: number): PayloadName | undefined => NAME_OF.get(code);

function decodeBody(raw: RawPayload, r: Reader): Payload {
  const type = NAME_OF.get(raw.type);
  switch (type) {
    case 'SA':
      return { type, ...sa.decode(r) };
    case 'KE':
      return { type, ...ke.decode(r) };
    case 'IDi':
    case 'IDr':
      return { type, ...id.decode(r) };
    case 'CERT':
    case 'CERTREQ':
      return { type, ...cert.decode(r) };
    case 'AUTH':
      return { type, ...auth.decode(r) };
    case 'NONCE':
      return { type, ...nonce.decode(r) };
    case 'N':
      return { type, ...notify.decode(r) };
    case 'D':
      return { type, ...del.decode(r) };
    case 'V':
      return { type, ...vendor.decode(r) };
    case 'TSi':
    case 'TSr':
      return { type, ...ts.decode(r) };
    case 'SK':
    case 'SKF':
      return { type, innerFirst: raw.innerFirst ?? PAYLOAD.NONE, body: r.rest() };
    case undefined:
      return { type: 'unknown', code: raw.type, critical: raw.critical, body: r.rest() };
  }
}

/** Decode one payload body with its codec; the codec must consume the body exactly. */
export function decodePayload(raw: RawPayload): Payload {
  const r = new Reader(raw.body);
  const p = decodeBody(raw, r);
  if (r.left !== 0) throw new MalformedError(`${name(PAYLOAD, raw.type)} payload: bytes after its last field`, 0, r.left);
  return p;
}

function encodeBody(w: Writer, p: Payload): void {
  switch (p.type) {
    case 'SA':
      return sa.encode(w, p);
    case 'KE':
      return ke.encode(w, p);
    case 'IDi':
    case 'IDr':
      return id.encode(w, p);
    case 'CERT':
    case 'CERTREQ':
      return cert.encode(w, p);
    case 'AUTH':
      return auth.encode(w, p);
    case 'NONCE':
      return nonce.encode(w, p);
    case 'N':
      return notify.encode(w, p);
    case 'D':
      return del.encode(w, p);
    case 'V':
      return vendor.encode(w, p);
    case 'TSi':
    case 'TSr':
      return ts.encode(w, p);
    case 'SK':
    case 'SKF':
    case 'unknown':
      w.bytes(p.body);
  }
}

/** Encode a typed payload into a RawPayload for encodeMessage/encodeChain. */
export function encodePayload(p: Payload): RawPayload {
  const w = new Writer(64);
  encodeBody(w, p);
  const body = w.finish();
  if (p.type === 'unknown') return { type: p.code, critical: p.critical, body };
  if (p.type === 'SK' || p.type === 'SKF') return { type: PAYLOAD_CODE[p.type], critical: false, body, innerFirst: p.innerFirst };
  return { type: PAYLOAD_CODE[p.type], critical: false, body };
}
