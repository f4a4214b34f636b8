import type { Driver, DriverEventHandler, DriverFeatures, SaUpdate } from '../driver.js';
import type { Direction, Endpoint, Policy, SaCounters, SaSpec } from '../../sa/types.js';
import { KeylineError } from '../../wire/errors.js';
import { Sad, spiText } from '../../sa/sad.js';
import { Spd } from '../../sa/spd.js';
import { parseIp } from '../../sa/ip.js';
import { matches } from '../../sa/selector.js';
import { equalCT } from '../../wire/bytes.js';
import { LIMITS } from '../../limits.js';
import { systemClock, type Clock } from '../../util/clock.js';
import { bumpDrop, checkSpec, DropCounters, EventHub, limitReached, newCounters, pickSpi, type LifeState } from '../common.js';

interface MemSa extends LifeState {
  softFired: boolean;
  /** The outer endpoint as last set (install or updateSa), for tests to inspect. */
  remote?: Endpoint;
}

/**
 * A driver that keeps SAs and policies in memory and moves plaintext packets to a linked peer
 * driver, delivering only when the peer holds an inbound SA with the same SPI, suite and keys.
 * It does no cryptography: it exists so that IKE and inline-keying tests can check what was
 * installed, and that both sides derived the same keys, at memory speed.
 */
export class MemoryDriver implements Driver {
  readonly name = 'memory';
  readonly features: DriverFeatures = { inlineKeying: false, esn: true, maxReplayWindow: LIMITS.replayWindowMax };
  readonly sad = new Sad<MemSa>();
  readonly spd = new Spd();
  readonly dropped = new DropCounters();
  /** Packets delivered to this side's host, in order. */
  readonly delivered: Uint8Array[] = [];
  private readonly events = new EventHub();
  private peer: MemoryDriver | undefined;
  private nextSpi = 0x1000;

  constructor(private readonly clock: Clock = systemClock) {}

  /** Connect two memory drivers back to back. */
  static link(a: MemoryDriver, b: MemoryDriver): void {
    a.peer = b;
    b.peer = a;
  }

  async allocSpi(): Promise<number> {
    // Deterministic on purpose: tests read SPIs in expected output.
    return pickSpi(() => this.nextSpi++, (spi) => this.sad.hasSpi(spi));
  }

  async addSa(spec: SaSpec): Promise<void> {
    checkSpec(spec, this.features.maxReplayWindow);
    this.sad.add({ spec, counters: newCounters(), addedAt: this.clock.now(), softFired: false, remote: spec.remote });
  }

  async updateSa(dir: Direction, spi: number, change: SaUpdate): Promise<void> {
    const sa = this.sad.get(dir, spi);
    if (!sa) throw new KeylineError('NO_SA', `no ${dir}bound SA ${spiText(spi)}`);
    if (change.remote) sa.remote = change.remote;
  }

  async deleteSa(dir: Direction, spi: number): Promise<void> {
    this.sad.delete(dir, spi);
  }

  async addPolicy(p: Policy): Promise<void> {
    this.spd.add(p);
  }

  async deletePolicy(id: number): Promise<void> {
    this.spd.delete(id);
  }

  counters(dir: Direction, spi: number): SaCounters | undefined {
    return this.sad.get(dir, spi)?.counters;
  }

  drops(): Readonly<Record<string, number>> {
    return this.dropped.byReason;
  }

  onEvent(h: DriverEventHandler): void {
    this.events.on(h);
  }

  async close(): Promise<void> {
    this.peer = undefined;
  }

  /** The host sends an IP packet: policy → current outbound SA → the linked peer. */
  send(packet: Uint8Array): boolean {
    const ip = parseIp(packet);
    if (!ip) return this.drop('bad-inner');
    const p = this.spd.lookup(ip);
    if (!p || p.action !== 'protect') return this.drop(p ? 'discard-policy' : 'no-policy');
    const sa = this.sad.current(p.reqid);
    if (!sa) {
      this.events.emit({ type: 'acquire', reqid: p.reqid, policyId: p.id, selector: p.selector });
      return this.drop('no-sa');
    }
    this.account(sa, packet.length);
    return this.peer?.receive(sa.spec, packet.slice()) ?? this.drop('no-peer');
  }

  private receive(out: SaSpec, packet: Uint8Array): boolean {
    const sa = this.sad.get('in', out.spi);
    if (!sa) return this.drop('unknown-spi');
    if (!sameKeys(sa.spec, out)) return bumpDrop(sa.counters, 'auth'), false;
    const ip = parseIp(packet);
    if (!ip || !sa.spec.selectors.some((s) => matches(s, ip, true))) return bumpDrop(sa.counters, 'policy'), false;
    this.account(sa, packet.length);
    this.delivered.push(packet);
    return true;
  }

  private account(sa: MemSa, bytes: number): void {
    sa.counters.packets++;
    sa.counters.bytes += bytes;
    const now = this.clock.now();
    const hard = limitReached(sa, 'hard', now);
    const soft = !sa.softFired && !hard ? limitReached(sa, 'soft', now) : undefined;
    if (soft) sa.softFired = true;
    const why = hard ?? soft;
    if (!why) return;
    const { dir, spi, reqid } = sa.spec;
    if (hard) this.sad.delete(dir, spi);
    this.events.emit({ type: 'expire', dir, spi, reqid, hard: !!hard, why: `${spiText(spi)}: ${why}` });
  }

  private drop(reason: string): false {
    this.dropped.bump(reason);
    return false;
  }
}

function sameKeys(a: SaSpec, b: SaSpec): boolean {
  const integ = (x: SaSpec) => x.integKey ?? new Uint8Array(0);
  return a.suite === b.suite && a.esn === b.esn && equalCT(a.encKey, b.encKey) && equalCT(integ(a), integ(b));
}
