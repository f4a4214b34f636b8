/**
 * The attack section of `npm run bench`: `keyline run` (dist/keyline.js) as responder B in a
 * network namespace under IKE_SA_INIT and ESP floods from test/attack/child.ts, with agent A as
 * the legitimate peer, built from the attack tests' own blocks (test/attack/world.ts, floods.ts).
 * Tables: per offered IKE_SA_INIT rate (spoofed sources, cookies unanswered; then sources that
 * return every cookie) what B handled, what its socket buffer lost, cookies sent, the half-open
 * peak, heap and RSS peaks and A's time to its IKE SA during the flood; per ESP flood kind the
 * rate B dropped and counted at. Nothing is asserted.
 *
 * Needs root, ip, socat, ping and /dev/net/tun (else it says "not measured" and why), and the
 * bench bundle's `attack-child` command (bench.ts). KEYLINE_BENCH_ATTACK_RATES (IKE_SA_INIT/s,
 * default 2000,5000,10000,20000), KEYLINE_BENCH_ATTACK_MS (per flood, default 3000).
 */
import { accessSync, constants, existsSync } from 'node:fs';
import { IKE_LIMITS } from '../../src/limits.js';
import type { DownResult, UpResult } from '../../src/control/ops.js';
import { espFloodRun, ikeFloodRun, type IkeFloodRow } from '../attack/floods.js';
import { attackWorld } from '../attack/world.js';
import { run } from '../netns/proc.js';
import { table } from './table.js';

export { main as attackChild } from '../attack/child.js';

/** argv that runs test/attack/child.ts from the bench bundle (bench.ts: `attack-child`). */
const childArgv = (): string[] => [process.execPath, ...process.execArgv, process.argv[1]!, 'attack-child'];

function missing(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root';
  if (!existsSync('dist/keyline.js')) return 'dist/keyline.js not built';
  try {
    accessSync('/dev/net/tun', constants.R_OK | constants.W_OK);
  } catch {
    return 'no /dev/net/tun';
  }
  return undefined;
}

const mb = (n: number) => (n / 1e6).toFixed(1);
/** Counts as integers (the table helper gives small numbers two decimals). */
const int = (n: number) => Math.round(n).toLocaleString('en-US');
const list = (v: string | undefined, d: number[]) => (v ? v.split(',').map(Number).filter((n) => n > 0) : d);

export async function attackSection(log: (s: string) => void): Promise<void> {
  log('\nUnder attack: keyline run (responder B, addr=any peer) in a namespace, floods from loopback sources, agent A as the legitimate peer');
  const tools = (await run(['which', 'ip', 'socat', 'ping'], { timeoutMs: 5000, allowFail: true })).code === 0;
  const why = missing() ?? (tools ? undefined : 'needs ip, socat and ping on PATH');
  if (why) return log(`not measured: ${why}`);
  const rates = list(process.env.KEYLINE_BENCH_ATTACK_RATES, [2_000, 5_000, 10_000, 20_000]);
  const ms = Number(process.env.KEYLINE_BENCH_ATTACK_MS ?? 3_000);
  const w = await attackWorld({ bundle: 'dist/keyline.js', childArgv: childArgv(), startA: 'wait', peerExtra: 'dpd=off' });
  try {
    const idle = await w.show('b');
    log(`idle B: heap ${mb(idle.memory.heapUsed)} MB, RSS ${mb(idle.memory.rss)} MB; caps: cookies at ${IKE_LIMITS.cookieThreshold} half-open, half-open ${IKE_LIMITS.halfOpenMax}, IKE SAs ${IKE_LIMITS.ikeSaMax}`);
    const rows: (string | number)[][] = [];
    const row = (kind: string, r: IkeFloodRow) => {
      const s = r.flood.elapsedMs / 1000;
      rows.push([kind, r.flood.sent / s, r.handled / s, int(r.lost), int(r.cookies), int(r.halfOpenPeak), mb(r.heapPeak), mb(r.rssPeak), r.legitMs !== undefined ? r.legitMs.toFixed(0) : `not up (${r.legitState ?? '?'})`]);
    };
    for (const rate of rates) {
      const r = await ikeFloodRun(w, { rate, ms, sources: 2_048, legitAtMs: Math.min(1_000, ms / 3) });
      row('spoofed', r);
      await w.control<DownResult>('a', { cmd: 'down', peer: 'b' }); // the next row's legitimate peer starts afresh
    }
    // A's SA for the ESP floods, then the cookie-returning flood last: it leaves the half-open table full (of the attacker's SAs) for 30 s.
    const up = await w.control<UpResult>('a', { cmd: 'up', peer: 'b' });
    if (!up.established) throw new Error(`A's IKE SA did not come up for the ESP floods (${up.state})`);
    await new Promise((r) => setTimeout(r, 300)); // B's child SA is in by the time A's is
    const esp: (string | number)[][] = [];
    for (const kind of ['random-spi', 'bad-icv'] as const) {
      for (const rate of [20_000, 0]) {
        const r = await espFloodRun(w, kind, { rate, ms });
        esp.push([kind, rate ? 'paced' : 'flat out', r.offeredPerS, r.countedPerS, int(r.lost), `${r.ping.received}/${r.ping.sent}`]);
      }
    }
    await w.control<DownResult>('a', { cmd: 'down', peer: 'b' });
    const e = await ikeFloodRun(w, { rate: rates[0] ?? 2_000, ms: 10_000, sources: 2_048, echoCookies: true, legitAtMs: 3_000, until: (s) => s.ikeLoad.halfOpenPeak >= IKE_LIMITS.halfOpenMax });
    row('cookies returned', e);
    log(table(['IKE_SA_INIT flood', 'offered/s', 'handled/s', 'lost (socket)', 'cookies sent', 'half-open peak', 'heap peak MB', 'RSS peak MB', 'legit peer ms'], rows));
    log('');
    log(table(['ESP flood', 'pacing', 'offered/s', 'dropped+counted/s', 'lost (socket)', 'pings'], esp));
    log(`(${ms / 1000} s per flood, 2,048 source address/port pairs for IKE, 64 for ESP; "lost" is B's kernel RcvbufErrors: the datagrams keyline never saw)`);
  } finally {
    await w.close();
  }
}
