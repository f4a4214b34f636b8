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

/** What the agent needs to know, independent of how the key file spells it. */
export interface AgentPlan {
  readonly listen: readonly Endpoint[];
  readonly tun: { readonly name: string; readonly address: string; readonly mtu: number };
  readonly manual: readonly ManualPeer[];
}

export interface AgentDeps {
  readonly log: Logger;
  readonly backend: Backend;
  openTunnel(t: AgentPlan["tun"], log: Logger): Promise<{ tunnel: Tunnel; routes: Routes }>;
  openTransport?(at: Endpoint): Promise<Transport>;
}

export interface Agent {
  readonly driver: Driver;
  readonly transports: readonly Transport[];
  stop(): Promise<void>;
}

export async function startAgent(plan: AgentPlan, deps: AgentDeps): Promise<Agent> {
  const { log } = deps;
  const open = deps.openTransport ?? ((at: Endpoint) => UdpTransport.open(at));
  const transports: Transport[] = [];
  try {
    for (const at of plan.listen) transports.push(await open(at));
  } catch (e) {
    await Promise.all(transports.map((t) => t.close()));
    throw e;
  }
  const { tunnel, routes } = await deps.openTunnel(plan.tun, log);
  const driver = new UserspaceDriver({ transports, tunnel, routes, backend: deps.backend, log });
  driver.onEvent((e) => logEvent(log, e));
  try {
    for (const m of plan.manual) await installManual(driver, m, log);
  } catch (e) {
    await driver.close();
    throw e;
  }
  log.info(`keyline: listening on ${transports.map((t) => endpointText(t.local)).join(', ')}, tunnel ${tunnel.name}, ${deps.backend.name} crypto`);
  return { driver, transports, stop: () => driver.close() };
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
