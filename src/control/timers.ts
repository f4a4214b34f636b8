import type { Clock, Timer } from '../util/clock.js';

/**
 * A clock that remembers when its rekey timers are due, for `keyline show` ("rekey in
 * 41m"). The IKE engine names its timers `<sa> ike-rekey` and `<sa> <spi-in> child-rekey` (see
 * engine.ts and tasks/child.ts); the key here is a name's last two words, which an IKE rekey
 * moving a child to another IKE SA does not change. Only pending timers are kept: an entry goes
 * when its timer fires or is cancelled, so the map is bounded by the live SAs.
 */
const RECORDED = new Set(['ike-rekey', 'child-rekey']);

export const timerKey = (name: string): string => name.split(' ').slice(-2).join(' ');

export class TimerBook implements Clock {
  private readonly due = new Map<string, { at: number; id: number }>();
  private seq = 0;

  constructor(private readonly inner: Clock) {}

  now(): number {
    return this.inner.now();
  }

  after(ms: number, name: string, fn: () => void): Timer {
    const last = name.slice(name.lastIndexOf(' ') + 1);
    if (!RECORDED.has(last)) return this.inner.after(ms, name, fn);
    const key = timerKey(name);
    const id = ++this.seq;
    this.due.set(key, { at: this.inner.now() + ms, id });
    const forget = () => {
      if (this.due.get(key)?.id === id) this.due.delete(key);
    };
    const t = this.inner.after(ms, name, () => {
      forget();
      fn();
    });
    return {
      cancel: () => {
        forget();
        t.cancel();
      },
    };
  }

  /** When the timer with this key (see timerKey) fires, on this clock; undefined if none is pending. */
  dueAt(key: string): number | undefined {
    return this.due.get(key)?.at;
  }

  get size(): number {
    return this.due.size;
  }
}
