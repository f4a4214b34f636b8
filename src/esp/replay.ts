import { LIMITS } from '../limits.js';

/**
 * Anti-replay sliding window (RFC 4303 §3.4.3) kept as a ring of 32-bit blocks in the style of
 * RFC 6479: the ring holds one block more than the window, so moving the window forward clears
 * whole blocks instead of shifting bits. Works on 64-bit sequence numbers (JS numbers: exact up
 * to 2^53, far beyond what an SA can send before its hard limit).
 *
 * Receive order (STYLE.md §8): `infer` (ESN high bits) → `check` → authenticate and decrypt →
 * `commit`. Nothing changes before the packet authenticated.
 */
export class ReplayWindow {
  /** Highest sequence number committed so far (0: none yet). */
  private top = 0;
  private readonly ring: Uint32Array;
  private readonly mask: number;

  constructor(readonly size: number) {
    if (!Number.isInteger(size) || size < 0 || size > LIMITS.replayWindowMax) {
      throw new RangeError(`replay window ${size} outside 0..${LIMITS.replayWindowMax}`);
    }
    // One extra block so the block holding `top` never overlaps the oldest in-window block.
    // Ring length is a power of two so indices are a mask, not a division.
    let blocks = 1;
    while (blocks * 32 < size + 32) blocks *= 2;
    this.ring = new Uint32Array(blocks);
    this.mask = blocks - 1;
  }

  get highest(): number {
    return this.top;
  }

  /**
   * The full 64-bit sequence number for a received low half (RFC 4303 Appendix A.2.2). Without
   * ESN the high half is always 0.
   */
  infer(seqLo: number, esn: boolean): number {
    if (!esn) return seqLo;
    // With anti-replay off (manual keys) infer against half the space: a sender that restarted
    // at 1 stays in the current block instead of being pushed into the next one.
    const w = this.size > 0 ? this.size : 0x8000_0000;
    const th = Math.floor(this.top / 0x1_0000_0000);
    const tl = this.top % 0x1_0000_0000;
    let hi: number;
    if (tl >= w - 1) {
      // Window within one 2^32 block: below the window means the next block.
      hi = seqLo >= tl - w + 1 ? th : th + 1;
    } else {
      // Window straddles a block boundary: a large seqLo belongs to the previous block.
      hi = seqLo >= 0x1_0000_0000 + tl - w + 1 ? th - 1 : th;
    }
    if (hi < 0) return seqLo; // only possible right after start; `check` decides.
    return hi * 0x1_0000_0000 + seqLo;
  }

  /** Whether `seq` is new and not older than the window. Does not change state. */
  check(seq: number): boolean {
    if (seq === 0) return false; // ESP sequence numbers start at 1 (RFC 4303 §3.3.3)
    if (this.size === 0) return true;
    if (seq > this.top) return true;
    if (seq + this.size <= this.top) return false;
    return (this.ring[this.block(seq)]! & this.bit(seq)) === 0;
  }

  /** Record an authenticated packet. Call only after `check` and a verified ICV. */
  commit(seq: number): void {
    if (this.size === 0) {
      if (seq > this.top) this.top = seq;
      return;
    }
    if (seq > this.top) {
      const from = Math.floor(this.top / 32);
      const to = Math.floor(seq / 32);
      // Clear the blocks the window moves into; at most the whole ring.
      const n = Math.min(to - from, this.ring.length);
      for (let i = 1; i <= n; i++) this.ring[(from + i) & this.mask] = 0;
      this.top = seq;
    }
    this.ring[this.block(seq)]! |= this.bit(seq);
  }

  private block(seq: number): number {
    return Math.floor(seq / 32) & this.mask;
  }

  private bit(seq: number): number {
    return 1 << (seq % 32);
  }
}
