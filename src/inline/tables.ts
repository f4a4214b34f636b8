/**
 * Bounded tables of inline keying. Each has a named cap (limits.ts INLINE_LIMITS) and never
 * grows past it: the replay cache refuses when full (evicting early would reopen replays), the
 * tombstone table forgets its oldest entry.
 */

/** Keys remembered until a deadline (seconds or milliseconds, the caller's unit), at most `cap`. */
export class ExpiringSet {
  private readonly until = new Map<string, number>();
  constructor(private readonly cap: number) {}

  get size(): number {
    return this.until.size;
  }

  has(key: string, now: number): boolean {
    const u = this.until.get(key);
    return u !== undefined && u >= now;
  }

  /** 'full' when the cap is reached by entries that have not expired yet. */
  add(key: string, deadline: number, now: number): 'ok' | 'full' {
    if (this.until.size >= this.cap) this.prune(now);
    if (this.until.size >= this.cap) return 'full';
    this.until.set(key, deadline);
    return 'ok';
  }

  /** Entries arrive roughly in deadline order; a full pass only when the front is not expired. */
  prune(now: number): void {
    for (const [k, u] of this.until) {
      if (u >= now) break;
      this.until.delete(k);
    }
    if (this.until.size < this.cap) return;
    for (const [k, u] of this.until) if (u < now) this.until.delete(k);
  }
}

export interface Tombstone {
  readonly reqid: number;
  readonly until: number;
  lastRetire: number;
}

/** SPIs of removed inline SAs, remembered so that a late user of one can be told (RETIRE). */
export class Tombstones {
  private readonly map = new Map<number, Tombstone>();
  constructor(private readonly cap: number) {}

  get size(): number {
    return this.map.size;
  }

  add(spi: number, reqid: number, until: number): void {
    this.map.delete(spi);
    if (this.map.size >= this.cap) this.map.delete(this.map.keys().next().value!);
    this.map.set(spi, { reqid, until, lastRetire: -Infinity });
  }

  get(spi: number, now: number): Tombstone | undefined {
    const t = this.map.get(spi);
    if (t && t.until < now) {
      this.map.delete(spi);
      return undefined;
    }
    return t;
  }

  delete(spi: number): void {
    this.map.delete(spi);
  }

  dropReqid(reqid: number): void {
    for (const [spi, t] of this.map) if (t.reqid === reqid) this.map.delete(spi);
  }
}
