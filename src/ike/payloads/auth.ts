/**
 * Authentication payload body (RFC 7296 §3.8):
 *
 *                        1                   2                   3
 *    0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   | Next Payload  |C|  RESERVED   |         Payload Length        |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   | Auth Method   |                RESERVED                       |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   ~                      Authentication Data                      ~
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 */
import type { Reader } from '../../wire/reader.js';
import type { Writer } from '../../wire/writer.js';

export interface Auth {
  method: number;
  data: Uint8Array;
}

export function decode(r: Reader): Auth {
  const method = r.u8('AUTH method');
  r.skip(3, 'AUTH reserved');
  return { method, data: r.rest() };
}

export function encode(w: Writer, a: Auth): void {
  w.u8(a.method).zeros(3).bytes(a.data);
}
