import { KeylineError } from '../wire/errors.js';
import { LIMITS } from '../limits.js';
import type { Direction } from './types.js';

/**
 * Security Association Database, generic over the per-SA record so that every driver keeps its
 * own runtime state (cipher objects, replay windows) under one set of rules: inbound keyed by
 * SPI, outbound keyed by SPI and grouped by reqid, where the newest outbound SA of a reqid
 * carries the traffic (make-before-break: a rekey adds the new SA, traffic moves at once, the
 * old one is deleted later). One cap over both directions.
 */
export interface SadEntry {
  readonly spec: { readonly spi: number; readonly dir: Direction; readonly reqid: number };
}

export class Sad<T extends SadEntry> {
  private readonly inbound = new Map<number, T>();
  private readonly outbound = new Map<number, T>();
  /** reqid -> outbound SAs in installation order; the last is current. */
  private readonly byReqid = new Map<number, T[]>();

  constructor(private readonly cap: number = LIMITS.sadMax) {}

  get size(): number {
    return this.inbound.size + this.outbound.size;
  }

  add(sa: T): void {
    const { spi, dir, reqid } = sa.spec;
    const table = dir === 'in' ? this.inbound : this.outbound;
    if (table.has(spi)) throw new KeylineError('SA_EXISTS', `${dir}bound SA with SPI ${spiText(spi)} already installed`);
    if (this.size >= this.cap) throw new KeylineError('SAD_FULL', `SAD full (${this.cap} SAs)`);
    table.set(spi, sa);
    if (dir === 'out') {
      const group = this.byReqid.get(reqid) ?? [];
      group.push(sa);
      this.byReqid.set(reqid, group);
    }
  }

  get(dir: Direction, spi: number): T | undefined {
    return (dir === 'in' ? this.inbound : this.outbound).get(spi);
  }

  /** The outbound SA that carries traffic for a reqid: the newest installed. */
  current(reqid: number): T | undefined {
    const g = this.byReqid.get(reqid);
    return g?.[g.length - 1];
  }

  delete(dir: Direction, spi: number): T | undefined {
    const table = dir === 'in' ? this.inbound : this.outbound;
    const sa = table.get(spi);
    if (!sa) return undefined;
    table.delete(spi);
    if (dir === 'out') {
      const g = (this.byReqid.get(sa.spec.reqid) ?? []).filter((x) => x !== sa);
      if (g.length) this.byReqid.set(sa.spec.reqid, g);
      else this.byReqid.delete(sa.spec.reqid);
    }
    return sa;
  }

  hasSpi(spi: number): boolean {
    return this.inbound.has(spi);
  }

  *all(): IterableIterator<T> {
    yield* this.inbound.values();
    yield* this.outbound.values();
  }
}

export const spiText = (spi: number): string => '0x' + spi.toString(16).padStart(8, '0');
