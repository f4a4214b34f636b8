/**
 * Nonce payload body (RFC 7296 §3.9):
 *
 *                        1                   2                   3
 *    0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   | Next Payload  |C|  RESERVED   |         Payload Length        |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   ~                            Nonce Data                         ~
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * "The size of the Nonce Data MUST be between 16 and 256 octets, inclusive" (§3.9): enforced on
 * decode, since a short nonce weakens every key derived from it.
 */
import type { Reader } from '../../wire/reader.js';
import type { Writer } from '../../wire/writer.js';
import { MalformedError } from '../../wire/errors.js';
import { IKE } from '../constants.js';

export interface Nonce {
  data: Uint8Array;
}

export function decode(r: Reader): Nonce {
  const n = r.left;
  if (n < IKE.nonceMin) throw new MalformedError('nonce length (min 16)', IKE.nonceMin, n);
  if (n > IKE.nonceMax) throw new MalformedError('nonce length (max 256)', IKE.nonceMax, n);
  return { data: r.rest() };
}

export function encode(w: Writer, n: Nonce): void {
  w.bytes(n.data);
}
