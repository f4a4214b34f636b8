/**
 * The composition root: a plan (from the key file) → transports, tunnel, driver, SAs and
 * policies; driver events → log lines; signals → orderly shutdown. Keying methods plug in here
 * as they land (manual keys now; IKE and inline keying next).
 */
import type { Backend } from './crypto/types.js';
import type { Driver, DriverEvent } from './drivers/driver.js';
import { UserspaceDriver, type Routes } from './drivers/userspace/driver.js';
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

/** What the agent needs to know, independent of how the key file spells it. */
export interface AgentPlan {
  readonly listen: readonly Endpoint[];
  readonly tun: { readonly name: string; readonly address: string; readonly mtu: number };
  readonly manual: readonly ManualPeer[];
  readonly ike: readonly IkePeer[];
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
}

export interface Agent {
  readonly driver: Driver;
  readonly transports: readonly Transport[];
  readonly ike: IkeEngine;
  stop(): Promise<void>;
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
  const { tunnel, routes } = await deps.openTunnel(plan.tun, log);
  const driver = new UserspaceDriver({
    transports: natt.map((s) => s.transport),
    tunnel,
    routes,
    backend: deps.backend,
    log,
    clock,
    onIke: (data, from, via) => engine?.receive(data, from, socketOf(via)),
  });
  driver.onEvent((e) => logEvent(log, e));
  const random = deps.random ?? ((n: number) => deps.backend.randomBytes(n));
  engine = new IkeEngine({
    clock,
    random,
    ...(deps.random && { dhRandom: deps.random }),
    rand01: deps.rand01 ?? Math.random,
    backend: deps.backend,
    dh: deps.backend.name === 'noble' ? 'noble' : 'node',
    driver,
    log,
    sockets,
    peers: plan.ike,
    forceEncap: true,
    ...(deps.ikeLimits && { limits: deps.ikeLimits }),
  });
  const ike = engine;
  if (deps.onIkeEvent) ike.on(deps.onIkeEvent);
  for (const s of sockets) if (!s.natt) s.transport.onDatagram((d, from) => ike.receive(d, from, s));
  try {
    for (const m of plan.manual) await installManual(driver, m, log);
    for (const p of plan.ike) await installIkePolicies(driver, p);
  } catch (e) {
    await driver.close();
    throw e;
  }
  log.info(`keyline: listening on ${transports.map((t) => endpointText(t.local)).join(', ')}, tunnel ${tunnel.name}, ${deps.backend.name} crypto`);
  ike.start();
  const stop = async () => {
    await ike.stop();
    await driver.close();
    await Promise.all(sockets.filter((s) => !s.natt).map((s) => s.transport.close()));
  };
  return { driver, transports, ike, stop };
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

function logEvent(log: Logger, e: DriverEvent): void {
  if (e.type === 'expire') log.info(`SA ${e.dir} ${spiText(e.spi)} ${e.hard ? 'expired' : 'due for rekey'}: ${e.why}`);
  else if (e.type === 'acquire') log.debug(`acquire for reqid ${e.reqid}: no SA yet`);
  else log.error(`driver: ${e.message}`);
}
