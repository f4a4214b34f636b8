/**
 * Inline keying figures for `npm run bench`: new SA pairs made inline (src/inline/README.md §2)
 * against new child SAs made with CREATE_CHILD_SA, between the same two in-process agents (the
 * real composition: startAgent → IKE engine → userspace driver → inline engine) over the MEMORY
 * network (one thread, no sockets: the figures are processing, not a link), system clock, real
 * randomness, log level info written nowhere, as a router would run.
 *
 * The agents have one IKE connection with inline=on (scope port, aes256gcm16, no PFS):
 * - inline: flow i is one UDP request from a new source address/port at A (the OFFER rides on it,
 *   in the carrier) and B's reply to it (the ANSWER rides on it, inside Y); a pair counts when A
 *   has keyed Z from the answer. `inFlight` flows at a time. Measured again with the same packets
 *   on the flows now established (no keying), to separate the keying from the ESP work;
 * - CREATE_CHILD_SA: the child SA of the same IKE SA rekeyed again and again (keyline starts
 *   CREATE_CHILD_SA only to rekey), one exchange at a time as the IKE window of 1 requires; each
 *   rekey is CREATE_CHILD_SA (the new pair) and then INFORMATIONAL DELETE (the old one);
 * - time to the first protected byte of a new flow: inline, the first packet itself (inject at A
 *   to delivery at B); CREATE_CHILD_SA, the round trip until the initiator has the new child; a
 *   connection with start=on-traffic and no IKE SA yet, IKE_SA_INIT + IKE_AUTH from the first
 *   packet (which is dropped) to the child SA;
 * - memory per inline flow: heap after gc at 1,000 completed flows and at the flow cap, both
 *   agents in this process, slope per flow and side.
 * Wire sizes are read from the memory network (every datagram, ESP and IKE with its non-ESP
 * marker). Nothing here is asserted about time; a run where SAs do not come up throws.
 */
import { startAgent, type Agent } from '../../src/agent.js';
import { nodeBackend } from '../../src/crypto/index.js';
import { MemoryTunnel } from '../../src/drivers/userspace/tun/tunnel.js';
import type { UserspaceDriver } from '../../src/drivers/userspace/driver.js';
import type { EngineEvent } from '../../src/ike/engine.js';
import { EXCHANGE } from '../../src/ike/constants.js';
import type { IkePeer } from '../../src/ike/peer.js';
import { startChildRekey } from '../../src/ike/tasks/child.js';
import type { InlineEngine } from '../../src/inline/engine.js';
import { LIMITS } from '../../src/limits.js';
import { MemoryNetwork } from '../../src/transport/memory.js';
import { makeLogger } from '../../src/util/log.js';
import { readU32 } from '../../src/wire/bytes.js';
import { ADDR_A, ADDR_B, HOST_B, peerConfig, settle } from '../ike/agents.js';
import { udp4 } from '../helpers/packets.js';
import { parentSpec } from '../inline/world.js';
import { getGc, quickStop } from './ike.js';
import { fmt, table } from './table.js';

export interface InlineBenchConfig {
  /** New flows measured (after `warmup`). */
  readonly flows: number;
  readonly warmup: number;
  /** Flows under way at once (requests injected per wave). */
  readonly inFlight: number;
  /** CREATE_CHILD_SA rekeys measured (after a few warm-up ones). */
  readonly rekeys: number;
  /** First-byte latency: flows measured one at a time, and on-traffic IKE set-ups (fresh agents each). */
  readonly latencySamples: number;
  readonly onTrafficSamples: number;
  /** Memory: heap measured at `memFrom` completed flows and at `memCap`, the flow cap. */
  readonly memFrom: number;
  readonly memCap: number;
}

const num = (v: string | undefined, d: number) => (v === undefined || v === '' ? d : Number(v));

export function inlineConfigFromEnv(env: NodeJS.ProcessEnv = process.env): InlineBenchConfig {
  return {
    flows: num(env.KEYLINE_BENCH_INLINE_FLOWS, 4000),
    warmup: 500,
    inFlight: num(env.KEYLINE_BENCH_INLINE_INFLIGHT, 256),
    rekeys: num(env.KEYLINE_BENCH_INLINE_REKEYS, 1000),
    latencySamples: 300,
    onTrafficSamples: 20,
    memFrom: 1000,
    memCap: num(env.KEYLINE_BENCH_INLINE_CAP, 4096),
  };
}

// ---- two agents ----------------------------------------------------------------------------------

/** One datagram on the memory network: ESP by SPI, or IKE by exchange type. */
interface Datagram {
  readonly from: string;
  readonly len: number;
  readonly spi: number;
  /** IKE exchange type (after the non-ESP marker), 0 for ESP. */
  readonly exchange: number;
}

interface BenchSide {
  readonly agent: Agent;
  readonly tun: MemoryTunnel;
  readonly inline: InlineEngine;
}

interface BenchPair {
  readonly net: MemoryNetwork;
  readonly a: BenchSide;
  readonly b: BenchSide;
  /** Datagrams recorded while `recording` is on. */
  readonly wire: Datagram[];
  recording: boolean;
  /** A's IKE events, with the time each happened (performance.now()). */
  readonly events: { readonly e: EngineEvent; readonly at: number }[];
  settle(): Promise<void>;
  stop(): Promise<void>;
}

const stubRoutes = { add: async () => {}, remove: async () => {}, clear: async () => {} };

async function benchSide(net: MemoryNetwork, side: 'a' | 'b', peer: IkePeer, maxFlows: number, onIke?: (e: EngineEvent) => void): Promise<BenchSide> {
  const addr = side === 'a' ? ADDR_A : ADDR_B;
  const tun = new MemoryTunnel(`bench-${side}`);
  const agent = await startAgent(
    {
      listen: [{ addr, port: 4500 }],
      tun: { name: tun.name, address: '', mtu: 1400 },
      manual: [],
      ike: [peer],
      inline: [parentSpec(side, { scope: 'port', maxSpawn: 10_000_000 })],
    },
    {
      log: makeLogger('info', () => {}),
      backend: nodeBackend,
      openTunnel: async () => ({ tunnel: tun, routes: stubRoutes }),
      openTransport: async (at) => net.attach(at),
      inline: { maxFlows },
      ...(onIke && { onIkeEvent: onIke }),
    },
  );
  const inline = (agent.driver as UserspaceDriver).inline;
  if (!inline) throw new Error('bench: inline keying is not on');
  return { agent, tun, inline };
}

/** Two agents, one IKE connection with inline=on; A initiates at once unless `onTraffic`. */
async function benchPair(o: { maxFlows: number; onTraffic?: boolean }): Promise<BenchPair> {
  const net = new MemoryNetwork();
  const wire: Datagram[] = [];
  const events: { e: EngineEvent; at: number }[] = [];
  const pair = { recording: false };
  net.fault = (d, from) => {
    if (pair.recording) {
      const spi = d.length >= 4 ? readU32(d, 0) : 0;
      wire.push({ from: from.addr, len: d.length, spi, exchange: spi === 0 && d.length >= 28 ? d[4 + 18]! : 0 });
    }
    return [d];
  };
  const common: Partial<IkePeer> = { inline: true, dpd: 0 };
  const b = await benchSide(net, 'b', peerConfig('b', common), o.maxFlows);
  const a = await benchSide(net, 'a', peerConfig('a', { ...common, start: o.onTraffic ? 'on-traffic' : 'initiate' }), o.maxFlows, (e) => events.push({ e, at: performance.now() }));
  const p: BenchPair = {
    net,
    a,
    b,
    wire,
    get recording() {
      return pair.recording;
    },
    set recording(v: boolean) {
      pair.recording = v;
    },
    events,
    settle: () => settle(net),
    stop: async () => {
      await quickStop(a.agent);
      await quickStop(b.agent);
    },
  };
  await p.settle();
  if (!o.onTraffic && !childOf(a.agent)) throw new Error('bench: the IKE SA with its child did not come up');
  return p;
}

const childOf = (a: Agent) => a.ike.sas().find((s) => s.fsm.is('established'))?.children.find((c) => c.state === 'installed');

// ---- flows ---------------------------------------------------------------------------------------

/** Flow i: from 198.51.100.(1 + i mod 250), port 10000 + floor(i / 250) (wrapping), to HOST_B:53. */
const PAYLOAD = new Uint8Array(64);
const TEMPLATES = Array.from({ length: 250 }, (_, h) => udp4(`198.51.100.${1 + h}`, HOST_B, 0, 53, PAYLOAD));
function request(i: number): Uint8Array {
  const p = TEMPLATES[i % 250]!.slice();
  const port = 10_000 + (Math.floor(i / 250) % 55_000);
  p[20] = port >>> 8;
  p[21] = port & 0xff;
  return p;
}

/** The reply to an IPv4/UDP packet: addresses and ports swapped (header checksum unchanged). */
function mirror(p: Uint8Array): Uint8Array {
  const r = p.slice();
  r.set(p.subarray(16, 20), 12);
  r.set(p.subarray(12, 16), 16);
  r.set(p.subarray(22, 24), 20);
  r.set(p.subarray(20, 22), 22);
  return r;
}

/** B answers every packet it receives (after the current handler returns); A counts what comes back. */
function echo(p: BenchPair): { atA: () => number; atB: () => number } {
  let atA = 0;
  let atB = 0;
  p.b.tun.onWrite = (pkt) => {
    atB++;
    p.b.tun.written.length = 0;
    queueMicrotask(() => p.b.tun.inject(mirror(pkt)));
  };
  p.a.tun.onWrite = () => {
    atA++;
    p.a.tun.written.length = 0;
  };
  return { atA: () => atA, atB: () => atB };
}

const cpuMs = (c: NodeJS.CpuUsage) => (c.user + c.system) / 1000;

interface Timed {
  readonly n: number;
  readonly ms: number;
  readonly cpuMs: number;
}

/** Flows [from, to) as request + reply, `inFlight` at a time; until every reply is back at A. */
async function exchange(p: BenchPair, from: number, to: number, inFlight: number, counters: ReturnType<typeof echo>): Promise<Timed> {
  const a0 = counters.atA();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  for (let i = from; i < to; i += inFlight) {
    for (let k = i; k < Math.min(to, i + inFlight); k++) p.a.tun.inject(request(k));
    await p.settle();
  }
  const ms = performance.now() - t0;
  const cpu = cpuMs(process.cpuUsage(cpu0));
  if (counters.atA() - a0 !== to - from) throw new Error(`bench: ${counters.atA() - a0} of ${to - from} replies came back`);
  return { n: to - from, ms, cpuMs: cpu };
}

export interface InlineFigures {
  /** New pairs made inline: request + reply per flow, the pair complete at A. */
  readonly inline: Timed;
  /** The same request + reply on the flows already made (no keying). */
  readonly established: Timed;
  /** Child rekeys: CREATE_CHILD_SA + DELETE each. */
  readonly ike: Timed;
  /** Octets the OFFER and the ANSWER add to the packets they ride on (measured on the wire). */
  readonly offerBytes: number;
  readonly answerBytes: number;
  /** CREATE_CHILD_SA request + response octets per new child, and the rekey's DELETE exchange. */
  readonly ccsBytes: number;
  readonly ccsMessages: number;
  readonly deleteBytes: number;
  readonly deleteMessages: number;
  /** Time to the first protected byte, median ms: inline first packet, CREATE_CHILD_SA round trip, on-traffic IKE set-up. */
  readonly firstByteInline: number;
  readonly firstByteIke: number;
  readonly firstByteOnTraffic: number;
  /** Heap per inline flow and side (B), from `memFrom` to `memCap` completed flows. */
  readonly heapPerFlow: number;
  readonly memCap: number;
  readonly memFrom: number;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.floor(s.length / 2)]! : NaN;
};

/** The userspace driver's SAD holds 2 SAs per flow per side; more flows than its cap need it raised. */
function roomFor(flows: number): void {
  const caps = LIMITS as unknown as { sadMax: number };
  caps.sadMax = Math.max(caps.sadMax, 2 * flows + 64);
}

/** Wire cost of the headers: flow 0's request and reply with headers (the first ones), then again without. */
async function headerCost(p: BenchPair, ctr: ReturnType<typeof echo>): Promise<{ offerBytes: number; answerBytes: number }> {
  p.recording = true;
  await exchange(p, 0, 1, 1, ctr);
  await exchange(p, 0, 1, 1, ctr);
  p.recording = false;
  const [offer, answer, plainReq, plainRep] = p.wire.filter((d) => d.exchange === 0);
  if (!offer || !answer || !plainReq || !plainRep) throw new Error(`bench: expected four ESP datagrams for flow 0, saw ${p.wire.length}`);
  p.wire.length = 0;
  return { offerBytes: offer.len - plainReq.len, answerBytes: answer.len - plainRep.len };
}

/** Octets an inline OFFER and ANSWER add to the two packets of a new flow (the summary's figure, on its own pair of agents). */
export async function inlineHeaderBytes(): Promise<{ offerBytes: number; answerBytes: number }> {
  const p = await benchPair({ maxFlows: 64 });
  try {
    return await headerCost(p, echo(p));
  } finally {
    await p.stop();
  }
}

async function rates(c: InlineBenchConfig): Promise<Pick<InlineFigures, 'inline' | 'established' | 'ike' | 'offerBytes' | 'answerBytes' | 'ccsBytes' | 'ccsMessages' | 'deleteBytes' | 'deleteMessages' | 'firstByteInline' | 'firstByteIke'>> {
  const total = c.warmup + c.flows + c.latencySamples + 2;
  roomFor(total);
  const p = await benchPair({ maxFlows: total + 64 });
  try {
    const ctr = echo(p);
    const { offerBytes, answerBytes } = await headerCost(p, ctr);

    // New flows per second (after a warm-up), then the same packets on the flows just made.
    await exchange(p, 1, 1 + c.warmup, c.inFlight, ctr);
    const acked0 = p.a.inline.counters.acknowledged;
    const inline = await exchange(p, 1 + c.warmup, 1 + c.warmup + c.flows, c.inFlight, ctr);
    if (p.a.inline.counters.acknowledged - acked0 !== c.flows) throw new Error(`bench: ${p.a.inline.counters.acknowledged - acked0} of ${c.flows} inline pairs completed`);
    const established = await exchange(p, 1 + c.warmup, 1 + c.warmup + c.flows, c.inFlight, ctr);
    if (p.a.inline.counters.spawned !== 1 + c.warmup + c.flows) throw new Error('bench: the second round made new flows');

    // Time to the first protected byte of a new flow: one flow at a time, inject to delivery at B.
    const firstInline: number[] = [];
    const base = 1 + c.warmup + c.flows;
    for (let i = base; i < base + c.latencySamples; i++) {
      const before = ctr.atB();
      const arrived = new Promise<number>((resolve) => {
        const prev = p.b.tun.onWrite!;
        p.b.tun.onWrite = (pkt) => {
          prev(pkt);
          p.b.tun.onWrite = prev;
          resolve(performance.now());
        };
      });
      const t0 = performance.now();
      p.a.tun.inject(request(i));
      firstInline.push((await arrived) - t0);
      await p.settle();
      if (ctr.atB() !== before + 1) throw new Error('bench: first packet not delivered');
    }

    // CREATE_CHILD_SA: rekey the carrier child again and again, one exchange at a time.
    const ike = p.a.agent.ike;
    p.events.length = 0;
    const rekeyOnce = async (): Promise<number> => {
      const sa = ike.sas().find((s) => s.fsm.is('established'))!;
      const child = childOf(p.a.agent)!;
      const t0 = performance.now();
      startChildRekey(ike, sa, child);
      await p.settle();
      const ups = p.events.splice(0).filter(({ e }) => e.type === 'child-up' && e.rekey);
      if (ups.length !== 1 || sa.children.length !== 1) throw new Error(`bench: a child rekey did not complete (${ups.length} up, ${sa.children.length} children)`);
      return ups[0]!.at - t0; // the initiator has the new child: it can send on it
    };
    for (let i = 0; i < Math.min(20, c.rekeys); i++) await rekeyOnce();
    p.recording = true;
    const firstIke: number[] = [];
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    for (let i = 0; i < c.rekeys; i++) firstIke.push(await rekeyOnce());
    const ikeTimed: Timed = { n: c.rekeys, ms: performance.now() - t0, cpuMs: cpuMs(process.cpuUsage(cpu0)) };
    p.recording = false;
    const of = (x: number) => p.wire.filter((d) => d.exchange === x);
    const ccs = of(EXCHANGE.CREATE_CHILD_SA);
    const del = of(EXCHANGE.INFORMATIONAL);
    if (p.wire.length !== ccs.length + del.length) throw new Error(`bench: ${p.wire.length - ccs.length - del.length} other datagrams during the rekeys`);
    const bytes = (ds: Datagram[]) => ds.reduce((s, d) => s + d.len, 0) / c.rekeys;
    return {
      inline,
      established,
      ike: ikeTimed,
      offerBytes,
      answerBytes,
      ccsBytes: bytes(ccs),
      ccsMessages: ccs.length / c.rekeys,
      deleteBytes: bytes(del),
      deleteMessages: del.length / c.rekeys,
      firstByteInline: median(firstInline),
      firstByteIke: median(firstIke),
    };
  } finally {
    await p.stop();
  }
}

/** start=on-traffic, no IKE SA: the first packet (dropped, no-sa) to the child SA at A. */
async function onTraffic(samples: number): Promise<number> {
  const ms: number[] = [];
  for (let i = 0; i < samples; i++) {
    const p = await benchPair({ maxFlows: 64, onTraffic: true });
    try {
      const t0 = performance.now();
      p.a.tun.inject(request(i));
      await p.settle();
      const up = p.events.find(({ e }) => e.type === 'child-up');
      if (!up || !childOf(p.a.agent)) throw new Error('bench: the on-traffic IKE SA did not come up');
      ms.push(up.at - t0);
    } finally {
      await p.stop();
    }
  }
  return median(ms);
}

/** Heap per completed inline flow: after gc at `from` flows and at `cap` flows (both agents here). */
async function memory(c: InlineBenchConfig): Promise<number> {
  roomFor(c.memCap);
  const gc = getGc();
  const heap = async () => {
    for (let i = 0; i < 4; i++) {
      gc();
      await new Promise((r) => setImmediate(r));
    }
    return process.memoryUsage().heapUsed;
  };
  const p = await benchPair({ maxFlows: c.memCap });
  try {
    const ctr = echo(p);
    await exchange(p, 0, c.memFrom, c.inFlight, ctr);
    const h0 = await heap();
    await exchange(p, c.memFrom, c.memCap, c.inFlight, ctr);
    const h1 = await heap();
    if (p.a.inline.size !== c.memCap || p.b.inline.size !== c.memCap) throw new Error(`bench: ${p.a.inline.size}/${p.b.inline.size} flows at the cap of ${c.memCap}`);
    return (h1 - h0) / (c.memCap - c.memFrom) / 2;
  } finally {
    await p.stop();
  }
}

export async function inlineFigures(c: InlineBenchConfig): Promise<InlineFigures> {
  const r = await rates(c);
  const firstByteOnTraffic = await onTraffic(c.onTrafficSamples);
  const heapPerFlow = await memory(c);
  return { ...r, firstByteOnTraffic, heapPerFlow, memCap: c.memCap, memFrom: c.memFrom };
}

// ---- output --------------------------------------------------------------------------------------

const perSec = (t: Timed) => (t.n * 1000) / t.ms;
const usPer = (t: Timed) => (t.cpuMs * 1000) / t.n;

export function inlineTable(f: InlineFigures): string {
  const keyingUs = usPer(f.inline) - usPer(f.established);
  const ikeBytes = f.ccsBytes + f.deleteBytes;
  const rows: (string | number)[][] = [
    ['new SA pairs per second', perSec(f.inline), perSec(f.ike), perSec(f.inline) / perSec(f.ike)],
    ['CPU per new SA pair, both agents, us', usPer(f.inline), usPer(f.ike), usPer(f.inline) / usPer(f.ike)],
    ['  of which keying (minus the same packets on made SAs)', keyingUs, usPer(f.ike), keyingUs / usPer(f.ike)],
    ['extra messages per new SA pair', 0, `${fmt(f.ccsMessages)} + ${fmt(f.deleteMessages)}`, 0],
    ['extra octets on the wire per new SA pair', `${f.offerBytes} + ${f.answerBytes}`, `${fmt(f.ccsBytes)} + ${fmt(f.deleteBytes)}`, (f.offerBytes + f.answerBytes) / ikeBytes],
    ['time to the first protected byte, median ms', f.firstByteInline, f.firstByteIke, f.firstByteInline / f.firstByteIke],
    ['  on-traffic, no IKE SA yet (IKE_SA_INIT + IKE_AUTH)', f.firstByteInline, f.firstByteOnTraffic, f.firstByteInline / f.firstByteOnTraffic],
    ['round trips before the first protected byte', 0, '1 (on-traffic: 2)', 0],
    [`heap per inline flow and side, ${f.memFrom} -> ${f.memCap} flows, B`, f.heapPerFlow, 'n/a', 'n/a'],
  ];
  return table(['', 'inline', 'CREATE_CHILD_SA', 'inline/IKE'], rows);
}

export async function inlineSection(print: (s: string) => void, c: InlineBenchConfig = inlineConfigFromEnv()): Promise<InlineFigures> {
  const started = performance.now();
  print('\nInline keying vs CREATE_CHILD_SA: new SA pairs between the same two agents in this process, memory network,');
  print('node:crypto, aes256gcm16, one IKE connection with inline=on (scope port), IKE aes256gcm16-prfsha256-x25519, no PFS.');
  print(`inline: ${c.flows} new flows (KEYLINE_BENCH_INLINE_FLOWS) after ${c.warmup} warm-up, ${c.inFlight} at a time; each a UDP request from a`);
  print('new source port carrying the OFFER and its reply carrying the ANSWER; a pair counts when A has keyed Z from the answer.');
  print(`CREATE_CHILD_SA: ${c.rekeys} rekeys of the child SA (KEYLINE_BENCH_INLINE_REKEYS), one at a time (IKE window 1); each is`);
  print('CREATE_CHILD_SA (2 messages, the new pair) and then INFORMATIONAL with DELETE (2 messages, the old pair).');
  const f = await inlineFigures(c);
  print('');
  print(inlineTable(f));
  print('Inline per-pair CPU includes sealing and opening the request and the reply (ESP, 64-octet payload); the "of which');
  print(`keying" row subtracts the same ${c.flows} request/reply pairs on the flows once made. First byte: inline, the first packet`);
  print('itself carries it (one-way: inject at A to delivery at B, this process); CREATE_CHILD_SA, until the initiator has the');
  print('new child (one round trip here; add one path RTT on a real link); on-traffic, until the child SA is up (two round');
  print('trips and a Diffie-Hellman; the packet that started it is dropped, so TCP waits for its SYN retransmission, 1 s).');
  print(`Memory: both agents in this process, heap after gc, slope from ${c.memFrom} to ${c.memCap} flows (inline-max-flows), halved.`);
  print(`(inline bench: ${((performance.now() - started) / 1000).toFixed(0)} s)`);
  return f;
}
