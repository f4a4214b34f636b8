/**
 * The kernel driver (`driver=xfrm`): the Linux kernel does ESP, keyline only keys it through
 * `ip xfrm state/policy` (iproute2) and listens to `ip xfrm monitor` for soft/hard expires
 * (→ rekey) and acquires (→ on-traffic start). strongSwan's kernel-netlink plugin is the model;
 * netlink itself is out of reach from Node without a native module, iproute2 is not.
 *
 * NAT traversal: NOT supported. ESP is plain IP protocol 50. Sending ESP in UDP is easy (an SA
 * with `encap espinudp`), but the kernel only takes ESP-in-UDP *in* on a UDP socket that has
 * the UDP_ENCAP_ESPINUDP socket option (Linux xfrm4_udp_encap_rcv; strongSwan's socket-default
 * plugin sets it on its port-4500 socket). node:dgram cannot set socket options, and without it
 * the kernel hands ESP-in-UDP to keyline's socket as ordinary datagrams, which keyline cannot
 * feed back into the kernel. So the agent does not force encapsulation with this driver, and an
 * ESP-in-UDP datagram that still arrives (a NAT on the path, or a peer that forces it) is
 * counted as 'esp-in-udp', reported once per peer as an error event, and dropped.
 */
import type { Driver, DriverEventHandler, DriverFeatures, SaUpdate, SpiHint } from '../driver.js';
import type { Direction, Endpoint, Mode, Policy, SaCounters, SaSpec } from '../../sa/types.js';
import { classify } from '../../esp/udp.js';
import { LIMITS } from '../../limits.js';
import { Sad, spiText } from '../../sa/sad.js';
import { prefixText } from '../../sa/selector.js';
import type { Transport } from '../../transport/transport.js';
import { familyOf } from '../../transport/transport.js';
import { systemClock, type Clock, type Timer } from '../../util/clock.js';
import { silentLogger, type Logger } from '../../util/log.js';
import { KeylineError } from '../../wire/errors.js';
import { checkSpec, DropCounters, EventHub, newCounters, pickSpi } from '../common.js';
import * as cmd from './commands.js';
import type { IpCommand, Outer, PolicyDir } from './commands.js';
import { MonitorSplitter, parseMonitorMessage, parsePolicies, parseRouteSrc, parseStates, parseXfrmStat, type MonitorEvent } from './parse.js';
import { ipMonitor, ipRunner, type IpRunner, type Monitor, type MonitorSpawner } from './runner.js';
import { readFile } from 'node:fs/promises';

/** What the key file says about a connection's outer side, before any SA exists. */
export interface TunnelHint {
  /** The peer's address; undefined for `addr=any` (policies then wait for the first SA). */
  readonly remote?: string;
  readonly mode: Mode;
}

export interface XfrmOptions {
  readonly ip?: IpRunner;
  readonly monitor?: MonitorSpawner;
  /** /proc/net/xfrm_stat of our network namespace, for drops(). */
  readonly readStat?: () => Promise<string>;
  readonly log?: Logger;
  readonly clock?: Clock;
  readonly random32?: () => number;
  /** The NAT-T sockets (not port 500): IKE behind the non-ESP marker goes to onIke. */
  readonly transports?: readonly Transport[];
  readonly onIke?: (data: Uint8Array, from: Endpoint, via: Transport) => void;
  /** Every endpoint IKE listens on: UDP to and from these ports bypasses the protect policies. */
  readonly ikeEndpoints?: readonly Endpoint[];
  /** Per reqid: outer address and mode from the key file, so policies can go in before any SA. */
  readonly tunnels?: (reqid: number) => TunnelHint | undefined;
  /** Minimum spacing of acquire events per reqid (the kernel repeats them per flow). */
  readonly acquireHoldMs?: number;
}

interface KernelSa {
  readonly spec: SaSpec;
  /** Outer addresses as installed (wildcard local addresses resolved). */
  readonly outer: Outer;
  counters: SaCounters;
}

interface Installed {
  readonly policy: Policy;
  /** Kernel directions in place; undefined while waiting for the tunnel's endpoints. */
  dirs: PolicyDir[] | undefined;
}

const MONITOR_RESTART_MS = 1_000;
/** The monitor prints a message in one burst; a quiet moment this long ends the last one. */
const MONITOR_FLUSH_MS = 50;

const isWildcard = (addr: string) => addr === '0.0.0.0' || addr === '::';

export class XfrmDriver implements Driver {
  readonly name = 'xfrm';
  readonly features: DriverFeatures = { inlineKeying: false, esn: true, maxReplayWindow: LIMITS.replayWindowMax };
  readonly sad = new Sad<KernelSa>();
  readonly dropped = new DropCounters();
  private readonly policies = new Map<number, Installed>();
  /** SPIs reserved by allocspi: inbound SAs on them are `update`d, not `add`ed. */
  private readonly larval = new Map<number, Outer>();
  private readonly events = new EventHub();
  private readonly ip: IpRunner;
  private readonly log: Logger;
  private readonly clock: Clock;
  private readonly random32: () => number;
  private readonly sources = new Map<string, string>();
  private readonly acquiredAt = new Map<number, number>();
  private readonly warnedEncap = new Set<string>();
  private kernelDrops: Record<string, number> = {};
  private tail: Promise<unknown> = Promise.resolve();
  private monitor: Monitor | undefined;
  private flushTimer: Timer | undefined;
  private restartTimer: Timer | undefined;
  private closed = false;

  private constructor(private readonly opts: XfrmOptions) {
    this.ip = opts.ip ?? ipRunner();
    this.log = opts.log ?? silentLogger;
    this.clock = opts.clock ?? systemClock;
    this.random32 = opts.random32 ?? (() => (Math.random() * 0x1_0000_0000) >>> 0);
    for (const t of opts.transports ?? []) t.onDatagram((d, from) => this.datagram(d, from, t));
  }

  /**
   * Start the monitor, clear what a crashed run of ours left in the kernel (SAs and policies in
   * keyline's reqid range), and let IKE bypass the protect policies.
   */
  static async open(opts: XfrmOptions = {}): Promise<XfrmDriver> {
    const d = new XfrmDriver(opts);
    try {
      d.startMonitor(opts.monitor ?? ipMonitor());
      await d.clearLeftovers();
      for (const e of uniquePorts(opts.ikeEndpoints ?? [])) for (const c of cmd.bypassIke(e.family, e.port, 'update')) await d.run(c);
    } catch (e) {
      await d.close().catch(() => {});
      throw new KeylineError('XFRM', `driver=xfrm cannot work here: ${(e as Error).message} (the kernel needs xfrm_user, esp4/esp6: see README, driver=xfrm)`);
    }
    return d;
  }

  // --- Driver ---------------------------------------------------------------------------------

  async allocSpi(hint?: SpiHint): Promise<number> {
    const inUse = (spi: number) => this.sad.hasSpi(spi) || this.larval.has(spi);
    if (!hint) return pickSpi(this.random32, inUse);
    const outer = await this.outerOf('in', hint.local, hint.remote);
    const out = await this.run(cmd.allocSpi(outer, hint.reqid, hint.mode));
    const spi = parseStates(out)[0]?.spi;
    if (spi === undefined || spi < 256) throw new KeylineError('XFRM', `allocspi gave no usable SPI: ${out.trim()}`);
    this.larval.set(spi, outer);
    return spi;
  }

  async addSa(spec: SaSpec): Promise<void> {
    checkSpec(spec, this.features.maxReplayWindow);
    if (this.sad.get(spec.dir, spec.spi)) throw new KeylineError('SA_EXISTS', `${spec.dir}bound SA with SPI ${spiText(spec.spi)} already installed`);
    const outer = await this.outerOf(spec.dir, spec.local, spec.remote);
    await this.install(spec, outer);
    this.sad.add({ spec, outer, counters: newCounters() });
    this.log.debug(`${spec.peer}: kernel SA ${spec.dir} ${spiText(spec.spi)} ${spec.suite} ${spec.mode} ${outer.src} -> ${outer.dst}`);
    await this.placePending(spec.reqid);
  }

  async updateSa(dir: Direction, spi: number, change: SaUpdate): Promise<void> {
    const sa = this.sad.get(dir, spi);
    if (!sa) throw new KeylineError('NO_SA', `no ${dir}bound SA ${spiText(spi)}`);
    const remote = change.remote;
    // Plain ESP has no ports: a new port of the same peer changes nothing in the kernel.
    if (!remote || remote.addr === sa.spec.remote.addr) return;
    // The kernel cannot move an SA's addresses: replace it (same SPI and keys) and its policies.
    const spec: SaSpec = { ...sa.spec, remote };
    const outer = await this.outerOf(dir, spec.local, remote);
    await this.run(cmd.stateDelete(sa.outer, spi)).catch(() => {});
    this.sad.delete(dir, spi);
    await this.install(spec, outer);
    this.sad.add({ spec, outer, counters: sa.counters });
    this.log.info(`${spec.peer}: kernel SA ${dir} ${spiText(spi)} moved to ${remote.addr}`);
    for (const p of this.policies.values()) if (p.policy.reqid === spec.reqid && p.dirs) await this.place(p);
  }

  async deleteSa(dir: Direction, spi: number): Promise<void> {
    const sa = this.sad.delete(dir, spi);
    const reserved = dir === 'in' ? this.larval.get(spi) : undefined;
    if (!sa && reserved) {
      // A negotiation that failed after allocSpi: give the reservation back at once.
      this.larval.delete(spi);
      await this.run(cmd.stateDelete(reserved, spi)).catch(() => {});
      return;
    }
    if (!sa) return;
    // Gone already is fine: the kernel removes SAs at their hard limit by itself.
    await this.run(cmd.stateDelete(sa.outer, spi)).catch((e: Error) => {
      if (!/No such process|ESRCH/.test(e.message)) this.fail(`deleting SA ${dir} ${spiText(spi)}: ${e.message}`);
    });
    this.log.debug(`${sa.spec.peer}: kernel SA ${dir} ${spiText(spi)} deleted`);
  }

  async addPolicy(p: Policy): Promise<void> {
    const entry: Installed = { policy: p, dirs: undefined };
    this.policies.set(p.id, entry);
    await this.place(entry);
  }

  async deletePolicy(id: number): Promise<void> {
    const entry = this.policies.get(id);
    if (!entry) return;
    this.policies.delete(id);
    this.acquiredAt.delete(entry.policy.reqid);
    for (const c of cmd.policyDelete(entry.policy, entry.dirs ?? [])) await this.run(c).catch((e: Error) => this.fail(e.message));
  }

  counters(dir: Direction, spi: number): SaCounters | undefined {
    return this.sad.get(dir, spi)?.counters;
  }

  drops(): Readonly<Record<string, number>> {
    return { ...this.kernelDrops, ...this.dropped.byReason };
  }

  /** Counters from `ip -s xfrm state`, drops from /proc/net/xfrm_stat. */
  async refresh(): Promise<void> {
    const ours = new Map<string, KernelSa>();
    for (const sa of this.sad.all()) ours.set(`${sa.outer.dst}|${sa.spec.spi}`, sa);
    for (const k of parseStates(await this.run(cmd.stateList))) {
      const sa = ours.get(`${k.dst}|${k.spi}`);
      if (sa) sa.counters = { packets: k.packets, bytes: k.bytes, drops: dropsOf(k) };
    }
    const read = this.opts.readStat ?? (() => readFile('/proc/net/xfrm_stat', 'utf8').catch(() => ''));
    this.kernelDrops = parseXfrmStat(await read());
  }

  onEvent(h: DriverEventHandler): void {
    this.events.on(h);
  }

  /** Our SAs, policies and bypass policies out of the kernel; the monitor and sockets closed. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.restartTimer?.cancel();
    this.flushTimer?.cancel();
    this.monitor?.stop();
    for (const id of [...this.policies.keys()]) await this.deletePolicy(id);
    const sas = [...this.sad.all()].sort((a, b) => (a.spec.dir === b.spec.dir ? 0 : a.spec.dir === 'out' ? -1 : 1));
    for (const sa of sas) await this.deleteSa(sa.spec.dir, sa.spec.spi);
    for (const [spi, outer] of this.larval) await this.run(cmd.stateDelete(outer, spi)).catch(() => {});
    this.larval.clear();
    for (const e of uniquePorts(this.opts.ikeEndpoints ?? [])) for (const c of cmd.bypassIke(e.family, e.port, 'delete')) await this.run(c).catch(() => {});
    await Promise.all((this.opts.transports ?? []).map((t) => t.close()));
  }

  // --- kernel commands ------------------------------------------------------------------------

  /** One command at a time, in order: an SA's delete never overtakes its add. */
  private run(c: IpCommand): Promise<string> {
    const p = this.tail.then(() => this.ip(c));
    this.tail = p.catch(() => {});
    return p;
  }

  private async install(spec: SaSpec, outer: Outer): Promise<void> {
    const args: cmd.StateArgs = { ...spec, outer };
    const reserved = spec.dir === 'in' ? this.larval.get(spec.spi) : undefined;
    this.larval.delete(spec.spi);
    try {
      if (reserved && reserved.dst === outer.dst) {
        // The larval SA may have expired (30 s, net.core.xfrm_acq_expires): then add it afresh.
        await this.run(cmd.stateAdd(args, 'update')).catch(() => this.run(cmd.stateAdd(args, 'add')));
      } else await this.run(cmd.stateAdd(args, 'add'));
    } catch (e) {
      throw kernelError(e as Error, spec);
    }
  }

  /** Kernel policies for one keyline policy, once its tunnel's outer addresses are known. */
  private async place(entry: Installed): Promise<void> {
    const p = entry.policy;
    let tmpl: { outer: Outer; mode: Mode } | undefined;
    if (p.action === 'protect') {
      tmpl = await this.tunnelOf(p.reqid);
      if (!tmpl) {
        this.log.debug(`${p.peer}: policy ${p.id} waits for the first SA (no peer address yet)`);
        return;
      }
    }
    const cmds = cmd.policyAdd(p, tmpl);
    for (const c of cmds) await this.run(c);
    entry.dirs = cmds.map((c) => c.args[c.args.indexOf('dir') + 1] as PolicyDir);
  }

  private async placePending(reqid: number): Promise<void> {
    for (const e of this.policies.values()) if (!e.dirs && e.policy.reqid === reqid) await this.place(e);
  }

  /** Outer addresses and mode a policy's template names: from the newest SA, else the key file. */
  private async tunnelOf(reqid: number): Promise<{ outer: Outer; mode: Mode } | undefined> {
    const out = this.sad.current(reqid);
    if (out) return { outer: out.outer, mode: out.spec.mode };
    const inb = [...this.sad.all()].find((s) => s.spec.reqid === reqid);
    if (inb) return { outer: { src: inb.outer.dst, dst: inb.outer.src }, mode: inb.spec.mode };
    const hint = this.opts.tunnels?.(reqid);
    if (!hint?.remote) return undefined;
    return { outer: { src: await this.sourceFor(hint.remote), dst: hint.remote }, mode: hint.mode };
  }

  /** Kernel src/dst of an SA: ours is the destination of inbound SAs and the source of outbound. */
  private async outerOf(dir: Direction, local: Endpoint, remote: Endpoint): Promise<Outer> {
    const me = isWildcard(local.addr) ? await this.sourceFor(remote.addr) : local.addr;
    return dir === 'out' ? { src: me, dst: remote.addr } : { src: remote.addr, dst: me };
  }

  /** The address the kernel sends from towards `remote` (listen=0.0.0.0 gives no address). */
  private async sourceFor(remote: string): Promise<string> {
    const known = this.sources.get(remote);
    if (known) return known;
    const src = parseRouteSrc(await this.run(cmd.routeGet(remote)));
    if (!src) throw new KeylineError('XFRM', `no route to ${remote}: cannot tell which local address its SAs use`);
    this.sources.set(remote, src);
    return src;
  }

  private async clearLeftovers(): Promise<void> {
    for (const p of parsePolicies(await this.run(cmd.policyList))) {
      if (!p.kreqids.some((k) => cmd.ourReqid(k) !== undefined)) continue;
      await this.run({ args: ['xfrm', 'policy', 'delete', ...p.selector, 'dir', p.dir] }).catch(() => {});
    }
    for (const s of parseStates(await this.run(cmd.stateList))) {
      if (s.reqid === undefined) continue;
      await this.run(cmd.stateDelete(s, s.spi)).catch(() => {});
    }
  }

  // --- events ---------------------------------------------------------------------------------

  private startMonitor(spawn: MonitorSpawner): void {
    const splitter = new MonitorSplitter((lines) => this.onMonitor(lines));
    let ended = false;
    this.monitor = spawn(
      cmd.MONITOR_ARGS,
      (chunk) => {
        splitter.push(chunk);
        this.flushTimer?.cancel();
        this.flushTimer = this.clock.after(MONITOR_FLUSH_MS, 'xfrm-monitor-flush', () => splitter.flush());
      },
      (why) => {
        if (this.closed || ended) return;
        ended = true;
        this.fail(`ip xfrm monitor stopped: ${why}; restarting`);
        this.restartTimer = this.clock.after(MONITOR_RESTART_MS, 'xfrm-monitor-restart', () => !this.closed && this.startMonitor(spawn));
      },
    );
  }

  /** One monitor message; anything not about our SAs and policies is ignored. */
  private onMonitor(lines: readonly string[]): void {
    let ev: MonitorEvent | undefined;
    try {
      ev = parseMonitorMessage(lines);
    } catch {
      ev = undefined;
    }
    if (!ev) return;
    if (ev.type === 'expire') return this.onExpire(ev);
    const reqid = cmd.ourReqid(ev.kreqid);
    if (reqid === undefined || ev.dir !== 'out') return;
    this.dropped.bump('no-sa');
    const now = this.clock.now();
    const last = this.acquiredAt.get(reqid);
    if (last !== undefined && now - last < (this.opts.acquireHoldMs ?? 1000)) return;
    const entry = [...this.policies.values()].find(
      (e) => e.policy.reqid === reqid && prefixText(e.policy.selector.local) === ev.src && prefixText(e.policy.selector.remote) === ev.dst,
    ) ?? [...this.policies.values()].find((e) => e.policy.reqid === reqid);
    if (!entry) return;
    this.acquiredAt.set(reqid, now);
    this.log.debug(`acquire: reqid ${reqid} (${ev.src} -> ${ev.dst})`);
    this.events.emit({ type: 'acquire', reqid, policyId: entry.policy.id, selector: entry.policy.selector });
  }

  private onExpire(ev: Extract<MonitorEvent, { type: 'expire' }>): void {
    const sa = [...this.sad.all()].find((s) => s.spec.spi === ev.spi && s.outer.dst === ev.dst);
    if (!sa) {
      if (ev.hard) this.larval.delete(ev.spi); // an allocspi reservation nobody used
      return;
    }
    const { dir, spi, reqid, peer } = sa.spec;
    const why = `${spiText(spi)}: kernel ${ev.hard ? 'hard' : 'soft'} lifetime`;
    this.log.info(`${peer}: SA ${dir} ${spiText(spi)} ${ev.hard ? 'hard' : 'soft'} limit (kernel)`);
    if (ev.hard) this.sad.delete(dir, spi); // the kernel has removed it
    this.events.emit({ type: 'expire', dir, spi, reqid, hard: ev.hard, why });
  }

  /** A datagram on a NAT-T socket: IKE goes on; ESP in UDP cannot be taken in (see the top). */
  private datagram(d: Uint8Array, from: Endpoint, via: Transport): void {
    switch (classify(d)) {
      case 'ike':
        if (this.opts.onIke) return this.opts.onIke(d.subarray(4), from, via);
        return this.dropped.bump('ike-unhandled');
      case 'keepalive':
        return this.dropped.bump('keepalive');
      case 'runt':
        return this.dropped.bump('short');
      case 'esp':
        this.dropped.bump('esp-in-udp');
        if (this.warnedEncap.has(from.addr)) return;
        this.warnedEncap.add(from.addr);
        return this.fail(
          `${from.addr} sends ESP in UDP (a NAT on the path, or a peer that forces encapsulation): driver=xfrm cannot take it in (Node cannot set UDP_ENCAP on its socket); use driver=userspace for NAT traversal`,
        );
    }
  }

  private fail(message: string): void {
    this.log.error(`xfrm: ${message}`);
    this.events.emit({ type: 'error', message });
  }
}

function uniquePorts(eps: readonly Endpoint[]): { family: 4 | 6; port: number }[] {
  const seen = new Map<string, { family: 4 | 6; port: number }>();
  for (const e of eps) seen.set(`${familyOf(e.addr)}:${e.port}`, { family: familyOf(e.addr), port: e.port });
  return [...seen.values()];
}

function dropsOf(k: { replay: number; replayWindow: number; failed: number }): Record<string, number> {
  const d: Record<string, number> = {};
  if (k.replay + k.replayWindow) d['replay'] = k.replay + k.replayWindow;
  if (k.failed) d['auth'] = k.failed;
  return d;
}

/** ip's message, with what to install when the kernel lacks a piece. */
function kernelError(e: Error, spec: SaSpec): KeylineError {
  const m = e.message;
  if (/File exists/.test(m)) return new KeylineError('SA_EXISTS', `${spec.dir}bound SA ${spiText(spec.spi)} already in the kernel`);
  if (/Requested type not found|Protocol not supported/.test(m)) {
    return new KeylineError('XFRM_UNSUPPORTED', `${m}: the kernel has no ESP (modprobe esp4 esp6; OpenWrt: kmod-ipsec4, kmod-ipsec6)`);
  }
  if (/algorithm not found/i.test(m)) return new KeylineError('XFRM_UNSUPPORTED', `${m}: the kernel lacks ${spec.suite} (OpenWrt: kmod-crypto-gcm, kmod-crypto-chacha20poly1305)`);
  return new KeylineError('XFRM', `${spec.peer}: SA ${spec.dir} ${spiText(spec.spi)}: ${m}`);
}
