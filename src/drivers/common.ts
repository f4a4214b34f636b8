import type { DriverEvent, DriverEventHandler } from './driver.js';
import type { SaSpec, SaCounters } from '../sa/types.js';
import { KeylineError } from '../wire/errors.js';

/** Drop counters by reason: the one place every driver counts what it threw away. */
export class DropCounters {
  readonly byReason: Record<string, number> = {};
  bump(reason: string): void {
    this.byReason[reason] = (this.byReason[reason] ?? 0) + 1;
  }
}

export const newCounters = (): SaCounters => ({ packets: 0, bytes: 0, drops: {} });

export function bumpDrop(c: SaCounters, reason: string): void {
  c.drops[reason] = (c.drops[reason] ?? 0) + 1;
}

/** Fan-out for driver events; handlers that throw are isolated from each other and the driver. */
export class EventHub {
  private readonly handlers: DriverEventHandler[] = [];
  on(h: DriverEventHandler): void {
    this.handlers.push(h);
  }
  emit(e: DriverEvent): void {
    for (const h of this.handlers) {
      try {
        h(e);
      } catch {
        // An agent bug must not stop the packet path; the agent logs its own failures.
      }
    }
  }
}

/**
 * Pick a random inbound SPI outside the IANA-reserved 1..255 (RFC 4303 §2.1) and not in use.
 * Random rather than sequential so SPIs say nothing about how many SAs exist.
 */
export function pickSpi(random32: () => number, inUse: (spi: number) => boolean): number {
  for (let i = 0; i < 64; i++) {
    const spi = random32() >>> 0;
    if (spi >= 256 && !inUse(spi)) return spi;
  }
  throw new KeylineError('SPI_EXHAUSTED', 'no free SPI after 64 random tries');
}

/** Sanity checks every driver applies before installing an SA (a programmer error otherwise). */
export function checkSpec(sa: SaSpec, maxReplay: number): void {
  if (sa.spi < 256 || sa.spi > 0xffff_ffff) throw new KeylineError('BAD_SA', `SPI ${sa.spi} outside 256..2^32-1`);
  if (sa.replayWindow < 0 || sa.replayWindow > maxReplay) {
    throw new KeylineError('BAD_SA', `replay window ${sa.replayWindow} outside 0..${maxReplay}`);
  }
}

/**
 * Lifetime bookkeeping shared by drivers that count packets themselves: soft fires once (rekey
 * now), hard once (the SA is gone). Sequence-number exhaustion counts as a limit too.
 */
export interface LifeState {
  readonly spec: SaSpec;
  readonly counters: SaCounters;
  readonly addedAt: number;
  softFired: boolean;
}

export function limitReached(s: LifeState, which: 'soft' | 'hard', now: number): string | undefined {
  const l = which === 'soft' ? s.spec.soft : s.spec.hard;
  if (l.packets !== undefined && s.counters.packets >= l.packets) return `${s.counters.packets} packets`;
  if (l.bytes !== undefined && s.counters.bytes >= l.bytes) return `${s.counters.bytes} bytes`;
  if (l.seconds !== undefined && now - s.addedAt >= l.seconds * 1000) return `${Math.round((now - s.addedAt) / 1000)} s`;
  return undefined;
}
