/**
 * Vendor ID payload body (RFC 7296 §3.12): opaque bytes, compared whole by whoever cares.
 *
 *                        1                   2                   3
 *    0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   | Next Payload  |C|  RESERVED   |         Payload Length        |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   ~                        Vendor ID (VID)                        ~
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 */
import type { Reader } from '../../wire/reader.js';
import type { Writer } from '../../wire/writer.js';

export interface Vendor {
  data: Uint8Array;
}

export function decode(r: Reader): Vendor {
  return { data: r.rest() };
}

export function encode(w: Writer, v: Vendor): void {
  w.bytes(v.data);
}
