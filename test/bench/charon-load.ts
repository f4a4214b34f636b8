/**
 * Many IKE SAs against one responder, between two network namespaces: the charon row of the IKE
 * table (charon -> keyline) and the responder rows of the summary (anchors.ts), where the same
 * initiator, paced the same way, drives a keyline responder and a charon responder in turn.
 *
 *   ns A: responder  192.0.2.1:4500  ═══ veth ═══  192.0.2.2:4500  ns B: initiator
 *
 * Both sides have N connections (identity i<i>.bench.example, /32 selectors 198.51.100.x ×
 * 203.0.113.y, as ike-world.ts's), so every IKE_AUTH picks one responder connection by identity.
 * Initiators:
 * - keyline: ike-child.ts (ike-pump.ts: at most `inFlight` handshakes under way);
 * - charon: its N connections loaded with start_action = none (5.9.8 here has no load-tester
 *   plugin), then started through vici (`initiate`, not waiting) with at most `inFlight` under
 *   way, the next one when charon reports a child SA up (`child-updown` event): the same pacing.
 *   Each connection may have `extra` more children x<i>_<j>, the same hosts but TCP port 1000+j
 *   only (charon will not start a second child with the very same selectors), which `initiate`
 *   brings up with CREATE_CHILD_SA in the IKE SA that is already there. keyline starts
 *   CREATE_CHILD_SA only to rekey, so the extra-child figures need charon as the initiator.
 *   charon's cost per initiation grows with its IKE SAs and connections (8 ms of CPU per SA
 *   with 2,000, against 2.3 with 550), which is why keyline initiates in the rate runs.
 * Why paced: with all N started at once, keyline's UDP socket (the default 208 KB receive buffer)
 * drops part of the IKE_SA_INIT burst and charon retransmits after 4 s, so the figure would
 * measure charon's retransmission timer, not the responder.
 *
 * Both talk to port 4500 from the first message (non-ESP marker). The responders: keyline is
 * ike-child.ts (the mirror connections of ike-world.ts, an in-memory TUN, routes stubbed); charon
 * has the mirror connections in swanctl.conf and its SAs in kernel-libipsec, which also routes each
 * child's remote TS into its TUN device from an address of the local TS (so the namespaces own
 * those addresses on lo; without one the child fails with TS_UNACCEPTABLE). No traffic flows.
 *
 * The rate is the initiator's: from the first initiation of the measured batch to its last child
 * SA up; CPU per SA of both processes from /proc/<pid>/stat. Memory of the responder: RSS
 * (/proc/<pid>/status) and heap (keyline: V8 heapUsed + external after gc, from ike-child;
 * charon: glibc mallinfo used + mmap from `swanctl --stats`).
 */
import { join } from 'node:path';
import type { IkeBenchConfig, RateRow } from './ike.js';
import { spawnChild, type ChildProc } from './ike-proc.js';
import { PSK, RESPONDER_ID, type BenchSuite } from './ike-world.js';
import { addLoAddrs, charonMallocUsed, charonMissing, cpuOf, dropPair, linkPair, nsPair, rcvbufErrors, rssOf, sleep, startCharon, type Charon, type NsPair } from './charon-proc.js';
import { Vici } from './vici.js';

export type Kind = 'keyline' | 'charon';

const initiatorHost = (i: number) => `198.51.100.${1 + (i % 254)}/32`;
const responderHost = (i: number) => `203.0.113.${1 + Math.floor(i / 254)}/32`;
const secrets = () => `secrets {\n    ike-bench {\n        id-r = ${RESPONDER_ID}\n        secret = 0x${Buffer.from(PSK).toString('hex')}\n    }\n}\n`;

/**
 * Connections [0, n) of one side, the mirror image of ike-world.ts benchPeers; the initiator's with
 * `extra` more children each. `one`: the responder has a single road-warrior connection instead
 * (any identity with the PSK, /24 selectors narrowed to the initiator's /32s).
 */
export function swanctlConf(side: 'initiator' | 'responder', suite: BenchSuite, n: number, extra = 0, one = false): string {
  const init = side === 'initiator';
  const conns: string[] = [];
  if (one && !init) {
    return `connections {
    rw {
        local_addrs = 192.0.2.1
        local_port = 4500
        proposals = ${suite.charonIke}
        encap = yes
        mobike = no
        local { auth = psk
            id = ${RESPONDER_ID} }
        remote { auth = psk
            id = %any }
        children { rw { local_ts = 203.0.113.0/24
                remote_ts = 198.51.100.0/24
                esp_proposals = ${suite.esp}
                start_action = none } }
    }
}
${secrets()}`;
  }
  for (let i = 0; i < n; i++) {
    const [lts, rts] = init ? [initiatorHost(i), responderHost(i)] : [responderHost(i), initiatorHost(i)];
    const child = (name: string, proto = '') => `${name} { local_ts = ${lts}${proto}
                remote_ts = ${rts}${proto}
                esp_proposals = ${suite.esp}
                start_action = none }`;
    const extras = init ? Array.from({ length: extra }, (_, j) => `\n            ${child(`x${i}_${j}`, `[tcp/${1000 + j}]`)}`).join('') : '';
    conns.push(`    c${i} {
        local_addrs = ${init ? '192.0.2.2' : '192.0.2.1'}
        remote_addrs = ${init ? '192.0.2.1' : '192.0.2.2'}
        local_port = 4500
        remote_port = 4500
        proposals = ${suite.charonIke}
        encap = yes
        mobike = no
        local { auth = psk
            id = ${init ? `i${i}.bench.example` : RESPONDER_ID} }
        remote { auth = psk
            id = ${init ? RESPONDER_ID : `i${i}.bench.example`} }
        children { ${child(`c${i}`)}${extras} }
    }`);
  }
  return `connections {\n${conns.join('\n')}\n}\n${secrets()}`;
}

interface Paced {
  readonly ok: number;
  readonly failed: number;
  readonly ms: number;
}

/**
 * Start charon's children (by name, each in IKE SA `ikeOf(name)`) through vici with at most
 * `inFlight` under way; one is done when charon reports a child SA up in its IKE SA, or failed
 * when `initiate` says so.
 */
async function pacer(vici: Vici, inFlight: number): Promise<(children: readonly string[], ikeOf: (child: string) => string) => Promise<Paced>> {
  let onUp: (ike: string) => void = () => {};
  await vici.listen('child-updown', (m) => {
    if (m.values.up === 'yes') for (const s of m.sections) onUp(s);
  });
  return (children, ikeOf) =>
    new Promise((resolve, reject) => {
      const timeoutMs = 30_000 + 50 * children.length;
      const t0 = performance.now();
      const pending = new Map<string, number>();
      let next = 0;
      let ok = 0;
      let failed = 0;
      const timer = setTimeout(() => fail(`charon: ${ok} of ${children.length} child SAs up after ${timeoutMs} ms`), timeoutMs);
      // A child the responder refuses gets no event (initiate does not wait): say so after a silence.
      const stall = setTimeout(() => fail(`charon: ${ok} of ${children.length} child SAs up, none for ${STALL_MS} ms (refused?)`), STALL_MS);
      const fail = (why: string) => {
        clearTimeout(timer);
        clearTimeout(stall);
        onUp = () => {};
        reject(new Error(why));
      };
      const launch = () => {
        while (next < children.length && next - ok - failed < inFlight) {
          const child = children[next++]!;
          const ike = ikeOf(child);
          pending.set(ike, (pending.get(ike) ?? 0) + 1);
          vici.request('initiate', { child, timeout: '-1', 'init-limits': 'no', loglevel: '-1' }).then((m) => {
            if (m.values.success !== 'yes') {
              failed++;
              launch();
            }
          }, reject);
        }
        if (ok + failed === children.length) {
          clearTimeout(timer);
          clearTimeout(stall);
          resolve({ ok, failed, ms: performance.now() - t0 });
        }
      };
      onUp = (ike) => {
        const n = pending.get(ike);
        if (!n) return;
        if (n === 1) pending.delete(ike);
        else pending.set(ike, n - 1);
        ok++;
        stall.refresh();
        launch();
      };
      launch();
    });
}

const STALL_MS = 20_000;
const range = (from: number, to: number) => Array.from({ length: to - from }, (_, k) => from + k);

export interface LoadPlan {
  readonly initiator: Kind;
  readonly suite: BenchSuite;
  /** IKE SAs brought up first, not timed (JIT, caches); memory is sampled after them. */
  readonly warmup: number;
  /** IKE SAs measured after the warm-up; both sides have warmup + sas connections. */
  readonly sas: number;
  readonly inFlight: number;
  /** Sample the responder's memory after the warm-up, after the measured SAs and after the extra children. */
  readonly memory: boolean;
  /** Extra child SAs in each IKE SA afterwards (CREATE_CHILD_SA; charon initiator only). */
  readonly extra: number;
  /**
   * A charon responder with one road-warrior connection rather than the mirror connections:
   * with 10,000 of those it looks each one up in turn and answers too slowly (215 SAs in 80 s).
   */
  readonly charonOneConnection?: boolean;
  /** How to start ike-child.ts (a keyline responder or initiator). */
  readonly childArgv: readonly string[];
}

export interface MemSample {
  readonly ikeSas: number;
  readonly childSas: number;
  /** Bytes. keyline: V8 heapUsed + external after gc; charon: mallinfo used + mmap. */
  readonly heap: number;
  readonly rss: number;
}

export interface LoadResult {
  readonly responder: Kind;
  readonly initiator: Kind;
  readonly suite: BenchSuite;
  readonly sas: number;
  readonly inFlight: number;
  /** Wall time of the measured SAs at the initiator, ms. */
  readonly ms: number;
  /** CPU ms per measured SA of the responder and of the initiator. */
  readonly respCpuMs: number;
  readonly initCpuMs: number;
  readonly mem: readonly MemSample[];
  /** Extra children: their number, wall time and responder CPU per child. */
  readonly children?: number;
  readonly childMs?: number;
  readonly childCpuMs?: number;
  readonly notMeasured?: string;
  readonly note?: string;
}

interface World {
  readonly pair: NsPair;
  readonly charons: Charon[];
  readonly keylines: ChildProc[];
  vici?: Vici;
}

async function tearDown(w: World): Promise<void> {
  w.vici?.close();
  for (const k of w.keylines) await k.close(2000).catch(() => {});
  for (const c of w.charons) await c.stop();
  const keep = process.env.KEYLINE_BENCH_CHARON_LOG !== undefined;
  await dropPair(w.pair, keep);
  if (keep && w.charons.length) console.error(`charon logs kept: ${w.pair.dir}/*/charon.log`);
}

interface Side {
  readonly pid: number;
  /** Bring up IKE SAs [from, to) (initiator). */
  up?(from: number, to: number): Promise<Paced>;
  /** Responder memory now. */
  mem?(): Promise<{ heap: number; rss: number }>;
  /** Bring up `n` more child SAs in every IKE SA (charon initiator). */
  extras?(n: number): Promise<Paced>;
}

async function keylineSide(w: World, ns: string, role: 'initiator' | 'responder', plan: LoadPlan, count: number): Promise<Side> {
  const k = spawnChild(['ip', 'netns', 'exec', ns, ...plan.childArgv]);
  w.keylines.push(k);
  const resp = role === 'responder';
  const where = resp ? { listen: '192.0.2.1', childSas: count * (1 + plan.extra) } : { listen: '192.0.2.2', remote: { addr: '192.0.2.1', port: 4500 } };
  await k.request({ op: 'start', role, suite: plan.suite.ike, count, listenPort: 4500, ...where }, 'ready');
  return {
    pid: k.pid,
    up: async (from, to) => k.request({ op: 'pump', from, to, inFlight: plan.inFlight, timeoutMs: 30_000 + 50 * (to - from) }, 'pumped', 60_000 + 50 * (to - from)),
    mem: async () => {
      const m = await k.request({ op: 'mem' }, 'mem');
      return { heap: m.heapUsed + m.external, rss: rssOf(k.pid) };
    },
  };
}

async function charonSide(w: World, ns: string, role: 'initiator' | 'responder', plan: LoadPlan, count: number): Promise<Side> {
  const resp = role === 'responder';
  // kernel-libipsec routes from an address of the local TS: charon must own them
  const hosts = resp ? range(0, Math.ceil(count / 254)).map((i) => responderHost(i * 254)) : range(0, Math.min(254, count)).map(initiatorHost);
  await addLoAddrs(w.pair, ns, hosts);
  const c = await startCharon(ns, join(w.pair.dir, role));
  w.charons.push(c);
  await c.load(swanctlConf(role, plan.suite, count, resp ? 0 : plan.extra, plan.charonOneConnection));
  if (resp) {
    return {
      pid: c.pid,
      mem: async () => {
        await sleep(500); // let charon's workers finish what they were doing
        return { heap: await charonMallocUsed(c), rss: rssOf(c.pid) };
      },
    };
  }
  const vici = (w.vici = await Vici.connect(c.vici));
  const pace = await pacer(vici, plan.inFlight);
  return {
    pid: c.pid,
    up: (from, to) => pace(range(from, to).map((i) => `c${i}`), (child) => child),
    // child j of every IKE SA before child j + 1 of any: the IKE SAs grow evenly
    extras: (n) => pace(range(0, n).flatMap((j) => range(0, count).map((i) => `x${i}_${j}`)), (child) => `c${child.slice(1, child.indexOf('_'))}`),
  };
}

/** `plan.initiator` (ns B) brings up the plan's SAs at a keyline or charon responder (ns A). */
export async function chargeResponder(responder: Kind, plan: LoadPlan): Promise<LoadResult> {
  const { suite } = plan;
  const base = { responder, initiator: plan.initiator, suite, sas: 0, inFlight: plan.inFlight, ms: 0, respCpuMs: NaN, initCpuMs: NaN, mem: [] };
  const why = charonMissing();
  if (why) return { ...base, notMeasured: why };
  if (plan.extra > 0 && plan.initiator !== 'charon') return { ...base, notMeasured: 'extra child SAs need charon as the initiator' };
  const w: World = { pair: nsPair(`load${responder[0]}`), charons: [], keylines: [] };
  const total = plan.warmup + plan.sas;
  const tail = () => w.charons.map((c) => c.tail()).join(' || ');
  try {
    await linkPair(w.pair);
    const r = responder === 'keyline' ? await keylineSide(w, w.pair.nsA, 'responder', plan, total) : await charonSide(w, w.pair.nsA, 'responder', plan, total);
    const i = plan.initiator === 'keyline' ? await keylineSide(w, w.pair.nsB, 'initiator', plan, total) : await charonSide(w, w.pair.nsB, 'initiator', plan, total);
    const mem: MemSample[] = [];
    const sample = async (ikeSas: number, childSas: number) => {
      if (plan.memory) mem.push({ ikeSas, childSas, ...(await r.mem!()) });
    };

    const warm = await i.up!(0, plan.warmup);
    if (warm.ok < plan.warmup) return { ...base, notMeasured: `warm-up: ${warm.ok} of ${plan.warmup} SAs up (${tail()})` };
    await sample(plan.warmup, plan.warmup);
    const cpu0 = { resp: cpuOf(r.pid), init: cpuOf(i.pid) };
    const drops0 = await rcvbufErrors(w.pair.nsA);
    const m = await i.up!(plan.warmup, total);
    const respCpu = cpuOf(r.pid) - cpu0.resp;
    const initCpu = cpuOf(i.pid) - cpu0.init;
    const drops = (await rcvbufErrors(w.pair.nsA)) - drops0;
    if (m.ok < plan.sas || m.failed) return { ...base, notMeasured: `${m.ok} of ${plan.sas} SAs up, ${m.failed} failed (${tail()})` };
    await sample(total, total);
    let child: Pick<LoadResult, 'children' | 'childMs' | 'childCpuMs'> = {};
    if (plan.extra > 0 && i.extras) {
      const n = plan.extra * total;
      const c0 = cpuOf(r.pid);
      const x = await i.extras(plan.extra);
      if (x.ok < n || x.failed) return { ...base, notMeasured: `extra children: ${x.ok} of ${n} up, ${x.failed} failed (${tail()})` };
      child = { children: n, childMs: x.ms / n, childCpuMs: (cpuOf(r.pid) - c0) / n };
      await sample(total, total + n);
    }
    const note = drops > 0 ? `${responder} responder, ${suite.ike}: ${drops} datagrams dropped at its socket (receive buffer full)` : undefined;
    return { ...base, sas: m.ok, ms: m.ms, respCpuMs: respCpu / m.ok, initCpuMs: initCpu / m.ok, mem, ...child, ...(note && { note }) };
  } catch (e) {
    return { ...base, notMeasured: `${(e as Error).message.split('\n')[0]!.slice(0, 160)} ${tail().slice(-300)}`.trim() };
  } finally {
    await tearDown(w);
  }
}

/** One row of the IKE table: charon initiating `c.sas` IKE SAs (after `c.warmup`) to keyline. */
export async function charonRate(suite: BenchSuite, c: IkeBenchConfig): Promise<RateRow> {
  const r = await chargeResponder('keyline', { initiator: 'charon', suite, warmup: c.warmup, sas: c.sas, inFlight: c.inFlight, memory: false, extra: 0, childArgv: c.childArgv });
  const base = { setup: 'charon' as const, suite, sas: r.sas, inFlight: r.inFlight, ms: r.ms, initiator: 'charon' };
  if (r.notMeasured) return { ...base, notMeasured: r.notMeasured };
  return { ...base, respCpuMs: r.respCpuMs, initCpuMs: r.initCpuMs, ...(r.note && { note: r.note }) };
}
