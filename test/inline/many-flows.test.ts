/**
 * 100,000 flows through one pair of in-process agents (IKE parent, scope port) with a small flow
 * cap (inline-max-flows 1,024): memory stays bounded (README.md §9). Every flow is a UDP request
 * (carrying the OFFER) and its reply (carrying the ANSWER), and every fourth flow a follow-up
 * request (on Z: the answerer's side becomes established), each flow from a new source address
 * and port, so every request asks for a new SA pair. The fake clock moves between batches, so old flows become idle (evictable after 5 s,
 * removed after inline-idle); some batches are bursts larger than the cap within 5 s, so new
 * flows are refused (an IKE parent then carries the packet on its child SA); every 10,000 SAs
 * the parent secret reaches its spawn cap and the IKE SA is rekeyed.
 *
 * Checked after every batch: the engine's flow count and the SAD never exceed the caps, and every
 * packet was delivered. At the end: the counters add up per engine and across the two, and the
 * heap did not grow past a bound (after a forced gc where one can be had: tap runs node without
 * --expose-gc, so the test asks V8 for it; without it, heapUsed with garbage and a generous bound).
 */
import t from 'tap';
import v8 from 'node:v8';
import vm from 'node:vm';
import { HOST_B, settle } from '../ike/agents.js';
import { udp4 } from '../helpers/packets.js';
import { inl, inlineIkePair } from './world.js';
import type { Side } from '../ike/agents.js';
import type { UserspaceDriver } from '../../src/drivers/userspace/driver.js';

const FLOWS = 100_000;
const CAP = 1024;
/** Flows per batch in the steady phase, and the fake time between batches. */
const BATCH = 512;
const STEP_MS = 4_000;
/** Every BURST_EVERY-th batch is a burst of BURST flows at once: more than the cap, so some are refused. */
const BURST_EVERY = 20;
const BURST = 1_500;
/** Every PAUSE_EVERY-th batch is followed by a quiet spell longer than inline-idle: everything idles out. */
const PAUSE_EVERY = 47;
const IDLE_S = 30;
/** Every FOLLOW_EVERY-th flow has a third packet, on Z (the answerer's flow becomes established); fewer packets, a faster test. */
const FOLLOW_EVERY = 4;
/** Heap growth bounds over the whole run (MB): without gc (garbage included), and after gc. */
const HEAP_BOUND_MB = 64;
const HEAP_BOUND_GC_MB = 32;
/** After gc, the second half of the run (the tables full long since) may add at most this (MB). */
const PLATEAU_MB = 8;

/** Flow i: source 198.51.100.(1 + i mod 250), source port 10000 + floor(i / 250); to HOST_B:53. */
const hostOf = (i: number) => `198.51.100.${1 + (i % 250)}`;
const portOf = (i: number) => 10_000 + Math.floor(i / 250);

const sad = (s: Side) => (s.agent.driver as UserspaceDriver).sad;

/** V8's gc function, if it can be had without --expose-gc on the command line. */
function findGc(): (() => void) | undefined {
  const g = (globalThis as { gc?: () => void }).gc;
  if (g) return g;
  try {
    v8.setFlagsFromString('--expose-gc');
    return vm.runInNewContext('gc') as () => void;
  } catch {
    return undefined;
  }
}
const MB = 2 ** 20;

t.test(`${FLOWS.toLocaleString('en')} flows through a cap of ${CAP}: tables and heap stay bounded`, async (t) => {
  const started = Date.now();
  const cpu0 = process.cpuUsage();
  const gc = findGc();
  const heap = () => (gc?.(), process.memoryUsage().heapUsed);
  const p = await inlineIkePair({ scope: 'port', idle: IDLE_S, opts: { maxFlows: CAP } });
  t.teardown(() => p.stop());
  const A = inl(p.a);
  const B = inl(p.b);
  t.ok(p.a.agent.ike.sas()[0]?.inline, 'inline keying negotiated');
  const payload = new Uint8Array(32);
  // One template per source host; a flow's packet is a copy with its source port set (UDP
  // checksum 0: none; the IPv4 header checksum does not cover ports).
  const templates = (make: (h: number) => Uint8Array) => Array.from({ length: 250 }, (_, h) => make(h));
  const reqT = templates((h) => udp4(hostOf(h), HOST_B, 0, 53, payload));
  const repT = templates((h) => udp4(HOST_B, hostOf(h), 53, 0, payload));
  const withPort = (tpl: Uint8Array, at: number, port: number) => {
    const pkt = tpl.slice();
    pkt[at] = port >>> 8;
    pkt[at + 1] = port & 0xff;
    return pkt;
  };
  const request = (i: number) => withPort(reqT[i % 250]!, 20, portOf(i));
  const reply = (i: number) => withPort(repT[i % 250]!, 22, portOf(i));
  // Packets out of each tunnel are counted and not kept (MemoryTunnel keeps them for tests).
  let atA = 0;
  let atB = 0;
  p.a.tun.onWrite = () => {
    atA++;
    p.a.tun.written.length = 0;
  };
  p.b.tun.onWrite = () => {
    atB++;
    p.b.tun.written.length = 0;
  };
  let maxFlows = 0;
  let maxSad = 0;
  const violations: string[] = [];
  const check = (when: string) => {
    for (const [name, s, e] of [['A', p.a, A], ['B', p.b, B]] as const) {
      maxFlows = Math.max(maxFlows, e.size);
      maxSad = Math.max(maxSad, sad(s).size);
      if (e.size > CAP) violations.push(`${when}: ${name} has ${e.size} flows`);
      // Two SAs per flow, plus the carrier pair (two pairs while a child rekeys).
      if (sad(s).size > 2 * CAP + 4) violations.push(`${when}: ${name}'s SAD has ${sad(s).size} SAs`);
    }
  };

  // One batch: requests at A, replies at B to every one, then each request's follow-up at A.
  let next = 0;
  let followUps = 0;
  const batch = async (n: number) => {
    const from = next;
    next += n;
    const delivered = async (what: string, count: () => number, send: (i: number) => void, every = 1) => {
      const before = count();
      let sent = 0;
      for (let i = from; i < next; i++) if (i % every === 0) send(i), sent++;
      await p.settle();
      if (count() - before !== sent) violations.push(`flows ${from}..${next - 1}: ${count() - before} of ${sent} ${what} delivered`);
      return sent;
    };
    await delivered('requests', () => atB, (i) => p.a.tun.inject(request(i)));
    await delivered('replies', () => atA, (i) => p.b.tun.inject(reply(i)));
    followUps += await delivered('follow-ups', () => atB, (i) => p.a.tun.inject(request(i)), FOLLOW_EVERY);
    // The test's log capture is at debug level (a line per flow event): its memory, not the agents'.
    p.a.log.length = 0;
    p.b.log.length = 0;
  };

  // Warm-up (JIT, first allocations, the tables filled once), then the baseline heap.
  while (next < 2 * CAP) {
    await batch(BATCH);
    await p.advance(STEP_MS);
  }
  const heap0 = heap();
  let heapHalf = 0;
  let peak = heap0;
  let batches = 0;
  while (next < FLOWS) {
    batches++;
    await batch(Math.min(batches % BURST_EVERY === 0 ? BURST : BATCH, FLOWS - next));
    check(`after flow ${next}`);
    await p.advance(batches % PAUSE_EVERY === 0 ? (IDLE_S + 2) * 1000 : STEP_MS);
    check(`after flow ${next}, time moved`);
    if (batches % 25 === 0) peak = Math.max(peak, process.memoryUsage().heapUsed);
    if (!heapHalf && next >= FLOWS / 2) heapHalf = heap();
  }
  await settle(p.net);
  const heap1 = heap();

  t.same(violations, [], 'the caps held after every batch, and every packet was delivered');
  t.ok(maxFlows <= CAP, `the flow table never exceeded ${CAP} (max ${maxFlows})`);
  t.ok(maxSad <= 2 * CAP + 4, `the SAD never exceeded ${2 * CAP + 4} SAs (max ${maxSad})`);
  t.equal(atB, FLOWS + followUps, `B received every request and every follow-up (${followUps})`);
  t.equal(atA, FLOWS, 'A received every reply');

  // Every flow an engine made is still there, idled out or evicted: none lost track of.
  for (const [name, e] of [['A', A], ['B', B]] as const) {
    const c = e.counters;
    t.equal(c.spawned + c.answered, e.size + c.idled + c.evicted + c.retired, `${name}: spawned ${c.spawned} + answered ${c.answered} = live ${e.size} + idled ${c.idled} + evicted ${c.evicted} + retired ${c.retired}`);
    t.equal(c.expired + c.retired + c.collisions, 0, `${name}: no flow reached its lifetime, none retired, no collisions`);
  }
  // Across the two: an offer is answered at most once. `acknowledged` counts, per engine, the
  // offers completed by an answer and the answers confirmed by use of Z.
  for (const [name, o, a] of [['A', A, B], ['B', B, A]] as const) {
    t.ok(a.counters.answered <= o.counters.spawned, `${name}'s offers: answered by the peer ${a.counters.answered} <= spawned ${o.counters.spawned}`);
    const c = o.counters;
    t.ok(c.acknowledged <= c.spawned + c.answered, `${name}: acknowledged ${c.acknowledged} <= spawned + answered ${c.spawned + c.answered}`);
  }
  const c = A.counters;
  t.ok(c.spawned >= FLOWS * 0.8, `most requests spawned a pair (${c.spawned} of ${FLOWS})`);
  t.ok(B.counters.answered >= c.spawned * 0.95, `almost every offer was answered on the reply (${B.counters.answered} of ${c.spawned})`);
  t.ok(c.evicted > 0, `the cap evicted idle flows (${c.evicted})`);
  t.ok(c.idled > 0, `idle flows were removed (${c.idled})`);
  t.ok(c.refused > 0, `bursts past the cap were refused (${c.refused}) and went on the carrier`);
  const ikeUp = p.a.events.filter((e) => e.type === 'ike-up').length;
  const spawnsAtA = c.spawned + c.answered;
  t.ok(ikeUp >= Math.floor(spawnsAtA / 10_000), `the spawn cap rekeyed the IKE SA: ${ikeUp} IKE SAs up at A for ${spawnsAtA} SA pairs`);
  t.equal(p.a.agent.ike.sas().reduce((n, s) => n + s.children.length, 0), 1, 'still one carrier child SA');
  // NAT keepalives received are counted with the drops: the driver sends one per idle outbound
  // SA, inline flows' included, so the run's fake quarter hour makes thousands of them.
  const drops = (s: Side) => Object.fromEntries(Object.entries(s.agent.driver.drops()).filter(([k]) => k !== 'keepalive'));
  t.same(drops(p.a), {}, 'nothing dropped at A (NAT keepalives aside)');
  t.same(drops(p.b), {}, 'nothing dropped at B (NAT keepalives aside)');

  const growth = (heap1 - heap0) / MB;
  const bound = gc ? HEAP_BOUND_GC_MB : HEAP_BOUND_MB;
  t.ok(growth < bound, `heap grew ${growth.toFixed(1)} MB from flow ${2 * CAP} to ${FLOWS} (bound ${bound} MB, ${gc ? 'after gc' : 'no gc: garbage included'}; peak ${(peak / MB).toFixed(0)} MB)`);
  if (gc) {
    const late = (heap1 - heapHalf) / MB;
    t.ok(late < PLATEAU_MB, `the second half of the run added ${late.toFixed(1)} MB after gc (bound ${PLATEAU_MB} MB): no growth per flow`);
  }
  const cpu = process.cpuUsage(cpu0);
  const keepalives = (s: Side) => s.agent.driver.drops()['keepalive'] ?? 0;
  t.comment(`${2 * FLOWS + followUps} packets, ${((cpu.user + cpu.system) / 1e6).toFixed(1)} s CPU, ${((Date.now() - started) / 1000).toFixed(1)} s, ${(p.clock.now() / 1000).toFixed(0)} s of fake time, NAT keepalives received A ${keepalives(p.a)} B ${keepalives(p.b)}`);
  t.comment(`A ${JSON.stringify(A.counters)}; B ${JSON.stringify(B.counters)}`);
});
