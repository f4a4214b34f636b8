/**
 * The composition root: a plan (from the key file) → transports, tunnel, driver, SAs and
 * policies; driver events → log lines; signals → orderly shutdown. Keying methods plug in here
 * as they land (manual keys now; IKE and inline keying next).
 */
import type { Backend } from './crypto/types.js';
import type { Driver, DriverEvent } from './drivers/driver.js';
import { UserspaceDriver, type Routes } from './drivers/userspace/driver.js';
import { XfrmDriver, type TunnelHint } from './drivers/xfrm/driver.js';
import { KeylineError } from './wire/errors.js';
import type { Tunnel } from './drivers/userspace/tun/tunnel.js';
import { manualSas, type ManualPeer } from './sa/manual.js';
import { spiText } from './sa/sad.js';
import type { Endpoint } from './sa/types.js';
import { UdpTransport } from './transport/udp.js';
import { endpointText, type Transport } from './transport/transport.js';
import type { Logger } from './util/log.js';
import { systemClock, type Clock } from './util/clock.js';
import { IkeEngine, type EngineEvent, type IkeLimits } from './ike/engine.js';
import type { IkeSocket } from './ike/ike-sa.js';
import type { IkePeer } from './ike/peer.js';
import { IKE_PORT } from './ike/constants.js';
import { startInline, type InlineControl } from './inline/wire.js';
import type { InlineOptions, ParentSpec } from './inline/engine.js';
import type { PeerDiff } from './config/diff.js';
import { makeOperator, type DownResult, type ReloadResult, type UpResult } from './control/ops.js';
import type { AgentStatus, InlineStatus } from './control/status.js';
import { TimerBook } from './control/timers.js';

/** What the agent needs to know, independent of how the key file spells it. */
export interface AgentPlan {
  readonly listen: readonly Endpoint[];
  readonly tun: { readonly name: string; readonly address: string; readonly mtu: number };
  /** ESP data plane: keyline's own (`userspace`, the default) or the kernel's (`xfrm`: no TUN). */
  readonly driver?: 'userspace' | 'xfrm';
  readonly manual: readonly ManualPeer[];
  readonly ike: readonly IkePeer[];
  /** Inline keying parents (src/inline/): IKE peers with inline=on, and static peers. */
  readonly inline?: readonly ParentSpec[];
  /** The local entry's inline keying settings (cap on flows, grace period). */
  readonly inlineSettings?: Pick<InlineOptions, 'maxFlows' | 'msl' | 'k1' | 'k2'>;
}

export interface AgentDeps {
  readonly log: Logger;
  readonly backend: Backend;
  openTunnel(t: AgentPlan["tun"], log: Logger): Promise<{ tunnel: Tunnel; routes: Routes }>;
  openTransport?(at: Endpoint): Promise<Transport>;
  /** Injected in tests: time, randomness (keys, nonces, SPIs) and rekey jitter. */
  readonly clock?: Clock;
  readonly random?: (n: number) => Uint8Array;
  readonly rand01?: () => number;
  /** Sees every IKE event from the first message on (the demo and tests trace exchanges). */
  readonly onIkeEvent?: (e: EngineEvent) => void;
  readonly ikeLimits?: Partial<IkeLimits>;
  /** Inline keying settings beyond the plan (tests: caps, wall clock). */
  readonly inline?: Partial<InlineOptions>;
  /** Inline keying's part of `keyline show`, per peer (src/control/status.ts InlineStatus). */
  readonly inlineStatus?: (peer: string) => InlineStatus | undefined;
}

export interface Agent {
  readonly driver: Driver;
  readonly transports: readonly Transport[];
  readonly ike: IkeEngine;
  stop(): Promise<void>;
  /** Operator surface (src/control/ops.ts): `keyline show`, `up`, `down`, `reload`. */
  status(only?: string): AgentStatus;
  up(name: string, o?: { waitMs?: number }): Promise<UpResult>;
  down(name: string, o?: { waitMs?: number }): Promise<DownResult>;
  /** Apply a validated plan; `diff.unchanged` peers keep their SAs (see ops.ts). */
  reload(plan: AgentPlan, diff: PeerDiff): Promise<ReloadResult>;
  /** The plan in force. */
  readonly plan: AgentPlan;
}

export async function startAgent(plan: AgentPlan, deps: AgentDeps): Promise<Agent> {
  const { log } = deps;
  const clock = deps.clock ?? systemClock;
  const open = deps.openTransport ?? ((at: Endpoint) => UdpTransport.open(at));
  const transports: Transport[] = [];
  try {
    for (const at of plan.listen) transports.push(await open(at));
  } catch (e) {
    await Promise.all(transports.map((t) => t.close()));
    throw e;
  }
  // Port 500 carries plain IKE; every other port IKE behind the non-ESP marker and ESP in UDP.
  const sockets: IkeSocket[] = transports.map((transport) => ({ transport, natt: transport.local.port !== IKE_PORT }));
  const natt = sockets.filter((s) => s.natt);
  let engine: IkeEngine | undefined;
  const socketOf = (t: Transport) => sockets.find((s) => s.transport === t)!;
  const onIke = (data: Uint8Array, from: Endpoint, via: Transport) => engine?.receive(data, from, socketOf(via));
  // --- driver choice (driver=xfrm: the kernel does ESP; no TUN device, no socat) ---
  let driver: UserspaceDriver | XfrmDriver;
  let tunnelName: string;
  if (plan.driver === 'xfrm') {
    driver = await openXfrm(plan, natt.map((s) => s.transport), onIke, log, clock).catch(async (e: unknown) => {
      await Promise.all(transports.map((t) => t.close()));
      throw e;
    });
    tunnelName = 'none (kernel xfrm)';
  } else {
    const { tunnel, routes } = await deps.openTunnel(plan.tun, log);
    driver = new UserspaceDriver({ transports: natt.map((s) => s.transport), tunnel, routes, backend: deps.backend, log, clock, onIke });
    tunnelName = tunnel.name;
  }
  // --- end of driver choice ---
  driver.onEvent((e) => logEvent(log, e));
  const random = deps.random ?? ((n: number) => deps.backend.randomBytes(n));
  const timers = new TimerBook(clock); // remembers rekey times for `keyline show`
  engine = new IkeEngine({
    clock: timers,
    random,
    ...(deps.random && { dhRandom: deps.random }),
    rand01: deps.rand01 ?? Math.random,
    backend: deps.backend,
    dh: deps.backend.name === 'noble' ? 'noble' : 'node',
    driver,
    log,
    sockets,
    peers: plan.ike,
    // The userspace driver can only do ESP in UDP; the kernel driver cannot take ESP in UDP in
    // (drivers/xfrm/driver.ts): honest NAT detection, plain ESP where there is no NAT.
    forceEncap: plan.driver !== 'xfrm',
    ...(deps.ikeLimits && { limits: deps.ikeLimits }),
  });
  const ike = engine;
  if (deps.onIkeEvent) ike.on(deps.onIkeEvent);
  for (const s of sockets) if (!s.natt) s.transport.onDatagram((d, from) => ike.receive(d, from, s));
  let inline: InlineControl | undefined;
  try {
    for (const m of plan.manual) await installManual(driver, m, log);
    for (const p of plan.ike) await installIkePolicies(driver, p);
    inline = await startInline({ driver: inlineDriver(driver, plan), ike, parents: plan.inline ?? [], clock, log, random, options: { ...plan.inlineSettings, ...deps.inline } });
  } catch (e) {
    await driver.close();
    throw e;
  }
  log.info(`keyline: listening on ${transports.map((t) => endpointText(t.local)).join(', ')}, tunnel ${tunnelName}, ${deps.backend.name} crypto`);
  ike.start();
  const stop = async () => {
    await ike.stop();
    await driver.close();
    await Promise.all(sockets.filter((s) => !s.natt).map((s) => s.transport.close()));
  };
  const ops = makeOperator({
    driver,
    ike,
    log,
    clock,
    timers,
    transports,
    tunnel: tunnelName,
    plan,
    installIkePolicies: (p) => installIkePolicies(driver, p),
    inlineStatus: deps.inlineStatus ?? ((peer) => inline?.status(peer)),
    onReload: (next, diff) => inline!.reload(next.inline ?? [], diff),
  });
  return {
    driver,
    transports,
    ike,
    stop,
    status: ops.status,
    up: ops.up,
    down: ops.down,
    reload: ops.reload,
    get plan() {
      return ops.plan;
    },
  };
}

/**
 * Protect policies for a connection go in at start, before any SA: traffic for the remote
 * subnets never leaves in the clear, and the first packet raises the acquire that an
 * on-traffic connection starts from.
 */
async function installIkePolicies(d: Driver, p: IkePeer): Promise<void> {
  for (const [i, selector] of p.selectors.entries()) {
    await d.addPolicy({ id: p.reqid * 64 + i, selector, action: 'protect', reqid: p.reqid, priority: 100, peer: p.name });
  }
}

async function installManual(d: Driver, m: ManualPeer, log: Logger): Promise<void> {
  const s = manualSas(m);
  await d.addSa(s.inbound); // inbound before outbound, so the peer's first packet finds its SA
  await d.addSa(s.outbound);
  for (const p of s.policies) await d.addPolicy(p);
  log.info(`${m.peer}: manual SAs in ${spiText(m.spiIn)} out ${spiText(m.spiOut)} ${m.suite} ${m.mode} to ${endpointText(m.remote)}`);
}

// --- driver=xfrm ---------------------------------------------------------------------------------

/**
 * The kernel driver: IKE on the NAT-T sockets comes through it (it sees every datagram there),
 * the key file's peer addresses let policies go in before the first SA (on-traffic acquires),
 * and IKE's own ports bypass the protect policies.
 */
function openXfrm(plan: AgentPlan, natt: Transport[], onIke: (data: Uint8Array, from: Endpoint, via: Transport) => void, log: Logger, clock: Clock): Promise<XfrmDriver> {
  const tunnels = new Map<number, TunnelHint>();
  for (const p of plan.ike) tunnels.set(p.reqid, { mode: p.mode, ...(p.remote && { remote: p.remote.addr }) });
  for (const m of plan.manual) tunnels.set(m.reqid, { mode: m.mode, remote: m.remote.addr });
  return XfrmDriver.open({ transports: natt, onIke, log, clock, ikeEndpoints: plan.listen, tunnels: (reqid) => tunnels.get(reqid) });
}

/** Inline keying rides on data packets, which only the userspace driver sees. */
function inlineDriver(d: UserspaceDriver | XfrmDriver, plan: AgentPlan): UserspaceDriver {
  if (d instanceof UserspaceDriver) return d;
  if (plan.inline?.length) throw new KeylineError('CONFIG', 'inline keying needs driver=userspace (the kernel driver never sees the packets)');
  return d as unknown as UserspaceDriver; // no parents: startInline returns before touching it
}

function logEvent(log: Logger, e: DriverEvent): void {
  if (e.type === 'expire') log.info(`SA ${e.dir} ${spiText(e.spi)} ${e.hard ? 'expired' : 'due for rekey'}: ${e.why}`);
  else if (e.type === 'acquire') log.debug(`acquire for reqid ${e.reqid}: no SA yet`);
  else if (e.type === 'moved') log.debug(`SA in ${spiText(e.spi)}: the peer sends from ${e.remote.addr}:${e.remote.port} now`);
  else log.error(`driver: ${e.message}`);
}
