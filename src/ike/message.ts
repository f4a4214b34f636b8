/**
 * Whole IKE messages: header plus the chain of generic payloads (RFC 7296 §3.1, §3.2).
 *
 *   HDR | Next Payload |C| RESERVED | Payload Length | body | Next Payload | ... | 0
 *
 * The walker checks every generic header in a fixed order before touching its body (STYLE.md §2):
 *   1. enough bytes for the 4-byte generic header;
 *   2. declared length >= 4;
 *   3. declared length <= bytes left.
 * It stops at SK (or SKF, RFC 7383): their body is ciphertext, their Next Payload field names the
 * first payload inside, and they must be the last payload. The decrypted inner chain goes through
 * `decodePayloadChain`, where SK is malformed. The reserved bits of the generic header are ignored
 * on receipt, as §3.2 asks, and sent as zero.
 */
import { Reader } from '../wire/reader.js';
import { Writer } from '../wire/writer.js';
import { KeylineError, MalformedError } from '../wire/errors.js';
import { name } from '../wire/iana.js';
import { IKE, PAYLOAD } from './constants.js';
import * as header from './header.js';
import type { IkeHeader } from './header.js';
import type { RawPayload } from './payload.js';

export type { IkeHeader } from './header.js';
export { decodePayload, encodePayload, isKnownPayload, payloadName, PAYLOAD_CODE } from './payload.js';
export type { Payload, PayloadName, RawPayload } from './payload.js';

export type DecodedMessage =
  | { ok: true; header: IkeHeader; payloads: RawPayload[] }
  /** Major version is not 2: not malformed, but to be answered with INVALID_MAJOR_VERSION. */
  | Extract<header.HeaderResult, { ok: false }>;

/** The header fields a sender chooses; next payload and length are computed. */
export type HeaderFields = Omit<IkeHeader, 'next' | 'length'>;

const CRITICAL = 0x80;

const isEncrypted = (type: number): boolean => type === PAYLOAD.SK || type === PAYLOAD.SKF;

function walk(r: Reader, first: number, outer: boolean): RawPayload[] {
  const out: RawPayload[] = [];
  for (let type = first; type !== PAYLOAD.NONE; ) {
    if (out.length === IKE.maxPayloads) throw new MalformedError('payload count', IKE.maxPayloads, out.length + 1);
    if (r.left < IKE.genericLen) throw new MalformedError(`${name(PAYLOAD, type)} generic header`, IKE.genericLen, r.left);
    const next = r.u8();
    const critical = (r.u8() & CRITICAL) !== 0;
    const len = r.u16();
    if (len < IKE.genericLen) throw new MalformedError(`${name(PAYLOAD, type)} payload length`, IKE.genericLen, len);
    if (len - IKE.genericLen > r.left) throw new MalformedError(`${name(PAYLOAD, type)} payload length`, len - IKE.genericLen, r.left);
    const body = r.bytes(len - IKE.genericLen);
    if (isEncrypted(type)) {
      if (!outer) throw new MalformedError(`${name(PAYLOAD, type)} inside an encrypted payload`, 0, 1);
      if (r.left !== 0) throw new MalformedError(`bytes after ${name(PAYLOAD, type)} (must be last)`, 0, r.left);
      out.push({ type, critical, body, innerFirst: next });
      return out;
    }
    out.push({ type, critical, body });
    type = next;
  }
  if (r.left !== 0) throw new MalformedError('bytes after the last payload', 0, r.left);
  return out;
}

/**
 * Decode a datagram (after any non-ESP marker) into a header and raw payloads. Throws
 * MalformedError on any bounds or length failure; returns ok:false for a foreign major version.
 */
export function decodeMessage(buf: Uint8Array): DecodedMessage {
  const r = new Reader(buf);
  const h = header.decodeChecked(r);
  if (!h.ok) return h;
  if (h.header.length !== buf.length) throw new MalformedError('IKE header length vs datagram', buf.length, h.header.length);
  return { ok: true, header: h.header, payloads: walk(r, h.header.next, true) };
}

/** Decode the decrypted content of SK (padding already removed), starting with type `first`. */
export function decodePayloadChain(first: number, buf: Uint8Array): RawPayload[] {
  return walk(new Reader(buf), first, false);
}

function writeChain(w: Writer, payloads: readonly RawPayload[]): void {
  if (payloads.length > IKE.maxPayloads) throw new KeylineError('IKE_ENCODE', `${payloads.length} payloads, at most ${IKE.maxPayloads}`);
  payloads.forEach((p, i) => {
    const last = i === payloads.length - 1;
    if (isEncrypted(p.type) && !last) throw new KeylineError('IKE_ENCODE', `${name(PAYLOAD, p.type)} must be the last payload`);
    const len = IKE.genericLen + p.body.length;
    if (len > 0xffff) throw new KeylineError('IKE_ENCODE', `${name(PAYLOAD, p.type)} payload is ${len} bytes, at most 65535`);
    const next = isEncrypted(p.type) ? (p.innerFirst ?? PAYLOAD.NONE) : (payloads[i + 1]?.type ?? PAYLOAD.NONE);
    w.u8(next).u8(p.critical ? CRITICAL : 0).u16(len).bytes(p.body);
  });
}

/** Encode a chain (for SK's plaintext): `first` goes into the SK payload's Next Payload field. */
export function encodeChain(payloads: readonly RawPayload[]): { first: number; bytes: Uint8Array } {
  const w = new Writer();
  writeChain(w, payloads);
  return { first: payloads[0]?.type ?? PAYLOAD.NONE, bytes: w.finish() };
}

/** Encode a whole message; the header's next payload and length are computed here. */
export function encodeMessage(h: HeaderFields, payloads: readonly RawPayload[]): Uint8Array {
  const chain = encodeChain(payloads);
  const length = IKE.headerLen + chain.bytes.length;
  const w = new Writer(length);
  header.encode(w, { ...h, next: chain.first, length });
  w.bytes(chain.bytes);
  return w.finish();
}
