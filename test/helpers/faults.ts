import type { Endpoint } from '../../src/sa/types.js';
import type { Transport } from '../../src/transport/transport.js';

/**
 * Deterministic faults for data-plane tests: every `every`-th datagram gets one treatment, in
 * turn: replayed (sent twice), corrupted (one bit flipped), or held back and sent after the
 * next one (reordered). Counts what it did so tests can check the receiver's drop counters.
 */
export class FaultPlan {
  replayed = 0;
  corrupted = 0;
  reordered = 0;
  private n = 0;
  private held: Uint8Array | undefined;

  constructor(private readonly every: number) {}

  apply(d: Uint8Array): Uint8Array[] {
    if (d.length < 20) return [d]; // keepalives and the like pass untouched
    const out: Uint8Array[] = [];
    const release = this.held;
    this.held = undefined;
    const faulted = this.n++ % this.every === this.every - 1;
    const kind = faulted ? (this.replayed + this.corrupted + this.reordered) % 3 : -1;
    if (kind === 0) {
      out.push(d, d.slice());
      this.replayed++;
    } else if (kind === 1) {
      const bad = d.slice();
      bad[bad.length - 5]! ^= 0x10;
      out.push(bad, d); // the corrupted copy first, then the real one
      this.corrupted++;
    } else if (kind === 2) {
      this.held = d; // goes out after the next datagram
      this.reordered++;
    } else {
      out.push(d);
    }
    if (release) out.push(release);
    return out;
  }

  flush(): Uint8Array[] {
    const h = this.held;
    this.held = undefined;
    return h ? [h] : [];
  }
}

/** Wrap a transport so that every datagram it sends passes through a fault plan. */
export function faulty(t: Transport, plan: FaultPlan): Transport & { flush(to: Endpoint): void } {
  return {
    get local() {
      return t.local;
    },
    get family() {
      return t.family;
    },
    get sendErrors() {
      return t.sendErrors;
    },
    send: (d, to) => plan.apply(d).forEach((x) => t.send(x, to)),
    flush: (to) => plan.flush().forEach((x) => t.send(x, to)),
    onDatagram: (cb) => t.onDatagram(cb),
    close: () => t.close(),
  };
}
