/**
 * Soak test (a script, not part of `npm test`): two `keyline run` agents from the bundle in two
 * network namespaces (test/netns/ns.ts), lifetimes so short that a child SA is rekeyed every few
 * seconds and the IKE SA every ten or so, and a ping every 200 ms through the tunnel, for
 * SOAK_MINUTES (default 60). Every SOAK_SAMPLE_SECONDS (default 60) it samples per agent the
 * heap and RSS (`show --json` memory, else /proc/PID/status), the SA counts and the rekeys so
 * far, and the pings sent and answered. At the end it writes to the output folder:
 *
 *   samples.csv   one row per sample and agent
 *   soak.png      heap and RSS of both agents in MB over the minutes, titled with the date and duration
 *   summary.txt   totals, loss, memory first/last/peak and the heap trend per hour
 *
 * Run as root: `SOAK_MINUTES=3 npm run soak -- OUTDIR` (the package script bundles test/soak/cli.ts).
 * Namespaces and processes are removed at the end, on SIGINT/SIGTERM and on failure.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { AgentStatus } from '../../src/control/status.js';
import { cleanupLeftovers, createNamespacePair, execIn, requireNetnsTools, spawnIn, type NamespacePair, type Proc } from '../netns/ns.js';
import { encodePng, lineChart, type Chart, type Series } from './png.js';

const NET = { a: '198.51.100', b: '203.0.113' } as const;

export interface Sample {
  readonly minute: number;
  readonly agent: 'a' | 'b';
  readonly rssMb: number;
  readonly heapMb: number | undefined;
  readonly ikeSas: number;
  readonly childSas: number;
  readonly childRekeys: number;
  readonly ikeRekeys: number;
  readonly pingsSent: number;
  readonly pingsAnswered: number;
}

export async function main(args: string[]): Promise<void> {
  const out = resolve(args[0] ?? 'soak-out');
  const minutes = Number(process.env.SOAK_MINUTES ?? 60);
  const every = Number(process.env.SOAK_SAMPLE_SECONDS ?? 60);
  const bundle = resolve('dist/keyline.js');
  if (!(minutes > 0) || !(every > 0)) throw new Error('SOAK_MINUTES and SOAK_SAMPLE_SECONDS must be positive numbers');
  requireNetnsTools();
  mkdirSync(out, { recursive: true });
  await cleanupLeftovers();
  const cleanups: (() => unknown)[] = [];
  const cleanup = async () => {
    while (cleanups.length) await Promise.resolve(cleanups.pop()!()).catch(() => {});
  };
  const onSignal = () => void cleanup().then(() => process.exit(130));
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    const pair = await createNamespacePair();
    cleanups.push(() => pair.destroy());
    for (const ns of [pair.a, pair.b]) await execIn(ns, ['sysctl', '-qw', 'net.ipv6.conf.default.disable_ipv6=1']);
    const dir = mkdtempSync(join(tmpdir(), `keyline-netns-${process.pid}-soak-`));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const agents = startAgents(pair, dir, bundle);
    for (const p of Object.values(agents)) cleanups.push(() => p.proc.stop());
    await waitLog(agents.a.proc, /child SA up/, 20_000);
    const ping = spawnIn(pair.a, ['ping', '-n', '-i', '0.2', '-W', '1', '-I', `${NET.a}.1`, `${NET.b}.1`]);
    cleanups.push(() => ping.stop());
    const started = Date.now();
    console.log(`soak: ${minutes} min, a sample every ${every} s, output in ${out}`);
    const samples: Sample[] = [];
    const take = async () => {
      const minute = (Date.now() - started) / 60_000;
      const answered = ping.lines.filter((l) => /bytes from/.test(l)).length;
      const sent = Math.max(0, ...ping.lines.map((l) => Number(/icmp_seq=(\d+)/.exec(l)?.[1] ?? 0)));
      for (const side of ['a', 'b'] as const) {
        const s = await sampleAgent(bundle, agents[side], side, minute, sent, answered);
        samples.push(s);
        console.log(
          `  ${minute.toFixed(1).padStart(5)} min ${side}: RSS ${s.rssMb.toFixed(1)} MB, heap ${s.heapMb?.toFixed(1) ?? '-'} MB, ` +
            `${s.ikeSas} IKE / ${s.childSas} child SAs, rekeys ${s.childRekeys} child / ${s.ikeRekeys} IKE, pings ${answered}/${sent}`,
        );
      }
    };
    await take();
    for (let i = 1; i * every <= minutes * 60; i++) {
      await sleep(started + i * every * 1000 - Date.now());
      for (const [side, a] of Object.entries(agents)) if (!a.proc.running()) throw new Error(`agent ${side} exited:\n${a.proc.stderr().slice(-2000)}`);
      await take();
    }
    process.kill(ping.pid, 'SIGINT');
    await Promise.race([ping.exited, sleep(3000)]);
    const summary = summarize(samples, agents, ping.stdout());
    writeFileSync(join(out, 'samples.csv'), toCsv(samples));
    const title = `keyline soak ${new Date(started).toISOString().slice(0, 10)}, ${minutes} min, rekeys every 4–7 s`;
    writeFileSync(join(out, 'soak.png'), encodePng(memoryChart(samples, title)));
    writeFileSync(join(out, 'summary.txt'), summary);
    for (const [side, a] of Object.entries(agents)) writeFileSync(join(out, `agent-${side}.log`), a.proc.stderr());
    console.log(summary);
  } finally {
    await cleanup();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

interface Running {
  readonly proc: Proc;
  readonly sock: string;
}

function startAgents(pair: NamespacePair, dir: string, bundle: string): Record<'a' | 'b', Running> {
  const psk = randomBytes(32).toString('hex');
  const start = (me: 'a' | 'b'): Running => {
    const them = me === 'a' ? 'b' : 'a';
    const [addr, peer] = me === 'a' ? [pair.addrA, pair.addrB] : [pair.addrB, pair.addrA];
    const file = join(dir, `${me}.keys`);
    writeFileSync(
      file,
      [
        `local id=fqdn:${me}.example listen=${addr}:500,${addr}:4500 tun=kl0 tun-addr=${NET[me]}.1/24`,
        `peer ${them} addr=${peer} id=fqdn:${them}.example psk=hex:${psk} start=${me === 'a' ? 'initiate' : 'wait'}`,
        // a child rekey every 4-7 s, an IKE rekey every 10-13 s
        `    local-net=${NET[me]}.0/24 remote-net=${NET[them]}.0/24 lifetime=10s ike-lifetime=16s rekey-margin=3s dpd=5s`,
        '',
      ].join('\n'),
      { mode: 0o600 },
    );
    const sock = join(dir, `${me}.sock`);
    return { proc: spawnIn(me === 'a' ? pair.a : pair.b, [process.execPath, bundle, 'run', '--config', file, '--socket', sock]), sock };
  };
  const b = start('b');
  const a = start('a');
  return { a, b };
}

async function sampleAgent(bundle: string, r: Running, side: 'a' | 'b', minute: number, sent: number, answered: number): Promise<Sample> {
  const st = await new Promise<AgentStatus | undefined>((res) =>
    execFile(process.execPath, [bundle, 'show', '--json', '--socket', r.sock], { timeout: 10_000 }, (e, stdout) => res(e ? undefined : (JSON.parse(stdout) as AgentStatus))),
  );
  const proc = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${r.proc.pid}/status`, 'utf8'))?.[1];
  const ikes = st?.peers.flatMap((p) => p.ikeSas ?? []) ?? [];
  const log = r.proc.stderr();
  const count = (re: RegExp) => log.split('\n').filter((l) => re.test(l)).length;
  return {
    minute,
    agent: side,
    rssMb: (st?.memory?.rss ?? Number(proc ?? 0) * 1024) / 1e6,
    heapMb: st?.memory ? st.memory.heapUsed / 1e6 : undefined,
    ikeSas: ikes.length,
    childSas: ikes.reduce((n, s) => n + s.children.length, 0),
    childRekeys: count(/child SA rekeyed/),
    ikeRekeys: count(/IKE SA rekeyed to/),
    pingsSent: sent,
    pingsAnswered: answered,
  };
}

export function toCsv(samples: readonly Sample[]): string {
  const cols = ['minute', 'agent', 'rssMb', 'heapMb', 'ikeSas', 'childSas', 'childRekeys', 'ikeRekeys', 'pingsSent', 'pingsAnswered'] as const;
  const cell = (v: unknown) => (typeof v === 'number' ? (Number.isInteger(v) ? String(v) : v.toFixed(3)) : v === undefined ? '' : String(v));
  return [cols.join(','), ...samples.map((s) => cols.map((c) => cell(s[c])).join(','))].join('\n') + '\n';
}

export function plotSeries(samples: readonly Sample[]): Series[] {
  const pts = (agent: 'a' | 'b', f: (s: Sample) => number | undefined) =>
    samples.filter((s) => s.agent === agent && f(s) !== undefined).map((s) => [s.minute, f(s)!] as const);
  return [
    { name: 'a RSS', color: [214, 39, 40], points: pts('a', (s) => s.rssMb) },
    { name: 'a heap', color: [255, 152, 150], points: pts('a', (s) => s.heapMb) },
    { name: 'b RSS', color: [31, 119, 180], points: pts('b', (s) => s.rssMb) },
    { name: 'b heap', color: [174, 199, 232], points: pts('b', (s) => s.heapMb) },
  ];
}

/** 1000×500 leaves room for the title at three pixels per font dot and the labels at two. */
export function memoryChart(samples: readonly Sample[], title: string): Chart {
  return lineChart({ width: 1000, height: 500, title, xLabel: 'minutes since start', yUnit: 'MB', series: plotSeries(samples) });
}

/** Least-squares slope of y over x (per unit of x). */
function slope(points: readonly (readonly [number, number])[]): number {
  const n = points.length;
  if (n < 2) return 0;
  const mx = points.reduce((s, p) => s + p[0], 0) / n;
  const my = points.reduce((s, p) => s + p[1], 0) / n;
  const num = points.reduce((s, p) => s + (p[0] - mx) * (p[1] - my), 0);
  const den = points.reduce((s, p) => s + (p[0] - mx) ** 2, 0);
  return den === 0 ? 0 : num / den;
}

function summarize(samples: readonly Sample[], agents: Record<'a' | 'b', Running>, pingOut: string): string {
  const lines: string[] = [];
  const tx = Number(/(\d+) packets transmitted/.exec(pingOut)?.[1] ?? 0);
  const rx = Number(/(\d+) received/.exec(pingOut)?.[1] ?? 0);
  const last = samples[samples.length - 1];
  lines.push(`keyline soak: ${last ? last.minute.toFixed(1) : 0} min, ${samples.length / 2} samples per agent`);
  lines.push(`pings: ${rx} of ${tx} answered, ${tx - rx} lost (${tx ? (((tx - rx) / tx) * 100).toFixed(2) : '0'}%)`);
  for (const side of ['a', 'b'] as const) {
    const s = samples.filter((x) => x.agent === side);
    const f = s[0];
    const l = s[s.length - 1];
    if (!f || !l) continue;
    const heap = s.filter((x) => x.heapMb !== undefined).map((x) => [x.minute, x.heapMb!] as const);
    const rss = s.map((x) => [x.minute, x.rssMb] as const);
    const errors = agents[side].proc.stderr().split('\n').filter((x) => /^error:/.test(x)).length;
    lines.push(
      `agent ${side}: RSS ${f.rssMb.toFixed(1)} -> ${l.rssMb.toFixed(1)} MB (peak ${Math.max(...s.map((x) => x.rssMb)).toFixed(1)}, trend ${(slope(rss) * 60).toFixed(2)} MB/h); ` +
        `heap ${f.heapMb?.toFixed(1) ?? '-'} -> ${l.heapMb?.toFixed(1) ?? '-'} MB (trend ${(slope(heap) * 60).toFixed(2)} MB/h); ` +
        `${l.childRekeys} child rekeys, ${l.ikeRekeys} IKE rekeys; now ${l.ikeSas} IKE SA(s), ${l.childSas} child SA(s); ${errors} error lines`,
    );
  }
  return lines.join('\n') + '\n';
}

async function waitLog(p: Proc, re: RegExp, ms: number): Promise<void> {
  for (const end = Date.now() + ms; !re.test(p.stderr()); await sleep(100)) {
    if (!p.running() || Date.now() > end) throw new Error(`no ${re} from keyline:\n${p.stderr().slice(-2000)}`);
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, Math.max(0, ms)));
