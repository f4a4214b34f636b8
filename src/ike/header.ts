/**
 * The IKE header (RFC 7296 §3.1):
 *
 *                        1                   2                   3
 *    0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |                       IKE SA Initiator's SPI                  |
 *   |                                                               |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |                       IKE SA Responder's SPI                  |
 *   |                                                               |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |  Next Payload | MjVer | MnVer | Exchange Type |     Flags     |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |                          Message ID                           |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |                            Length                             |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 *   Flags: |X|X|R|V|I|X|X|X|
 *
 * A major version other than 2 is not malformed input: the header format is shared by every
 * version, and RFC 7296 §2.5 asks us to answer INVALID_MAJOR_VERSION. So `decodeChecked` returns a
 * typed result the caller can act on, while bounds failures still throw MalformedError.
 */
import type { Reader } from '../wire/reader.js';
import type { Writer } from '../wire/writer.js';
import { FLAG, IKE, NOTIFY } from './constants.js';

export interface IkeHeader {
  spiI: bigint;
  spiR: bigint;
  /** Type of the first payload. */
  next: number;
  major: number;
  minor: number;
  exchange: number;
  /** Raw flag byte (FLAG.I / V / R); unknown bits are kept as received and ignored. */
  flags: number;
  messageId: number;
  /** Total message length, header included. */
  length: number;
}

export type HeaderResult =
  | { ok: true; header: IkeHeader }
  | { ok: false; notify: typeof NOTIFY.INVALID_MAJOR_VERSION; header: IkeHeader };

export function decode(r: Reader): IkeHeader {
  r.need(IKE.headerLen, 'IKE header');
  const spiI = r.u64();
  const spiR = r.u64();
  const next = r.u8();
  const version = r.u8();
  return {
    spiI,
    spiR,
    next,
    major: version >>> 4,
    minor: version & 0x0f,
    exchange: r.u8(),
    flags: r.u8(),
    messageId: r.u32(),
    length: r.u32(),
  };
}

/** Decode, then refuse a major version we do not speak with a typed result, not an exception. */
export function decodeChecked(r: Reader): HeaderResult {
  const header = decode(r);
  if (header.major !== IKE.majorVersion) return { ok: false, notify: NOTIFY.INVALID_MAJOR_VERSION, header };
  return { ok: true, header };
}

export function encode(w: Writer, h: IkeHeader): void {
  w.u64(h.spiI).u64(h.spiR).u8(h.next);
  w.u8(((h.major & 0x0f) << 4) | (h.minor & 0x0f));
  w.u8(h.exchange).u8(h.flags).u32(h.messageId).u32(h.length);
}

export const isResponse = (h: Pick<IkeHeader, 'flags'>): boolean => (h.flags & FLAG.R) !== 0;
export const isInitiator = (h: Pick<IkeHeader, 'flags'>): boolean => (h.flags & FLAG.I) !== 0;
