/**
 * Security Association payload body (RFC 7296 §3.3): one or more proposals, each with transforms,
 * each with attributes. Every substructure carries its own length, and every length must agree
 * with its parent's and with the last/more marks; any disagreement is a MalformedError.
 *
 *   Proposal substructure (§3.3.1):
 *    0                   1                   2                   3
 *    0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   | Last Substruc |   RESERVED    |         Proposal Length       |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   | Proposal Num  |  Protocol ID  |    SPI Size   |Num  Transforms|
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   ~                        SPI (variable)                         ~
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   ~                        <Transforms>                           ~
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 *   Transform substructure (§3.3.2):
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   | Last Substruc |   RESERVED    |        Transform Length       |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |Transform Type |   RESERVED    |          Transform ID         |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   ~                      Transform Attributes                     ~
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 *   Data attribute (§3.3.5):
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |A|       Attribute Type        |    AF=0  Attribute Length     |
 *   |F|                             |    AF=1  Attribute Value      |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |                   AF=0  Attribute Value                       |
 *   |                   AF=1  Not Transmitted                       |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * Proposal numbers are not checked for sequence: a response carries the single chosen proposal
 * under its original number. Attributes other than KEY_LENGTH are kept raw so they round-trip.
 */
import type { Reader } from '../../wire/reader.js';
import type { Writer } from '../../wire/writer.js';
import { MalformedError } from '../../wire/errors.js';
import { ATTR } from '../constants.js';

/** TV (AF=1) attributes carry a 16-bit value; TLV (AF=0) ones carry bytes. */
export type Attribute = { type: number; tv: true; value: number } | { type: number; tv: false; value: Uint8Array };

export interface Transform {
  type: number;
  id: number;
  attributes: Attribute[];
}

export interface Proposal {
  num: number;
  protocol: number;
  /** Empty, 4 bytes (ESP/AH) or 8 bytes (IKE SA rekey). */
  spi: Uint8Array;
  transforms: Transform[];
}

export interface Sa {
  proposals: Proposal[];
}

const LAST = 0;
const MORE_PROPOSALS = 2;
const MORE_TRANSFORMS = 3;
const SUB_HEADER = 4;
const AF = 0x8000;
const SPI_SIZES: readonly number[] = [0, 4, 8];

/** Reads a last/more mark and a length; returns a reader confined to the substructure body. */
function substructure(r: Reader, what: string, more: number, min: number): { more: boolean; body: Reader } {
  r.need(SUB_HEADER, `${what} header`);
  const mark = r.u8();
  if (mark !== LAST && mark !== more) throw new MalformedError(`${what} last/more mark`, more, mark);
  r.skip(1);
  const len = r.u16();
  if (len < min) throw new MalformedError(`${what} length`, min, len);
  return { more: mark === more, body: r.sub(len - SUB_HEADER, `${what} length`) };
}

function decodeAttribute(r: Reader): Attribute {
  const head = r.u16('attribute type');
  const type = head & ~AF;
  if (head & AF) return { type, tv: true, value: r.u16('attribute value') };
  if (type === ATTR.KEY_LENGTH) throw new MalformedError('KEY_LENGTH attribute format (AF bit)', 1, 0);
  const len = r.u16('attribute length');
  return { type, tv: false, value: r.bytes(len, 'attribute value') };
}

function decodeTransform(r: Reader, expectMore: boolean): Transform {
  const { more, body } = substructure(r, 'transform', MORE_TRANSFORMS, 8);
  if (more !== expectMore) throw new MalformedError('transform last/more vs Num Transforms', expectMore ? 3 : 0, more ? 3 : 0);
  const type = body.u8();
  body.skip(1);
  const id = body.u16();
  const attributes: Attribute[] = [];
  while (body.left > 0) attributes.push(decodeAttribute(body));
  return { type, id, attributes };
}

function decodeProposal(r: Reader): { more: boolean; proposal: Proposal } {
  const { more, body } = substructure(r, 'proposal', MORE_PROPOSALS, 8);
  const num = body.u8();
  if (num === 0) throw new MalformedError('proposal number', 1, 0);
  const protocol = body.u8();
  const spiSize = body.u8();
  if (!SPI_SIZES.includes(spiSize)) throw new MalformedError('proposal SPI size (0, 4 or 8)', 8, spiSize);
  const count = body.u8();
  const spi = body.bytes(spiSize, 'proposal SPI');
  const transforms: Transform[] = [];
  for (let i = 0; i < count; i++) transforms.push(decodeTransform(body, i < count - 1));
  if (body.left !== 0) throw new MalformedError('bytes after the last transform', 0, body.left);
  return { more, proposal: { num, protocol, spi, transforms } };
}

export function decode(r: Reader): Sa {
  const proposals: Proposal[] = [];
  let more = true;
  while (more) {
    const next = decodeProposal(r);
    proposals.push(next.proposal);
    more = next.more;
  }
  if (r.left !== 0) throw new MalformedError('bytes after the last proposal', 0, r.left);
  return { proposals };
}

function encodeAttribute(w: Writer, a: Attribute): void {
  if (a.tv) w.u16(AF | a.type).u16(a.value);
  else w.u16(a.type & ~AF).u16(a.value.length).bytes(a.value);
}

function encodeTransform(w: Writer, t: Transform, last: boolean): void {
  const start = w.length;
  w.u8(last ? LAST : MORE_TRANSFORMS).u8(0).u16(0);
  w.u8(t.type).u8(0).u16(t.id);
  for (const a of t.attributes) encodeAttribute(w, a);
  w.patchU16(start + 2, w.length - start);
}

function encodeProposal(w: Writer, p: Proposal, last: boolean): void {
  const start = w.length;
  w.u8(last ? LAST : MORE_PROPOSALS).u8(0).u16(0);
  w.u8(p.num).u8(p.protocol).u8(p.spi.length).u8(p.transforms.length).bytes(p.spi);
  p.transforms.forEach((t, i) => encodeTransform(w, t, i === p.transforms.length - 1));
  w.patchU16(start + 2, w.length - start);
}

export function encode(w: Writer, sa: Sa): void {
  sa.proposals.forEach((p, i) => encodeProposal(w, p, i === sa.proposals.length - 1));
}

/** The KEY_LENGTH attribute of a transform, in bits, if it has one. */
export function keyLength(t: Transform): number | undefined {
  for (const a of t.attributes) if (a.tv && a.type === ATTR.KEY_LENGTH) return a.value;
  return undefined;
}

/** A transform with an optional KEY_LENGTH, the common case when building proposals. */
export function transform(type: number, id: number, keyBits?: number): Transform {
  return { type, id, attributes: keyBits === undefined ? [] : [{ type: ATTR.KEY_LENGTH, tv: true, value: keyBits }] };
}
