/**
 * Notify payload body (RFC 7296 §3.10):
 *
 *                        1                   2                   3
 *    0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   | Next Payload  |C|  RESERVED   |         Payload Length        |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |  Protocol ID  |   SPI Size    |      Notify Message Type      |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   ~                Security Parameter Index (SPI)                 ~
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   ~                       Notification Data                       ~
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * The SPI size is only bounds-checked, not restricted to 0/4: unknown status notifies must be
 * ignored (§3.10.1), so an odd SPI size in one must not cost the whole message.
 */
import type { Reader } from '../../wire/reader.js';
import type { Writer } from '../../wire/writer.js';
import { NOTIFY_STATUS_MIN } from '../constants.js';

export interface Notify {
  /** 0 when the notification is about the IKE SA (or none). */
  protocol: number;
  /** Notify Message Type (NOTIFY). */
  notify: number;
  spi: Uint8Array;
  data: Uint8Array;
}

export function decode(r: Reader): Notify {
  const protocol = r.u8('notify protocol');
  const spiSize = r.u8('notify SPI size');
  const notify = r.u16('notify type');
  const spi = r.bytes(spiSize, 'notify SPI');
  return { protocol, notify, spi, data: r.rest() };
}

export function encode(w: Writer, n: Notify): void {
  w.u8(n.protocol).u8(n.spi.length).u16(n.notify).bytes(n.spi).bytes(n.data);
}

export const isError = (notifyType: number): boolean => notifyType < NOTIFY_STATUS_MIN;
