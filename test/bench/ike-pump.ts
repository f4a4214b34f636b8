/**
 * Drive an initiator agent: bring up connections [from, to) with at most `inFlight` handshakes
 * under way, each counted done when its child SA is installed on our side (the last step of
 * IKE_AUTH for the initiator; the responder installed its child before answering):
 *
 *   HDR, SAi1, KEi, Ni, N(NAT_D…)  -->
 *                           <--  HDR, SAr1, KEr, Nr, N(NAT_D…)
 *   HDR, SK {IDi, IDr, AUTH, N(INITIAL_CONTACT), SAi2, TSi, TSr}  -->
 *                           <--  HDR, SK {IDr, AUTH, SAr2, TSi, TSr}      (child SA up)
 */
import type { Agent } from '../../src/agent.js';
import type { EngineEvent } from '../../src/ike/engine.js';

export interface PumpResult {
  readonly ok: number;
  readonly failed: number;
  /** Wall time from the first IKE_SA_INIT to the last child SA, ms. */
  readonly ms: number;
  /** CPU time of this process over the same span (user + system), ms. */
  readonly cpuMs: number;
}

export async function pump(agent: Agent, from: number, to: number, inFlight: number, timeoutMs = 120_000): Promise<PumpResult> {
  const peers = agent.ike.deps.peers.slice(from, to);
  if (peers.length !== to - from) throw new Error(`bench: the agent has ${agent.ike.deps.peers.length} connections, asked for [${from}, ${to})`);
  const byName = new Map(peers.map((p, i) => [p.name, i]));
  const done = new Uint8Array(peers.length);
  let next = 0;
  let ok = 0;
  let failed = 0;
  let finish: () => void = () => {};
  const finished = new Promise<void>((r) => (finish = r));
  const startNext = () => {
    while (next < peers.length && next - ok - failed < inFlight) agent.ike.initiate(peers[next++]!);
    if (ok + failed === peers.length) finish();
  };
  const settle = (name: string, good: boolean) => {
    const i = byName.get(name);
    if (i === undefined || done[i]) return;
    done[i] = 1;
    if (good) ok++;
    else failed++;
    startNext();
  };
  const listener = (e: EngineEvent) => {
    if (e.type === 'child-up' && !e.rekey) settle(e.sa.peer.name, true);
    else if (e.type === 'ike-down') settle(e.sa.peer.name, false);
  };
  agent.ike.on(listener);
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  startNext();
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), timeoutMs)));
  const how = await Promise.race([finished, timedOut]);
  clearTimeout(timer);
  const ms = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  // The engine has no way to remove a listener; this one just stops counting.
  byName.clear();
  if (how === 'timeout') {
    throw new Error(`bench: ${ok} of ${peers.length} SAs up after ${timeoutMs} ms (${failed} failed); drops ${JSON.stringify(agent.ike.drops.byReason)}`);
  }
  return { ok, failed, ms, cpuMs: (cpu.user + cpu.system) / 1000 };
}
