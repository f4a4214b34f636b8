/**
 * The one mutation library of the fuzzers (test/fuzz/*.test.ts). Every mutation draws from a
 * seeded generator, so an input is reproduced by its seed alone.
 *
 * Blind operators work on any bytes: bit flips, byte overwrite (0x00, 0xff, random), truncation,
 * extension with junk, splicing two seeds. Structure-aware ones need a Shape, the offsets of a
 * message's fields, found by walking it: length fields are made to lie, counts made huge, and
 * next-payload fields rewritten so that a chain points back or repeats.
 */
import { rng } from '../helpers/rng.js';

export type Rng = () => number;

/** A well-mixed generator for one input's seed (nearby seeds give unrelated streams). */
export function seeded(seed: number): Rng {
  let h = seed >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return rng((h ^ (h >>> 16)) >>> 0);
}

export const int = (r: Rng, n: number): number => Math.floor(r() * n);
export const pick = <T>(r: Rng, a: readonly T[]): T => a[int(r, a.length)]!;

/** A field of a message: where it is, how wide (big-endian), and what it means. */
export interface Field {
  readonly at: number;
  readonly size: 1 | 2 | 4;
  readonly kind: 'length' | 'count' | 'next' | 'type';
}

/** The fields a structure-aware operator may rewrite. */
export type Shape = readonly Field[];

// ---- blind operators ----------------------------------------------------------------------------

export function flip(r: Rng, b: Uint8Array): Uint8Array {
  const m = b.slice();
  for (let n = 1 + int(r, 3); n > 0 && m.length; n--) m[int(r, m.length)]! ^= 1 << int(r, 8);
  return m;
}

export function overwrite(r: Rng, b: Uint8Array): Uint8Array {
  const m = b.slice();
  if (m.length) m[int(r, m.length)] = pick(r, [0x00, 0xff, int(r, 256)]);
  return m;
}

export const truncate = (r: Rng, b: Uint8Array): Uint8Array => b.slice(0, int(r, b.length + 1));

export function extend(r: Rng, b: Uint8Array): Uint8Array {
  const junk = Uint8Array.from({ length: 1 + int(r, 64) }, () => pick(r, [0, 0xff, int(r, 256)]));
  return concat(b, junk);
}

/** The head of `a` and the tail of `b`, cut at random points. */
export const splice = (r: Rng, a: Uint8Array, b: Uint8Array): Uint8Array => concat(a.subarray(0, int(r, a.length + 1)), b.subarray(int(r, b.length + 1)));

// ---- structure-aware operators ------------------------------------------------------------------

const max = (f: Field) => 2 ** (8 * f.size) - 1;

function read(b: Uint8Array, f: Field): number {
  let v = 0;
  for (let i = 0; i < f.size; i++) v = v * 256 + (b[f.at + i] ?? 0);
  return v;
}

function write(b: Uint8Array, f: Field, v: number): void {
  for (let i = f.size - 1, x = v; i >= 0; i--, x = Math.floor(x / 256)) if (f.at + i < b.length) b[f.at + i] = x & 0xff;
}

/** A length field says something else: 0, just under or over the truth, or the maximum. */
export function lieLength(r: Rng, b: Uint8Array, shape: Shape): Uint8Array {
  const fields = shape.filter((f) => f.kind === 'length');
  if (!fields.length) return flip(r, b);
  const f = pick(r, fields);
  const v = read(b, f);
  const m = b.slice();
  write(m, f, pick(r, [0, 1, 3, 4, 7, 8, v - 1, v + 1, v - 4, v + 4, v * 2, max(f), int(r, max(f) + 1)]) & max(f));
  return m;
}

/** A count says 0, 1, 0xff or 0xffff (or the most its field holds). */
export function hugeCount(r: Rng, b: Uint8Array, shape: Shape): Uint8Array {
  const fields = shape.filter((f) => f.kind === 'count');
  if (!fields.length) return lieLength(r, b, shape);
  const f = pick(r, fields);
  const m = b.slice();
  write(m, f, Math.min(max(f), pick(r, [0, 1, 0xff, 0xffff, max(f), read(b, f) + 1])));
  return m;
}

/**
 * Payload chains that loop: a next-payload field names the type of an earlier payload (or its
 * own), or a payload is repeated in place, so the chain comes back to where it was.
 */
export function loopChain(r: Rng, b: Uint8Array, shape: Shape): Uint8Array {
  const nexts = shape.filter((f) => f.kind === 'next');
  const types = shape.filter((f) => f.kind === 'type');
  if (!nexts.length) return flip(r, b);
  const m = b.slice();
  const f = pick(r, nexts);
  if (r() < 0.5 || !types.length) {
    m[f.at] = types.length ? b[pick(r, types).at]! : b[f.at]!;
    return m;
  }
  // Repeat a payload: copy its bytes (generic header included) right after itself.
  const i = int(r, nexts.length);
  const start = nexts[i]!.at;
  const end = nexts[i + 1]?.at ?? b.length;
  return concat(m.subarray(0, end), m.subarray(start, end), m.subarray(end));
}

/** A type or identifier field takes another value (another payload type, another TS type...). */
export function retype(r: Rng, b: Uint8Array, shape: Shape): Uint8Array {
  const fields = shape.filter((f) => f.kind === 'type' || f.kind === 'next');
  if (!fields.length) return overwrite(r, b);
  const m = b.slice();
  write(m, pick(r, fields), pick(r, [0, 1, 7, 8, 33, 41, 42, 44, 46, 47, 53, 0x7f, 0xff, int(r, 256)]));
  return m;
}

// ---- one mutant ---------------------------------------------------------------------------------

export interface MutateOptions {
  /** The fields of a seed (re-walked per seed); no shape: blind operators only. */
  shape?: (b: Uint8Array) => Shape;
  /** Other seeds to splice with. */
  others?: readonly Uint8Array[];
  /** After a structural change, put the true total length back here sometimes (so deeper checks are reached). */
  fixLength?: (b: Uint8Array) => void;
}

/** One to three operators applied to `seed`. */
export function mutate(r: Rng, seed: Uint8Array, o: MutateOptions = {}): Uint8Array {
  let b = seed;
  for (let n = 1 + int(r, 3); n > 0; n--) {
    const shape = o.shape?.(b) ?? [];
    const k = int(r, shape.length ? 10 : 6);
    if (k === 0) b = flip(r, b);
    else if (k === 1) b = overwrite(r, b);
    else if (k === 2) b = truncate(r, b);
    else if (k === 3) b = extend(r, b);
    else if (k === 4) b = o.others?.length ? splice(r, b, pick(r, o.others)) : flip(r, b);
    else if (k === 5 || k === 6) b = lieLength(r, b, shape);
    else if (k === 7) b = hugeCount(r, b, shape);
    else if (k === 8) b = loopChain(r, b, shape);
    else b = retype(r, b, shape);
    if (k >= 3 && o.fixLength && r() < 0.5) {
      b = b.slice();
      o.fixLength(b);
    }
  }
  return b;
}

// ---- text (key files, control requests) ---------------------------------------------------------

/**
 * One to three edits of a text: delete a run, insert or replace with a piece of `alphabet`, drop
 * or repeat a line, cut it short, or copy a piece of it elsewhere.
 */
export function mutateText(r: Rng, s: string, alphabet: readonly string[]): string {
  for (let n = 1 + int(r, 3); n > 0; n--) {
    const at = int(r, s.length + 1);
    const lines = s.split('\n');
    const line = int(r, lines.length);
    switch (int(r, 7)) {
      case 0:
        s = s.slice(0, at) + s.slice(at + 1 + int(r, 4));
        break;
      case 1:
        s = s.slice(0, at) + pick(r, alphabet) + s.slice(at);
        break;
      case 2:
        s = s.slice(0, at) + pick(r, alphabet) + s.slice(at + 1);
        break;
      case 3:
        s = lines.filter((_, i) => i !== line).join('\n');
        break;
      case 4:
        s = [...lines.slice(0, line), lines[line]!, ...lines.slice(line)].join('\n');
        break;
      case 5:
        s = s.slice(0, at);
        break;
      default: {
        const from = int(r, s.length);
        s = s.slice(0, at) + s.slice(from, from + int(r, 12)) + s.slice(at);
      }
    }
  }
  return s;
}

// ---- IKE shapes ---------------------------------------------------------------------------------

const IKE_HEADER = 28;
const SK = 46;
const SKF = 53;

/** Fields inside one payload body at `at` (absolute), of type `type`, `len` bytes. */
function bodyFields(b: Uint8Array, type: number, at: number, len: number, out: Field[]): void {
  const end = Math.min(at + len, b.length);
  if (type === 33) {
    // SA: proposals, each with its transforms (RFC 7296 §3.3.1)
    for (let p = at; p + 8 <= end; ) {
      const plen = (b[p + 2]! << 8) | b[p + 3]!;
      out.push({ at: p + 2, size: 2, kind: 'length' }, { at: p + 6, size: 1, kind: 'length' }, { at: p + 7, size: 1, kind: 'count' });
      for (let t = p + 8 + b[p + 6]!; t + 8 <= Math.min(p + plen, end); ) {
        const tlen = (b[t + 2]! << 8) | b[t + 3]!;
        out.push({ at: t + 2, size: 2, kind: 'length' }, { at: t + 4, size: 1, kind: 'type' });
        if (tlen < 8) break;
        t += tlen;
      }
      if (plen < 8) break;
      p += plen;
    }
  } else if (type === 44 || type === 45) {
    // TSi/TSr: count, then selectors with their own length (§3.13.1)
    out.push({ at, size: 1, kind: 'count' });
    for (let s = at + 4; s + 4 <= end; ) {
      const slen = (b[s + 2]! << 8) | b[s + 3]!;
      out.push({ at: s, size: 1, kind: 'type' }, { at: s + 2, size: 2, kind: 'length' });
      if (slen < 4) break;
      s += slen;
    }
  } else if (type === 42 && at + 4 <= end) {
    // D: SPI size and the number of SPIs (§3.11)
    out.push({ at: at + 1, size: 1, kind: 'length' }, { at: at + 2, size: 2, kind: 'count' });
  } else if (type === 41 && at + 4 <= end) {
    // N: SPI size (§3.10)
    out.push({ at: at + 1, size: 1, kind: 'length' }, { at: at + 2, size: 2, kind: 'type' });
  } else if ((type === 35 || type === 36 || type === 39) && at < end) {
    out.push({ at, size: 1, kind: 'type' });
  } else if (type === 34 && at + 2 <= end) {
    out.push({ at, size: 2, kind: 'type' });
  }
}

/**
 * The fields of a generic payload chain starting at `at` with type `first`: each generic header's
 * next-payload and length, and the inner fields of each body. Stops where the chain stops making
 * sense (it is a mutant, after all) and at SK, whose body is ciphertext.
 */
export function chainShape(b: Uint8Array, first: number, at = 0): Field[] {
  const out: Field[] = [];
  for (let type = first, p = at, n = 0; type !== 0 && p + 4 <= b.length && n < 64; n++) {
    const len = (b[p + 2]! << 8) | b[p + 3]!;
    out.push({ at: p, size: 1, kind: 'next' }, { at: p + 2, size: 2, kind: 'length' });
    if (type === SK || type === SKF || len < 4) break;
    bodyFields(b, type, p + 4, len - 4, out);
    type = b[p]!;
    p += len;
  }
  return out;
}

/** A whole IKE message: the header's next payload, exchange type and length, then the chain. */
export function ikeShape(b: Uint8Array): Field[] {
  if (b.length < IKE_HEADER) return [];
  return [
    { at: 16, size: 1, kind: 'next' },
    { at: 18, size: 1, kind: 'type' },
    { at: 24, size: 4, kind: 'length' },
    { at: 20, size: 4, kind: 'count' }, // the message ID: huge and zero IDs go through the window
    ...chainShape(b, b[16]!, IKE_HEADER),
  ];
}

/** Put the datagram's length into the IKE header (a mutant then gets past the first check). */
export function fixIkeLength(b: Uint8Array): void {
  if (b.length >= IKE_HEADER) new DataView(b.buffer, b.byteOffset).setUint32(24, b.length);
}

/** A payload body alone (what a payload decoder is given): its type's inner fields. */
export function bodyShape(type: number): (b: Uint8Array) => Field[] {
  return (b) => {
    const out: Field[] = [];
    bodyFields(b, type, 0, b.length, out);
    return out;
  };
}

export function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

export const toHex = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.length).toString('hex');
