import { readU32, writeU32 } from '../wire/bytes.js';

/**
 * The inline keying header (README.md §3): fixed layout, 48 octets (OFFER, RETIRE) or 64
 * (ANSWER), carried inside ESP under Next Header 253. Pure codec: no keys, no state. The tag is
 * computed by the caller over `tagInput` (keys.ts); `decodeHeader` only checks shape.
 */

/** ESP Next Header value of a payload that starts with an inline header (RFC 3692 experimental). */
export const INLINE_NEXT_HEADER = 253;
export const INLINE_VERSION = 1;
export const NONCE_LEN = 16;
export const TAG_LEN = 16;
const FIXED_LEN = 16;

export const HEADER_TYPE = { OFFER: 1, ANSWER: 2, RETIRE: 3 } as const;
export type HeaderType = (typeof HEADER_TYPE)[keyof typeof HEADER_TYPE];

export const SCOPE = { host: 1, 'host-pair': 2, proto: 3, port: 4 } as const;
export type ScopeName = keyof typeof SCOPE;
export const SCOPE_NAMES = Object.keys(SCOPE) as ScopeName[];

export interface InlineHeader {
  /** What follows the header: 4 or 41 (a packet rides along) or 59 (the header travels alone). */
  readonly next: number;
  readonly type: HeaderType;
  readonly scope: number;
  readonly encrId: number;
  readonly keyBits: number;
  readonly replySpi: number;
  readonly lifetime: number;
  readonly nonce: Uint8Array;
  /** ANSWER only. */
  readonly peerNonce?: Uint8Array;
  readonly tag: Uint8Array;
}

export const headerLen = (type: HeaderType): number => FIXED_LEN + NONCE_LEN + (type === HEADER_TYPE.ANSWER ? NONCE_LEN : 0) + TAG_LEN;

/** Encode with a zero tag; the caller fills the last TAG_LEN octets (see keys.ts `tagHeader`). */
export function encodeHeader(h: Omit<InlineHeader, 'tag'>): Uint8Array {
  const out = new Uint8Array(headerLen(h.type));
  out[0] = h.next;
  out[1] = (INLINE_VERSION << 4) | h.type;
  out[2] = h.scope;
  out[3] = h.encrId;
  out[4] = h.keyBits >>> 8;
  out[5] = h.keyBits & 0xff;
  writeU32(out, 8, h.replySpi);
  writeU32(out, 12, h.lifetime);
  out.set(h.nonce, FIXED_LEN);
  if (h.type === HEADER_TYPE.ANSWER) out.set(h.peerNonce!, FIXED_LEN + NONCE_LEN);
  return out;
}

export type DecodeFailure = 'inline-short' | 'inline-version' | 'inline-type' | 'inline-reserved';

/**
 * Parse the header at the start of `b`. Returns the header and the number of octets it took, or
 * the reason it is not one. Never throws; checks the length before each read.
 */
export function decodeHeader(b: Uint8Array): { header: InlineHeader; len: number } | { fail: DecodeFailure } {
  if (b.length < 2) return { fail: 'inline-short' };
  if (b[1]! >> 4 !== INLINE_VERSION) return { fail: 'inline-version' };
  const type = b[1]! & 0x0f;
  if (type !== HEADER_TYPE.OFFER && type !== HEADER_TYPE.ANSWER && type !== HEADER_TYPE.RETIRE) return { fail: 'inline-type' };
  const len = headerLen(type);
  if (b.length < len) return { fail: 'inline-short' };
  if (b[6] !== 0 || b[7] !== 0) return { fail: 'inline-reserved' };
  const header: InlineHeader = {
    next: b[0]!,
    type,
    scope: b[2]!,
    encrId: b[3]!,
    keyBits: (b[4]! << 8) | b[5]!,
    replySpi: readU32(b, 8),
    lifetime: readU32(b, 12),
    nonce: b.slice(FIXED_LEN, FIXED_LEN + NONCE_LEN),
    ...(type === HEADER_TYPE.ANSWER && { peerNonce: b.slice(FIXED_LEN + NONCE_LEN, FIXED_LEN + 2 * NONCE_LEN) }),
    tag: b.slice(len - TAG_LEN, len),
  };
  return { header, len };
}

/** Octet-wise comparison of nonces (collision rule, README.md §6.5): >0 when a wins. */
export function compareNonces(a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < a.length && i < b.length; i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return a.length - b.length;
}
