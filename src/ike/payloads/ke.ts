/**
 * Key Exchange payload body (RFC 7296 §3.4):
 *
 *                        1                   2                   3
 *    0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   | Next Payload  |C|  RESERVED   |         Payload Length        |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |   Diffie-Hellman Group Num    |           RESERVED            |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   ~                       Key Exchange Data                       ~
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * Whether the data length fits the group is for the exchange layer (it knows the group and
 * answers INVALID_SYNTAX or INVALID_KE_PAYLOAD); the codec only frames it.
 */
import type { Reader } from '../../wire/reader.js';
import type { Writer } from '../../wire/writer.js';

export interface Ke {
  group: number;
  data: Uint8Array;
}

export function decode(r: Reader): Ke {
  const group = r.u16('KE group');
  r.skip(2, 'KE reserved');
  return { group, data: r.rest() };
}

export function encode(w: Writer, ke: Ke): void {
  w.u16(ke.group).u16(0).bytes(ke.data);
}
