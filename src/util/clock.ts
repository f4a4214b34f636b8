/**
 * Time and timers are injected (STYLE.md §10) so tests drive lifetimes, rekeys and
 * retransmissions with a fake clock instead of sleeping.
 */
export interface Timer {
  cancel(): void;
}

export interface Clock {
  /** Milliseconds, monotonic. */
  now(): number;
  /** Run `fn` after `ms`; the returned handle cancels it. Named, so fake clocks can list them. */
  after(ms: number, name: string, fn: () => void): Timer;
}

export const systemClock: Clock = {
  now: () => performance.now(),
  after(ms, _name, fn) {
    const h = setTimeout(fn, ms);
    h.unref?.();
    return { cancel: () => clearTimeout(h) };
  },
};

/** A clock for tests: time moves only when `advance` is called; due timers fire in order. */
export class FakeClock implements Clock {
  private t = 0;
  private seq = 0;
  private timers = new Map<number, { at: number; name: string; fn: () => void }>();

  now(): number {
    return this.t;
  }

  after(ms: number, name: string, fn: () => void): Timer {
    const id = ++this.seq;
    this.timers.set(id, { at: this.t + Math.max(0, ms), name, fn });
    return { cancel: () => this.timers.delete(id) };
  }

  /** Names of pending timers, for assertions. */
  pending(): string[] {
    return [...this.timers.values()].map((x) => x.name);
  }

  advance(ms: number): void {
    const end = this.t + ms;
    for (;;) {
      let next: [number, { at: number; fn: () => void }] | undefined;
      for (const e of this.timers) if (e[1].at <= end && (!next || e[1].at < next[1].at)) next = e;
      if (!next) break;
      this.timers.delete(next[0]);
      this.t = next[1].at;
      next[1].fn();
    }
    this.t = end;
  }
}
