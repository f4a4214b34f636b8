/**
 * The summary of `npm run bench`: keyline against strongSwan (charon 5.9.8, kernel-libipsec) in
 * ONE table, every figure of both measured in this run, with the ratio keyline/strongSwan.
 *
 * - IKE SAs/s as responder: keyline's initiator (ike-child.ts, in its own namespace and process)
 *   brings up the same connections, paced the same way, at a keyline responder and at a charon
 *   responder (charon-load.ts); and the responder's CPU per SA. keyline initiates because charon's
 *   own cost per initiation grows with its connections and IKE SAs (it would be the bottleneck).
 * - Memory per IKE SA (with its child): the responder's heap and RSS slope between two SA counts
 *   of the same run (KEYLINE_BENCH_ANCHOR_MEM). Per additional child SA: charon initiates N IKE
 *   SAs, then K more children in each (CREATE_CHILD_SA; keyline starts that exchange only to
 *   rekey), slope from N to N·(1+K) child SAs (KEYLINE_BENCH_ANCHOR_CHILDREN=N,K).
 * - The deployed tunnel (tunnel.ts): iperf3 through keyline↔keyline (userspace ESP, TUN) and
 *   charon↔charon (kernel-libipsec), the plain veth as the ceiling; IKE messages and octets to the
 *   first child SA on the veth; idle RSS; cold start.
 * - Per additional SA on the wire: strongSwan's CREATE_CHILD_SA on the veth; keyline's from a
 *   child rekey between two agents on the memory network (every datagram recorded with its
 *   length, the CREATE_CHILD_SA exchange only); inline keying, the octets its OFFER and ANSWER add
 *   to the flow's first two packets (inline.ts).
 * - Bundle: dist/keyline.js; strongSwan: the files charon maps for this configuration, as installed.
 * Anything that cannot run here (not root, no charon, no iperf3, no /dev/net/tun) is a row that
 * says "not measured: why"; nothing here throws for a missing tool.
 */
import { existsSync, readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { EXCHANGE } from '../../src/ike/constants.js';
import { startChildRekey } from '../../src/ike/tasks/child.js';
import { MemoryNetwork } from '../../src/transport/memory.js';
import { readU32 } from '../../src/wire/bytes.js';
import { settle } from '../ike/agents.js';
import { chargeResponder, type LoadResult, type MemSample } from './charon-load.js';
import { CHARON, CHARON_LOAD, PLUGIN_DIR, run } from './charon-proc.js';
import { quickStop, type IkeBenchConfig } from './ike.js';
import { pump } from './ike-pump.js';
import { BENCH_SUITES, benchLimits, benchPeers, startBenchAgent, type BenchSuite } from './ike-world.js';
import { inlineHeaderBytes } from './inline.js';
import { fmt, table } from './table.js';
import { tunnelFigures, type TunnelFigures, type Wire } from './tunnel.js';

export interface AnchorConfig {
  readonly ike: IkeBenchConfig;
  /** Memory per IKE SA: responder sampled at these two SA counts. */
  readonly memFrom: number;
  readonly memTo: number;
  /** Memory per child SA: N IKE SAs, then K more children in each. */
  readonly childSas: number;
  readonly childExtra: number;
  /** iperf3 seconds per run. */
  readonly iperfSeconds: number;
  readonly bundle: string;
}

const pairOf = (v: string | undefined, d: [number, number]): [number, number] => {
  const [a, b] = (v ?? '').split(',').map(Number);
  return a && b && a > 0 && b > 0 ? [a, b] : d;
};

export function anchorConfigFromEnv(ike: IkeBenchConfig, env: NodeJS.ProcessEnv = process.env): AnchorConfig {
  const [memFrom, memTo] = pairOf(env.KEYLINE_BENCH_ANCHOR_MEM, [500, 2000]);
  const [childSas, childExtra] = pairOf(env.KEYLINE_BENCH_ANCHOR_CHILDREN, [200, 4]);
  return { ike, memFrom, memTo, childSas, childExtra, iperfSeconds: Number(env.KEYLINE_BENCH_IPERF_S ?? 10), bundle: 'dist/keyline.js' };
}

// ---- keyline's wire cost per additional SA, on the memory network ---------------------------------

interface KeylineWire {
  readonly firstSa: Wire;
  readonly ccs: Wire;
}

/** One IKE SA between two agents, then one child rekey; datagrams by exchange type (after the non-ESP marker). */
async function keylineWire(suite: BenchSuite): Promise<KeylineWire> {
  const memory = new MemoryNetwork();
  const seen: { exchange: number; len: number }[] = [];
  memory.fault = (d) => {
    if (d.length >= 28 && readU32(d, 0) === 0) seen.push({ exchange: d[4 + 18]!, len: d.length });
    return [d];
  };
  const resp = await startBenchAgent({ peers: benchPeers({ side: 'responder', remote: undefined, suite, count: 1 }), limits: benchLimits(1), net: { memory, addr: '192.0.2.2' } });
  const init = await startBenchAgent({ peers: benchPeers({ side: 'initiator', remote: { addr: '192.0.2.2', port: 4500 }, suite, count: 1 }), limits: benchLimits(1), net: { memory, addr: '192.0.2.1' } });
  try {
    await pump(init, 0, 1, 1, 10_000);
    await settle(memory);
    const sum = (xs: { len: number }[]): Wire => ({ messages: xs.length, bytes: xs.reduce((s, x) => s + x.len, 0) });
    const firstSa = sum(seen.splice(0));
    const sa = init.ike.sas().find((s) => s.fsm.is('established'));
    const child = sa?.children[0];
    if (!sa || !child) throw new Error('bench: no IKE SA with a child to rekey');
    startChildRekey(init.ike, sa, child);
    await settle(memory);
    return { firstSa, ccs: sum(seen.filter((x) => x.exchange === EXCHANGE.CREATE_CHILD_SA)) };
  } finally {
    await quickStop(init);
    await quickStop(resp);
  }
}

// ---- strongSwan's installed size ------------------------------------------------------------------

/** The files charon maps with this bench's `load` list: the binary, its plugins, libstrongswan, libcharon, libipsec. */
function charonFiles(): string[] {
  const libs = ['libstrongswan.so.0.0.0', 'libcharon.so.0.0.0', 'libipsec.so.0.0.0'].map((l) => `/usr/lib/ipsec/${l}`);
  return [CHARON, ...CHARON_LOAD.map((p) => `${PLUGIN_DIR}/libstrongswan-${p}.so`), ...libs].filter((f) => existsSync(f));
}

function sizes(files: readonly string[]): { raw: number; gz: number } {
  let raw = 0;
  let gz = 0;
  for (const f of files) {
    const b = readFileSync(f);
    raw += b.length;
    gz += gzipSync(b, { level: 9 }).length;
  }
  return { raw, gz };
}

// ---- the runs -------------------------------------------------------------------------------------

export interface AnchorFigures {
  readonly rates: { readonly suite: BenchSuite; readonly keyline: LoadResult; readonly charon: LoadResult }[];
  readonly ikeMem: { readonly keyline: LoadResult; readonly charon: LoadResult };
  readonly childMem: { readonly keyline: LoadResult; readonly charon: LoadResult };
  readonly tunnel: TunnelFigures;
  readonly keylineWire: KeylineWire | string;
  readonly inline: { offerBytes: number; answerBytes: number } | string;
  readonly bundle: { raw: number; gz: number };
  readonly charonFiles: { raw: number; gz: number; files: number };
  readonly versions: { charon: string; iperf3: string };
}

const why = (e: unknown) => (e as Error).message.split('\n')[0]!.slice(0, 120);

export async function anchorFigures(c: AnchorConfig, progress: (s: string) => void = () => {}): Promise<AnchorFigures> {
  const ike = c.ike;
  const both = async (plan: Omit<Parameters<typeof chargeResponder>[1], 'childArgv' | 'inFlight'>) => ({
    keyline: await chargeResponder('keyline', { ...plan, inFlight: ike.inFlight, childArgv: ike.childArgv }),
    charon: await chargeResponder('charon', { ...plan, inFlight: ike.inFlight, childArgv: ike.childArgv }),
  });
  const rates = [];
  for (const suite of ike.suites) {
    progress(`  rate ${suite.ike}`);
    rates.push({ suite, ...(await both({ initiator: 'keyline', suite, warmup: ike.warmup, sas: ike.sas, memory: false, extra: 0 })) });
  }
  const suite = BENCH_SUITES[0];
  progress(`  memory per IKE SA, ${c.memFrom} -> ${c.memTo}`);
  const ikeMem = await both({ initiator: 'keyline', suite, warmup: c.memFrom, sas: c.memTo - c.memFrom, memory: true, extra: 0, charonOneConnection: true });
  progress(`  memory per child SA, ${c.childSas} IKE SAs + ${c.childExtra} children each`);
  const childMem = await both({ initiator: 'charon', suite, warmup: c.childSas, sas: 0, memory: true, extra: c.childExtra });
  progress('  tunnel: iperf3, wire, idle RSS, cold start');
  const tunnel = await tunnelFigures(c.bundle, c.iperfSeconds);
  const keylineWireFig = await keylineWire(suite).catch(why);
  const inline = await inlineHeaderBytes().catch(why);
  const bundleBytes = existsSync(c.bundle) ? readFileSync(c.bundle) : new Uint8Array(0);
  const files = charonFiles();
  const version = async (argv: string[], re: RegExp) => re.exec(await run(argv, 5000).catch(() => ''))?.[1] ?? 'n/a';
  return {
    rates,
    ikeMem,
    childMem,
    tunnel,
    keylineWire: keylineWireFig,
    inline,
    bundle: { raw: bundleBytes.length, gz: gzipSync(bundleBytes, { level: 9 }).length },
    charonFiles: { ...sizes(files), files: files.length },
    versions: { charon: await version([CHARON, '--version'], /(\d+\.\d+\.\d+)/), iperf3: await version(['iperf3', '--version'], /iperf (\S+)/) },
  };
}

// ---- the table -------------------------------------------------------------------------------------

type Cell = string | number;
const NM = (s: string) => `not measured: ${s}`;
/** A count, printed as an integer (table() would print 4 as 4.00). */
const count = (n: number) => n.toLocaleString('en-US');
const pct = (x: number) => `${(x * 100).toPrecision(2)}%`;

/** Bytes per step between two samples (heap or rss), per IKE SA or per child SA. */
function slope(r: LoadResult, key: 'heap' | 'rss', per: 'ikeSas' | 'childSas', from: number, to: number): number {
  const a: MemSample | undefined = r.mem[from];
  const b: MemSample | undefined = r.mem[to];
  if (!a || !b || b[per] === a[per]) return NaN;
  return (b[key] - a[key]) / (b[per] - a[per]);
}

export function anchorTable(f: AnchorFigures, c: AnchorConfig): string {
  const rows: Cell[][] = [];
  const ratio = (k: number | undefined, s: number | undefined) => (k !== undefined && s !== undefined && Number.isFinite(k) && Number.isFinite(s) && s !== 0 ? k / s : NaN);
  const row = (figure: string, unit: string, k: number | string | undefined, s: number | string | undefined) => {
    rows.push([figure, unit, k ?? 'n/a', s ?? 'n/a', typeof k === 'number' && typeof s === 'number' ? ratio(k, s) : '']);
  };
  const val = (r: LoadResult, v: number) => (r.notMeasured ? NM(r.notMeasured) : v);

  for (const { suite, keyline, charon } of f.rates) {
    row(`IKE SAs/s as responder, ${suite.ike}`, 'SAs/s', val(keyline, (keyline.sas * 1000) / keyline.ms), val(charon, (charon.sas * 1000) / charon.ms));
    row('  responder CPU per IKE SA', 'ms', val(keyline, keyline.respCpuMs), val(charon, charon.respCpuMs));
  }
  const m = f.ikeMem;
  const span = `${count(c.memFrom)} -> ${count(c.memTo)} SAs`;
  row(`heap per IKE SA with its child, ${span}`, 'B', val(m.keyline, slope(m.keyline, 'heap', 'ikeSas', 0, 1)), val(m.charon, slope(m.charon, 'heap', 'ikeSas', 0, 1)));
  row(`RSS per IKE SA with its child, ${span}`, 'B', val(m.keyline, slope(m.keyline, 'rss', 'ikeSas', 0, 1)), val(m.charon, slope(m.charon, 'rss', 'ikeSas', 0, 1)));
  const ch = f.childMem;
  const cspan = `${count(c.childSas)} -> ${count(c.childSas * (1 + c.childExtra))} child SAs`;
  row(`heap per additional child SA, ${cspan}`, 'B', val(ch.keyline, slope(ch.keyline, 'heap', 'childSas', 1, 2)), val(ch.charon, slope(ch.charon, 'heap', 'childSas', 1, 2)));
  row(`RSS per additional child SA, ${cspan}`, 'B', val(ch.keyline, slope(ch.keyline, 'rss', 'childSas', 1, 2)), val(ch.charon, slope(ch.charon, 'rss', 'childSas', 1, 2)));

  const t = f.tunnel;
  const mbps = (x: { mbps?: number; notMeasured?: string }) => (x.notMeasured ? NM(x.notMeasured) : x.mbps);
  row(`ESP throughput, iperf3 TCP ${c.iperfSeconds} s, aes256gcm16`, 'Mbit/s', mbps(t.keyline.throughput), mbps(t.charon.throughput));
  const ceiling = t.veth.mbps;
  const share = (x: { mbps?: number; notMeasured?: string }) => (x.mbps !== undefined && ceiling !== undefined ? pct(x.mbps / ceiling) : x.notMeasured ? NM(x.notMeasured) : 'n/a');
  rows.push([`  of the plain veth, no IPsec (${ceiling !== undefined ? `${fmt(ceiling)} Mbit/s` : NM(t.veth.notMeasured ?? '?')})`, '', share(t.keyline.throughput), share(t.charon.throughput), '']);

  const wire = (p: typeof t.keyline, k: 'messages' | 'bytes') => (p.firstSa ? p.firstSa[k] : NM(p.notMeasured ?? '?'));
  const countRow = (figure: string, unit: string, k: number | string, s: number | string) =>
    rows.push([figure, unit, typeof k === 'number' ? count(k) : k, typeof s === 'number' ? count(s) : s, typeof k === 'number' && typeof s === 'number' ? ratio(k, s) : '']);
  countRow('IKE messages to the first protected packet', 'msgs', wire(t.keyline, 'messages'), wire(t.charon, 'messages'));
  countRow('  octets (UDP payload, both directions)', 'B', wire(t.keyline, 'bytes'), wire(t.charon, 'bytes'));
  const kw = f.keylineWire;
  const sw = t.charon.extraSa;
  const swCell = (k: 'messages' | 'bytes') => (sw ? sw[k] : NM(t.charon.notMeasured ?? '?'));
  countRow('messages per additional SA: IKE CREATE_CHILD_SA', 'msgs', typeof kw === 'string' ? NM(kw) : kw.ccs.messages, swCell('messages'));
  countRow('  octets', 'B', typeof kw === 'string' ? NM(kw) : kw.ccs.bytes, swCell('bytes'));
  const il = f.inline;
  countRow('messages per additional SA: keyline inline', 'msgs', typeof il === 'string' ? NM(il) : 0, swCell('messages'));
  countRow('  octets (OFFER + ANSWER on the first two packets)', 'B', typeof il === 'string' ? NM(il) : il.offerBytes + il.answerBytes, swCell('bytes'));

  row('bundle raw (strongSwan: charon + plugins + libs)', 'KB', f.bundle.raw ? f.bundle.raw / 1024 : NM(`${c.bundle} missing`), f.charonFiles.files ? f.charonFiles.raw / 1024 : 'n/a');
  row('bundle gzipped', 'KB', f.bundle.raw ? f.bundle.gz / 1024 : NM(`${c.bundle} missing`), f.charonFiles.files ? f.charonFiles.gz / 1024 : 'n/a');
  const rss = (p: typeof t.keyline) => (p.idleRss !== undefined ? p.idleRss / 1048576 : NM(p.notMeasured ?? '?'));
  row('idle RSS, one peer established', 'MB', rss(t.keyline), rss(t.charon));
  const cold = (p: typeof t.keyline) => p.coldStartMs ?? NM(p.notMeasured ?? '?');
  row('cold start to ready (spawn -> control socket answers)', 'ms', cold(t.keyline), cold(t.charon));
  return table(['figure', 'unit', 'keyline', 'strongSwan', 'keyline/strongSwan'], rows);
}

export async function anchorSection(print: (s: string) => void, c: AnchorConfig): Promise<AnchorFigures> {
  const started = performance.now();
  print(`\nSummary: keyline against strongSwan, measured in this run (KEYLINE_BENCH_ONLY=anchors for this table alone)`);
  const f = await anchorFigures(c, (s) => process.stderr.write(`${s}\n`));
  print(`strongSwan charon ${f.versions.charon} with kernel-libipsec; iperf3 ${f.versions.iperf3}; two network namespaces joined by a veth.`);
  print(anchorTable(f, c));
  const notes: string[] = [];
  for (const r of [...f.rates.flatMap((x) => [x.keyline, x.charon]), f.ikeMem.keyline, f.ikeMem.charon, f.childMem.keyline, f.childMem.charon]) if (r.note) notes.push(r.note);
  const r0 = f.rates[0];
  print(
    [
      `IKE: ${c.ike.sas} SAs measured after ${c.ike.warmup} (KEYLINE_BENCH_SAS), ${c.ike.inFlight} in flight, keyline's initiator in its own namespace`,
      'and process driving each responder in turn, one connection per SA on both sides (own ID, /32 selectors), PSK, the',
      `responders' DoS limits (cookies, half-open caps) raised alike. Initiator CPU per SA: ${r0 ? `${fmt(r0.keyline.initCpuMs)} ms (to keyline), ${fmt(r0.charon.initCpuMs)} ms (to charon)` : 'n/a'}.`,
      `Memory (KEYLINE_BENCH_ANCHOR_MEM=${c.memFrom},${c.memTo}; KEYLINE_BENCH_ANCHOR_CHILDREN=${c.childSas},${c.childExtra}): the responder's slope between`,
      'the two counts; keyline heap = V8 heapUsed + external after gc; charon heap = glibc mallinfo used + mmap (swanctl --stats).',
      `charon's memory per IKE SA: one road-warrior connection (with ${count(c.memTo)} mirror connections it answers too slowly to fill).`,
      `Extra children: charon initiates (keyline starts CREATE_CHILD_SA only to rekey), TCP-port selectors inside each connection's.`,
      'Tunnel: keyline run on both ends (driver=userspace, TUN via socat) vs charon on both ends (kernel-libipsec), IKE',
      'aes256gcm16-prfsha256-x25519, ESP aes256gcm16; "first protected packet": the veth counters (ARP and IPv6 off) from start to',
      "both child SAs up, minus 42 octets of Ethernet/IPv4/UDP per frame; keyline's per-SA IKE figure is a child rekey's",
      'CREATE_CHILD_SA on the memory network (N(REKEY_SA) makes its request 12 octets longer than a new child\'s); idle RSS of',
      `the initiator after 2 s (keyline: node + its socat bridge, ${f.tunnel.keyline.bridgeRss !== undefined ? `${fmt(f.tunnel.keyline.bridgeRss / 1048576)} MB` : 'n/a'}); cold start: spawn of the responder to`,
      'its control socket answering (keyline: `ping` ok, with TUN, bridge and sockets up; charon: vici accepting).',
      `Sizes: dist/keyline.js (needs Node); strongSwan: charon, the ${CHARON_LOAD.length} plugins loaded here, libstrongswan, libcharon, libipsec as installed`,
      '(needs libcrypto for the openssl plugin). Ratios above 1 mean keyline has more of it: better for rates, worse for the rest.',
      ...notes,
    ].join('\n'),
  );
  print(`(summary: ${((performance.now() - started) / 1000).toFixed(0)} s)`);
  return f;
}
