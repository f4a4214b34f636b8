/**
 * Identification payload body, IDi and IDr alike (RFC 7296 §3.5):
 *
 *                        1                   2                   3
 *    0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   | Next Payload  |C|  RESERVED   |         Payload Length        |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |   ID Type     |                 RESERVED                      |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   ~                   Identification Data                         ~
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * The whole body after the generic header is what AUTH signs (§2.15), so the exchange layer
 * re-encodes it from these fields or keeps the raw body; the reserved bytes are sent as zero.
 */
import type { Reader } from '../../wire/reader.js';
import type { Writer } from '../../wire/writer.js';

export interface Id {
  idType: number;
  data: Uint8Array;
}

export function decode(r: Reader): Id {
  const idType = r.u8('ID type');
  r.skip(3, 'ID reserved');
  return { idType, data: r.rest() };
}

export function encode(w: Writer, id: Id): void {
  w.u8(id.idType).zeros(3).bytes(id.data);
}
