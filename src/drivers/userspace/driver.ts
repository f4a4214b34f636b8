import type { Driver, DriverEventHandler, DriverFeatures, SaUpdate } from '../driver.js';
import { KeylineError } from '../../wire/errors.js';
import type { Backend } from '../../crypto/types.js';
import type { Direction, Endpoint, Policy, SaCounters, SaSpec } from '../../sa/types.js';
import type { IpInfo } from '../../sa/ip.js';
import { Sad, spiText } from '../../sa/sad.js';
import { Spd } from '../../sa/spd.js';
import { prefixText } from '../../sa/selector.js';
import { NAT_KEEPALIVE } from '../../esp/udp.js';
import { LIMITS } from '../../limits.js';
import type { Transport } from '../../transport/transport.js';
import { systemClock, type Clock, type Timer } from '../../util/clock.js';
import { silentLogger, type Logger } from '../../util/log.js';
import { checkSpec, DropCounters, EventHub, limitReached, pickSpi } from '../common.js';
import { makeUserSa, type UserSa } from './sa-state.js';
import { inbound, outbound, transmit, type DatapathHost } from './datapath.js';
import { InlineEngine, INLINE_FLOW_REQID_BASE, type InlineOptions } from '../../inline/engine.js';
import type { Tunnel } from './tun/tunnel.js';

/** Routes into the tunnel, reference-counted (see tun/routes.ts). */
export interface Routes {
  add(prefix: string): Promise<void>;
  remove(prefix: string): Promise<void>;
  clear(): Promise<void>;
}

export interface UserspaceOptions {
  /** One per address family the agent listens on; ESP goes out on the one matching the peer. */
  transports: Transport[];
  tunnel: Tunnel;
  backend: Backend;
  routes?: Routes;
  clock?: Clock;
  log?: Logger;
  /** Random 32-bit numbers for SPI allocation (injected so tests are deterministic). */
  random32?: () => number;
  /** IKE messages arriving on the ESP port go here; without a handler they are counted and dropped. */
  onIke?: (data: Uint8Array, from: Endpoint, via: Transport) => void;
  /** NAT keepalive interval (RFC 3948 §4); 0 turns keepalives off. */
  keepaliveMs?: number;
  /** Minimum spacing of acquire events per reqid, so a traffic burst starts one negotiation. */
  acquireHoldMs?: number;
}

/**
 * keyline's own ESP engine behind the driver seam: ESP-in-UDP on the outer side, a tunnel (TUN
 * through the socat bridge, or memory in tests) on the inner side.
 */
export class UserspaceDriver implements Driver, DatapathHost {
  readonly name = 'userspace';
  readonly features: DriverFeatures = { inlineKeying: true, esn: true, maxReplayWindow: LIMITS.replayWindowMax };
  readonly sad = new Sad<UserSa>();
  readonly spd = new Spd();
  readonly dropped = new DropCounters();
  readonly backend: Backend;
  private readonly events = new EventHub();
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly random32: () => number;
  private readonly acquiredAt = new Map<number, number>();
  private tick: Timer | undefined;
  private closed = false;
  inline: InlineEngine | undefined;

  constructor(private readonly opts: UserspaceOptions) {
    this.backend = opts.backend;
    this.clock = opts.clock ?? systemClock;
    this.log = opts.log ?? silentLogger;
    this.random32 = opts.random32 ?? (() => new DataView(opts.backend.randomBytes(4).buffer).getUint32(0));
    opts.tunnel.onPacket((p) => this.guard(() => outbound(this, p)));
    for (const t of opts.transports) t.onDatagram((d, from) => this.guard(() => inbound(this, d, from, t)));
    this.schedule();
  }

  /** Last line of defence: a bug on the packet path costs one packet, never the process. */
  private guard(fn: () => void): void {
    try {
      fn();
    } catch (e) {
      this.dropped.bump('internal');
      this.log.error(`userspace: packet handler failed: ${(e as Error).message}`);
    }
  }

  // --- Driver ---------------------------------------------------------------------------------

  async allocSpi(): Promise<number> {
    return this.allocSpiNow();
  }

  allocSpiNow(): number {
    return pickSpi(this.random32, (spi) => this.sad.hasSpi(spi) || this.inline?.ownsSpi(spi) === true);
  }

  /** Turn on inline keying (src/inline/README.md) on this data path; parents are added to it. */
  enableInline(opts: InlineOptions): InlineEngine {
    this.inline ??= new InlineEngine(
      {
        sad: this.sad,
        backend: this.backend,
        now: () => this.clock.now(),
        allocSpiNow: () => this.allocSpiNow(),
        transmit: (sa, next, payload, innerLen) => transmit(this, sa, next, payload, innerLen),
        sendRaw: (esp, remote) => {
          const t = this.transportFor(remote);
          t?.send(esp, remote);
          return t !== undefined;
        },
        deliver: (p) => this.deliver(p),
        drop: (reason) => this.dropped.bump(reason),
      },
      opts,
    );
    return this.inline;
  }

  async addSa(spec: SaSpec): Promise<void> {
    checkSpec(spec, this.features.maxReplayWindow);
    this.sad.add(makeUserSa(spec, this.backend, this.clock.now()));
    this.log.debug(`${spec.peer}: SA ${spec.dir} ${spiText(spec.spi)} ${spec.suite} ${spec.mode} installed`);
  }

  async updateSa(dir: Direction, spi: number, change: SaUpdate): Promise<void> {
    const sa = this.sad.get(dir, spi);
    if (!sa) throw new KeylineError('NO_SA', `no ${dir}bound SA ${spiText(spi)}`);
    if (change.remote) sa.remote = { addr: change.remote.addr, port: change.remote.port };
  }

  async deleteSa(dir: Direction, spi: number): Promise<void> {
    const sa = this.sad.delete(dir, spi);
    if (sa) this.log.debug(`${sa.spec.peer}: SA ${dir} ${spiText(spi)} deleted`);
  }

  async addPolicy(p: Policy): Promise<void> {
    this.spd.add(p);
    // Routes follow 'protect' policies, not SAs: the route must exist before the first SA so
    // that traffic reaches the tunnel and can trigger an acquire, and keeping it while no SA is
    // up means that traffic is dropped here instead of leaking out of the WAN in the clear.
    if (p.action === 'protect') await this.opts.routes?.add(prefixText(p.selector.remote));
  }

  async deletePolicy(id: number): Promise<void> {
    const p = this.spd.all().find((x) => x.id === id);
    if (!p || !this.spd.delete(id)) return;
    this.acquiredAt.delete(p.reqid); // bounded by the installed policies, not by history
    if (p.action === 'protect') await this.opts.routes?.remove(prefixText(p.selector.remote));
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
    if (this.closed) return;
    this.closed = true;
    this.tick?.cancel();
    this.inline?.close();
    await this.opts.routes?.clear();
    await this.opts.tunnel.close();
    await Promise.all(this.opts.transports.map((t) => t.close()));
  }

  // --- DatapathHost ---------------------------------------------------------------------------

  now(): number {
    return this.clock.now();
  }

  transportFor(remote: Endpoint): Transport | undefined {
    const fam = remote.addr.includes(':') ? 6 : 4;
    return this.opts.transports.find((t) => t.family === fam);
  }

  deliver(packet: Uint8Array): void {
    this.opts.tunnel.write(packet);
  }

  ike(data: Uint8Array, from: Endpoint, via: Transport): void {
    if (this.opts.onIke) this.opts.onIke(data, from, via);
    else this.dropped.bump('ike-unhandled');
  }

  acquire(policy: Policy, ip: IpInfo): void {
    const now = this.clock.now();
    const last = this.acquiredAt.get(policy.reqid);
    if (last !== undefined && now - last < (this.opts.acquireHoldMs ?? 1000)) return;
    this.acquiredAt.set(policy.reqid, now);
    this.events.emit({ type: 'acquire', reqid: policy.reqid, policyId: policy.id, selector: policy.selector });
    this.log.debug(`acquire: reqid ${policy.reqid} for ${ip.version === 4 ? 'IPv4' : 'IPv6'} proto ${ip.proto}`);
  }

  moved(spi: number, remote: Endpoint): void {
    this.events.emit({ type: 'moved', spi, remote });
  }

  checkLimits(sa: UserSa): void {
    const now = this.clock.now();
    const hard = limitReached(sa, 'hard', now);
    if (hard) return this.expire(sa, true, hard);
    if (!sa.softFired) {
      const soft = limitReached(sa, 'soft', now) ?? this.seqSoft(sa);
      if (soft) {
        sa.softFired = true;
        this.expire(sa, false, soft);
      }
    }
  }

  seqExhausted(sa: UserSa): void {
    this.dropped.bump('seq-exhausted');
    this.expire(sa, true, 'sequence numbers exhausted');
  }

  private seqSoft(sa: UserSa): string | undefined {
    if (!sa.send) return undefined;
    const soft = sa.spec.esn ? LIMITS.seqSoftEsn : LIMITS.seqSoftNoEsn;
    return sa.send.seq >= soft ? `sequence number ${sa.send.seq}` : undefined;
  }

  private expire(sa: UserSa, hard: boolean, why: string): void {
    const { dir, spi, reqid, peer } = sa.spec;
    this.log.info(`${peer}: SA ${dir} ${spiText(spi)} ${hard ? 'hard' : 'soft'} limit: ${why}`);
    if (hard) this.sad.delete(dir, spi);
    this.events.emit({ type: 'expire', dir, spi, reqid, hard, why });
  }

  /** One timer for time-based lifetimes and NAT keepalives, not one per SA. */
  private schedule(): void {
    this.tick = this.clock.after(LIMITS.lifetimeTickMs, 'userspace-tick', () => {
      if (this.closed) return;
      const now = this.clock.now();
      const keepalive = this.opts.keepaliveMs ?? LIMITS.natKeepaliveMs;
      for (const sa of [...this.sad.all()]) {
        this.checkLimits(sa);
        // Inline flows share their carrier's path: the carrier's keepalive holds the NAT mapping.
        const flow = sa.spec.reqid >= INLINE_FLOW_REQID_BASE;
        if (keepalive > 0 && !flow && sa.send && now - sa.lastSentAt >= keepalive && this.sad.current(sa.spec.reqid) === sa) {
          this.transportFor(sa.remote)?.send(NAT_KEEPALIVE, sa.remote);
          sa.lastSentAt = now;
        }
      }
      this.schedule();
    });
  }
}
