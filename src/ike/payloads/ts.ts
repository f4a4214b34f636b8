/**
 * Traffic Selector payload body, TSi and TSr alike (RFC 7296 §3.13, §3.13.1):
 *
 *                        1                   2                   3
 *    0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   | Next Payload  |C|  RESERVED   |         Payload Length        |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   | Number of TSs |                 RESERVED                      |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   ~                       <Traffic Selectors>                     ~
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 *   Traffic selector:
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |   TS Type     |IP Protocol ID*|       Selector Length         |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |           Start Port*         |           End Port*           |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   ~                         Starting Address*                     ~
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   ~                         Ending Address*                       ~
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * Only types 7 (IPv4 range, length 16) and 8 (IPv6 range, length 40) exist here; any other type
 * is malformed, because its length could not be checked against its layout. The count, each
 * selector length and the body length must all agree.
 */
import type { Reader } from '../../wire/reader.js';
import type { Writer } from '../../wire/writer.js';
import { MalformedError } from '../../wire/errors.js';
import { TS_TYPE } from '../constants.js';

export interface Selector {
  tsType: number;
  /** IP protocol, 0 = any. */
  protocol: number;
  startPort: number;
  endPort: number;
  /** 4 bytes for TS_IPV4_ADDR_RANGE, 16 for TS_IPV6_ADDR_RANGE. */
  start: Uint8Array;
  end: Uint8Array;
}

export interface Ts {
  selectors: Selector[];
}

const ADDR_LEN: Readonly<Record<number, number>> = { [TS_TYPE.TS_IPV4_ADDR_RANGE]: 4, [TS_TYPE.TS_IPV6_ADDR_RANGE]: 16 };
const FIXED = 8;

function decodeSelector(r: Reader): Selector {
  const tsType = r.u8('TS type');
  const addrLen = ADDR_LEN[tsType];
  if (addrLen === undefined) throw new MalformedError('TS type (7 or 8)', 7, tsType);
  const protocol = r.u8('TS protocol');
  const len = r.u16('TS length');
  if (len !== FIXED + 2 * addrLen) throw new MalformedError('TS selector length', FIXED + 2 * addrLen, len);
  r.need(len - 4, 'TS selector');
  const startPort = r.u16();
  const endPort = r.u16();
  return { tsType, protocol, startPort, endPort, start: r.bytes(addrLen), end: r.bytes(addrLen) };
}

export function decode(r: Reader): Ts {
  const count = r.u8('TS count');
  r.skip(3, 'TS reserved');
  const selectors: Selector[] = [];
  for (let i = 0; i < count; i++) selectors.push(decodeSelector(r));
  if (r.left !== 0) throw new MalformedError('bytes after the last selector', 0, r.left);
  return { selectors };
}

export function encode(w: Writer, ts: Ts): void {
  w.u8(ts.selectors.length).zeros(3);
  for (const s of ts.selectors) {
    w.u8(s.tsType).u8(s.protocol).u16(FIXED + s.start.length + s.end.length);
    w.u16(s.startPort).u16(s.endPort).bytes(s.start).bytes(s.end);
  }
}
