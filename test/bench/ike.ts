/**
 * IKE figures for `npm run bench`: IKE SAs (IKE_SA_INIT + IKE_AUTH with one child SA installed)
 * per second between two keyline agents, and the responder's memory per SA. Tables only,
 * nothing asserted about time; a run that does not bring every SA up throws.
 *
 * Setups:
 * - memory: both agents in this process on the memory network, one thread doing both roles;
 * - udp, 1 process: the same over real UDP sockets on 127.0.0.1 (ephemeral ports);
 * - udp, 2 processes: the responder here, the initiator in a child process (ike-child.ts), so each
 *   role has a core and its own CPU time, which is how the per-role figures are measured.
 * Each run brings up `warmup` SAs first (JIT), then measures `sas` more with `inFlight`
 * handshakes under way at any time.
 */
import v8 from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { Agent } from '../../src/agent.js';
import { MemoryNetwork } from '../../src/transport/memory.js';
import { dhPairsPerSecond, keylineDhPairsPerSecond } from './dh.js';
import { pump } from './ike-pump.js';
import { spawnChild } from './ike-proc.js';
import { BENCH_SUITES, benchLimits, benchPeers, portOf, raiseDriverCaps, startBenchAgent, type BenchSuite, type Group } from './ike-world.js';
import { table } from './table.js';

export type Setup = 'memory' | 'udp-1' | 'udp-2';

export const SETUP_TEXT: Record<Setup | 'charon', string> = {
  memory: 'memory, 1 process',
  'udp-1': 'UDP loopback, 1 process',
  'udp-2': 'UDP loopback, 2 processes',
  charon: 'UDP veth, charon -> keyline',
};

export interface IkeBenchConfig {
  /** SAs measured per run (after the warm-up). */
  readonly sas: number;
  readonly warmup: number;
  readonly inFlight: number;
  /** How long each DH reference is measured, ms. */
  readonly dhMs: number;
  readonly setups: readonly Setup[];
  readonly suites: readonly BenchSuite[];
  /** Responder memory is measured at these SA counts (one responder per count, configured for it). */
  readonly memPoints: readonly number[];
  /** How to start ike-child.ts (see ike-proc.ts). */
  readonly childArgv: readonly string[];
}

export interface RateRow {
  readonly setup: Setup | 'charon';
  readonly suite: BenchSuite;
  readonly sas: number;
  readonly inFlight: number;
  /** Wall time of the measured SAs, ms. */
  readonly ms: number;
  /** CPU ms per SA: of the responder and initiator processes (2 processes), or of the one process. */
  readonly respCpuMs?: number;
  readonly initCpuMs?: number;
  readonly bothCpuMs?: number;
  /** Who initiated, when not keyline. */
  readonly initiator?: string;
  /** Why there is no figure. */
  readonly notMeasured?: string;
  /** Something to print under the table. */
  readonly note?: string;
}

export interface MemRow {
  /** Connections configured on the responder (all addr=any road warriors, one ID each). */
  readonly connections: number;
  readonly sas: number;
  /** Bytes per SA, after gc, against the same responder with no SA up. */
  readonly heap: number;
  readonly external: number;
  readonly rss: number;
  /** Bytes per configured connection (peer record, policy), before any SA. */
  readonly perConnectionHeap: number;
  /** SAs/s while bringing up the SAs since the previous point (the responder's per-SA work grows with its connections). */
  readonly fillRate: number;
  /** Totals at this point, bytes. */
  readonly heapTotal: number;
  readonly rssTotal: number;
}

export type DhRates = Record<Group, number>;

/** node:crypto's DH pairs per second per group (the reference), and keyline's own, as the engine calls it. */
export function dhRates(ms: number, suites: readonly BenchSuite[] = BENCH_SUITES): { node: DhRates; keyline: DhRates } {
  const node = { x25519: NaN, modp2048: NaN };
  const keyline = { x25519: NaN, modp2048: NaN };
  for (const s of suites) {
    node[s.group] = dhPairsPerSecond(s.group, ms);
    keyline[s.group] = keylineDhPairsPerSecond(s.group, ms);
  }
  return { node, keyline };
}

// ---- rate ----------------------------------------------------------------------------------------

/** Stop without waiting for answers to our DELETEs (a bench teardown, not a graceful shutdown). */
export async function quickStop(a: Agent): Promise<void> {
  await a.ike.stop(0);
  await a.stop();
}

function checkUp(resp: Agent, want: number, what: string): void {
  const sas = resp.ike.sas().filter((s) => s.fsm.is('established'));
  const children = sas.reduce((n, s) => n + s.children.length, 0);
  if (sas.length !== want || children !== want) {
    throw new Error(`bench ${what}: responder has ${sas.length} IKE SAs and ${children} child SAs established, expected ${want}; drops ${JSON.stringify(resp.ike.drops.byReason)}`);
  }
}

async function oneProcess(setup: 'memory' | 'udp-1', suite: BenchSuite, c: IkeBenchConfig): Promise<RateRow> {
  const total = c.warmup + c.sas;
  raiseDriverCaps(total);
  const memory = setup === 'memory' ? new MemoryNetwork() : undefined;
  const net = (addr: string) => (memory ? { memory, addr } : { udp: '127.0.0.1' });
  const resp = await startBenchAgent({ peers: benchPeers({ side: 'responder', remote: undefined, suite, count: total }), limits: benchLimits(total), net: net('192.0.2.2') });
  const to = memory ? { addr: '192.0.2.2', port: 4500 } : { addr: '127.0.0.1', port: portOf(resp) };
  const init = await startBenchAgent({ peers: benchPeers({ side: 'initiator', remote: to, suite, count: total }), limits: benchLimits(total), net: net('192.0.2.1') });
  try {
    await pump(init, 0, c.warmup, c.inFlight);
    const r = await pump(init, c.warmup, total, c.inFlight);
    checkUp(resp, total, `${setup} ${suite.ike}`);
    return { setup, suite, sas: r.ok, inFlight: c.inFlight, ms: r.ms, bothCpuMs: r.cpuMs / r.ok };
  } finally {
    await quickStop(init);
    await quickStop(resp);
  }
}

async function twoProcesses(suite: BenchSuite, c: IkeBenchConfig): Promise<RateRow> {
  const total = c.warmup + c.sas;
  raiseDriverCaps(total);
  const resp = await startBenchAgent({ peers: benchPeers({ side: 'responder', remote: undefined, suite, count: total }), limits: benchLimits(total), net: { udp: '127.0.0.1' } });
  const child = spawnChild(c.childArgv);
  try {
    await child.request({ op: 'start', role: 'initiator', suite: suite.ike, count: total, listen: '127.0.0.1', remote: { addr: '127.0.0.1', port: portOf(resp) } }, 'ready');
    await child.request({ op: 'pump', from: 0, to: c.warmup, inFlight: c.inFlight }, 'pumped');
    const cpu0 = process.cpuUsage();
    const r = await child.request({ op: 'pump', from: c.warmup, to: total, inFlight: c.inFlight }, 'pumped');
    const cpu = process.cpuUsage(cpu0);
    checkUp(resp, total, `udp-2 ${suite.ike}`);
    return { setup: 'udp-2', suite, sas: r.ok, inFlight: c.inFlight, ms: r.ms, respCpuMs: (cpu.user + cpu.system) / 1000 / r.ok, initCpuMs: r.cpuMs / r.ok };
  } finally {
    await child.close();
    await quickStop(resp);
  }
}

export async function ikeRates(c: IkeBenchConfig): Promise<RateRow[]> {
  const rows: RateRow[] = [];
  for (const suite of c.suites) {
    for (const setup of c.setups) rows.push(setup === 'udp-2' ? await twoProcesses(suite, c) : await oneProcess(setup, suite, c));
  }
  return rows;
}

/** DH pairs one SA costs where the rate is measured, and so the bound the DH alone puts on it. */
const pairsPerSa = (setup: RateRow['setup']): number => (setup === 'memory' || setup === 'udp-1' ? 2 : 1);

export function rateTable(rows: readonly RateRow[], dh: DhRates): string {
  return table(
    ['setup', 'proposal', 'initiator', 'SAs', 'in flight', 'SAs/s', 'ms/SA', 'DH bound SAs/s', 'of bound'],
    rows.map((r) => {
      const bound = dh[r.suite.group] / pairsPerSa(r.setup);
      if (r.notMeasured) return [SETUP_TEXT[r.setup], r.suite.ike, r.initiator ?? 'keyline', `not measured: ${r.notMeasured}`, '', '', '', bound, ''];
      const perSec = (r.sas * 1000) / r.ms;
      const inFlight = Number.isFinite(r.inFlight) ? String(r.inFlight) : 'all';
      return [SETUP_TEXT[r.setup], r.suite.ike, r.initiator ?? 'keyline', String(r.sas), inFlight, perSec, r.ms / r.sas, bound, perSec / bound];
    }),
  );
}

/** CPU per SA by role, and the SAs/s one core could do at that cost. */
export function roleTable(rows: readonly RateRow[], dh: DhRates): string {
  const out: (string | number)[][] = [];
  const add = (role: string, r: RateRow, cpu: number | undefined, pairs: number) => {
    if (cpu === undefined || !Number.isFinite(cpu)) return;
    const bound = dh[r.suite.group] / pairs;
    out.push([role, SETUP_TEXT[r.setup], r.suite.ike, cpu, 1000 / cpu, bound, 1000 / cpu / bound]);
  };
  for (const r of rows) {
    if (r.notMeasured) continue;
    add('keyline responder', r, r.respCpuMs, 1);
    add(r.initiator ? `${r.initiator} initiator` : 'keyline initiator', r, r.initCpuMs, 1);
    add('keyline, both roles', r, r.bothCpuMs, 2);
  }
  return table(['role', 'setup', 'proposal', 'CPU ms/SA', 'SAs/s per core', 'DH bound/core', 'of bound'], out);
}

// ---- memory --------------------------------------------------------------------------------------

type GcFn = () => void;
let gcFn: GcFn | undefined;

/** global.gc, from --expose-gc or, failing that, switched on at run time. */
export function getGc(): GcFn {
  if (gcFn) return gcFn;
  const g = (globalThis as { gc?: GcFn }).gc;
  if (g) return (gcFn = g);
  v8.setFlagsFromString('--expose-gc');
  return (gcFn = runInNewContext('gc') as GcFn);
}

/** process.memoryUsage() after a few full collections. */
export async function settledMemory(): Promise<NodeJS.MemoryUsage> {
  const gc = getGc();
  for (let i = 0; i < 4; i++) {
    gc();
    await new Promise((r) => setImmediate(r));
  }
  return process.memoryUsage();
}

const ext = (m: NodeJS.MemoryUsage) => m.external + m.arrayBuffers;

/** KEYLINE_BENCH_HEAPSNAP=DIR: a heap snapshot of the responder at each memory point, to see where it goes. */
function snapshot(connections: number, sas: number): void {
  const dir = process.env.KEYLINE_BENCH_HEAPSNAP;
  if (dir) v8.writeHeapSnapshot(`${dir}/responder-${connections}-${sas}.heapsnapshot`);
}

/**
 * A responder here configured for `connections` road warriors; the initiator in a child process
 * over UDP, so this process's heap and RSS hold the responder alone. Measured after gc at each
 * of `points`, against the same responder before its first SA.
 */
async function memoryRun(connections: number, points: readonly number[], suite: BenchSuite, c: IkeBenchConfig): Promise<MemRow[]> {
  raiseDriverCaps(connections);
  const pre = await settledMemory();
  const resp = await startBenchAgent({ peers: benchPeers({ side: 'responder', remote: undefined, suite, count: connections }), limits: benchLimits(connections), net: { udp: '127.0.0.1' } });
  const child = spawnChild(c.childArgv);
  const rows: MemRow[] = [];
  try {
    await child.request({ op: 'start', role: 'initiator', suite: suite.ike, count: connections, listen: '127.0.0.1', remote: { addr: '127.0.0.1', port: portOf(resp) } }, 'ready');
    const m0 = await settledMemory();
    snapshot(connections, 0);
    let done = 0;
    for (const p of points) {
      const r = await child.request({ op: 'pump', from: done, to: p, inFlight: c.inFlight }, 'pumped');
      done = p;
      checkUp(resp, p, `memory ${connections}`);
      const m = await settledMemory();
      snapshot(connections, p);
      rows.push({
        connections,
        sas: p,
        heap: (m.heapUsed - m0.heapUsed) / p,
        external: (ext(m) - ext(m0)) / p,
        rss: (m.rss - m0.rss) / p,
        perConnectionHeap: (m0.heapUsed - pre.heapUsed) / connections,
        fillRate: (r.ok * 1000) / r.ms,
        heapTotal: m.heapUsed,
        rssTotal: m.rss,
      });
    }
  } finally {
    await child.close();
    await quickStop(resp);
  }
  return rows;
}

export async function ikeMemory(c: IkeBenchConfig, suite: BenchSuite = BENCH_SUITES[0]): Promise<MemRow[]> {
  const points = [...c.memPoints].sort((a, b) => a - b);
  const rows: MemRow[] = [];
  for (const n of points) rows.push(...(await memoryRun(n, points.filter((p) => p <= n), suite, c)));
  return rows;
}

const mb = (b: number) => `${(b / 1048576).toFixed(1)} MB`;

export function memTable(rows: readonly MemRow[]): string {
  return table(
    ['connections', 'SAs up', 'heap B/SA', 'external B/SA', 'RSS B/SA', 'heap used', 'RSS', 'heap B/connection', 'SAs/s filling'],
    rows.map((r) => [String(r.connections), String(r.sas), r.heap, r.external, r.rss, mb(r.heapTotal), mb(r.rssTotal), r.perConnectionHeap, r.fillRate]),
  );
}
