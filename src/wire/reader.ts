import { MalformedError } from './errors.js';

/**
 * A bounds-checked cursor over a byte array. Every read checks first and throws MalformedError;
 * nothing reads past `end`. `sub(n)` hands a child reader the next n bytes (a payload body) so a
 * decoder can never run into its neighbour.
 */
export class Reader {
  private pos: number;
  private readonly end: number;

  constructor(
    readonly buf: Uint8Array,
    start = 0,
    end = buf.length,
  ) {
    if (start < 0 || end > buf.length || start > end) throw new MalformedError('reader range', end, buf.length);
    this.pos = start;
    this.end = end;
  }

  get offset(): number {
    return this.pos;
  }
  get left(): number {
    return this.end - this.pos;
  }

  need(n: number, what: string): void {
    if (n > this.end - this.pos) throw new MalformedError(what, n, this.end - this.pos);
  }

  u8(what = 'u8'): number {
    this.need(1, what);
    return this.buf[this.pos++]!;
  }

  u16(what = 'u16'): number {
    this.need(2, what);
    const b = this.buf;
    const v = (b[this.pos]! << 8) | b[this.pos + 1]!;
    this.pos += 2;
    return v;
  }

  u32(what = 'u32'): number {
    this.need(4, what);
    const b = this.buf;
    const p = this.pos;
    const v = ((b[p]! << 24) | (b[p + 1]! << 16) | (b[p + 2]! << 8) | b[p + 3]!) >>> 0;
    this.pos += 4;
    return v;
  }

  u64(what = 'u64'): bigint {
    const hi = this.u32(what);
    const lo = this.u32(what);
    return (BigInt(hi) << 32n) | BigInt(lo);
  }

  /** A view (not a copy) of the next n bytes. */
  bytes(n: number, what = 'bytes'): Uint8Array {
    if (n < 0) throw new MalformedError(what, 0, n);
    this.need(n, what);
    const v = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return v;
  }

  rest(): Uint8Array {
    return this.bytes(this.left, 'rest');
  }

  skip(n: number, what = 'skip'): void {
    this.need(n, what);
    this.pos += n;
  }

  /** A child reader over the next n bytes; this reader moves past them. */
  sub(n: number, what = 'sub'): Reader {
    this.need(n, what);
    const r = new Reader(this.buf, this.pos, this.pos + n);
    this.pos += n;
    return r;
  }
}
