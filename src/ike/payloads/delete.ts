/**
 * Delete payload body (RFC 7296 §3.11):
 *
 *                        1                   2                   3
 *    0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   | Next Payload  |C|  RESERVED   |         Payload Length        |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   | Protocol ID   |   SPI Size    |          Num of SPIs          |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   ~               Security Parameter Index(es) (SPI)              ~
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * Num of SPIs x SPI Size must be exactly the rest of the body: a count that lies in either
 * direction is malformed. An IKE SA delete has SPI size 0 and count 0 (the SPIs are in the
 * header); a nonzero count with size 0 would be a count describing nothing, so it is refused.
 */
import type { Reader } from '../../wire/reader.js';
import type { Writer } from '../../wire/writer.js';
import { MalformedError } from '../../wire/errors.js';

export interface Delete {
  protocol: number;
  /** Every SPI has the same size (0 for IKE, 4 for ESP/AH). */
  spiSize: number;
  spis: Uint8Array[];
}

export function decode(r: Reader): Delete {
  const protocol = r.u8('delete protocol');
  const spiSize = r.u8('delete SPI size');
  const count = r.u16('delete SPI count');
  if (spiSize === 0 && count !== 0) throw new MalformedError('delete SPI count with SPI size 0', 0, count);
  if (count * spiSize !== r.left) throw new MalformedError('delete SPIs (count x size)', count * spiSize, r.left);
  const spis: Uint8Array[] = [];
  for (let i = 0; i < count; i++) spis.push(r.bytes(spiSize, 'delete SPI'));
  return { protocol, spiSize, spis };
}

export function encode(w: Writer, d: Delete): void {
  w.u8(d.protocol).u8(d.spiSize).u16(d.spis.length);
  for (const spi of d.spis) w.bytes(spi);
}
