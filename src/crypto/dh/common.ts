import { KeylineError } from '../../wire/errors.js';

/** One ephemeral Diffie-Hellman key pair for one IKE_SA_INIT or CREATE_CHILD_SA exchange. */
export interface KeyExchange {
  /** The Key Exchange Method Transform ID (IANA, RFC 7296 §3.3.2): 14, 15 or 31. */
  readonly group: number;
  /** Our value for the KE payload's Key Exchange Data, already padded to the group's length. */
  readonly publicKey: Uint8Array;
  /**
   * g^ir, padded to the group's length (RFC 7296 §2.14). Throws KeylineError code 'BAD_KE' on an
   * invalid peer value (wrong length, out of range, low order): the IKE layer answers that with
   * INVALID_SYNTAX / drops the exchange, never with keys.
   */
  computeShared(peerPublic: Uint8Array): Uint8Array;
}

export type BackendName = 'node' | 'noble';

/** Where private keys come from: n fresh random bytes. Tests inject a deterministic one. */
export type RandomSource = (n: number) => Uint8Array;

export const badKe = (msg: string): KeylineError => new KeylineError('BAD_KE', msg);

/** `b` as exactly `len` bytes, zeros in front (node:crypto drops leading zero bytes). */
export function padLeft(b: Uint8Array, len: number): Uint8Array {
  if (b.length > len) throw badKe(`value of ${b.length} bytes does not fit in ${len}`);
  const out = new Uint8Array(len);
  out.set(b, len - b.length);
  return out;
}

/** Whether every byte is zero, without an early exit (the input is a shared secret). */
export function isAllZero(b: Uint8Array): boolean {
  let acc = 0;
  for (let i = 0; i < b.length; i++) acc |= b[i]!;
  return acc === 0;
}
