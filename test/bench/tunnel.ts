/**
 * Two routers in two network namespaces, as deployed: `keyline run` on both ends (driver=userspace,
 * TUN through socat), then charon on both ends (kernel-libipsec), same proposals
 * (IKE aes256gcm16-prfsha256-x25519, ESP aes256gcm16), PSK, tunnel mode
 * 198.51.100.0/24 (A) <-> 203.0.113.0/24 (B). For each, in this order:
 *
 *   cold start   spawn of the responder (B) to its control socket answering (keyline: `ping`
 *                answered ok, after the TUN device, the socat bridge and the UDP sockets are up;
 *                charon: vici accepting a connection);
 *   first SA     IKE messages and octets from the initiator's start to both child SAs up: the veth's
 *                own counters (tx frames and octets of both ends) over that span, with ARP and
 *                IPv6 off (static neighbours) and no traffic, so that every frame is an IKE datagram;
 *                UDP payload = octets - 42 per frame (Ethernet 14, IPv4 20, UDP 8);
 *   idle RSS     of the initiator (A) after 2 s with its SA up: keyline's node process plus its
 *                socat bridge, charon's process (its libipsec included);
 *   throughput   iperf3, TCP, 10 s, from A's inner address to B's, through the tunnel;
 *   extra SA     (charon) a second child SA of the same IKE SA, CREATE_CHILD_SA, counted the same way.
 *
 * And the plain veth (no IPsec, iperf3 between 192.0.2.1 and 192.0.2.2) as the native ceiling.
 * keyline initiates by itself at start (start=initiate); charon through vici (`initiate`).
 * Nothing is left behind: processes are stopped by PID, the namespaces removed, also on failure.
 */
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { request as controlRequest } from '../../src/control/client.js';
import { PSK } from './ike-world.js';
import { addLoAddrs, charonMissing, childrenOf, dropPair, linkPair, netnsMissing, nsPair, onPath, rssOf, run, sleep, startCharon, vethTx, type Charon, type NsPair } from './charon-proc.js';
import { Vici } from './vici.js';

const IKE = 'aes256gcm16-prfsha256-x25519';
const ESP = 'aes256gcm16';
/** Ethernet + IPv4 + UDP headers: a frame's octets minus the UDP payload. */
const FRAME_OVERHEAD = 14 + 20 + 8;

export interface Wire {
  readonly messages: number;
  /** UDP payload octets (IKE headers and payloads, the non-ESP marker on port 4500). */
  readonly bytes: number;
}

export interface Throughput {
  readonly mbps?: number;
  readonly retransmits?: number;
  readonly notMeasured?: string;
}

export interface PeerFigures {
  readonly coldStartMs?: number;
  readonly firstSa?: Wire;
  readonly extraSa?: Wire;
  readonly idleRss?: number;
  /** keyline: the socat bridge's share of idleRss. */
  readonly bridgeRss?: number;
  readonly throughput: Throughput;
  readonly notMeasured?: string;
}

export interface TunnelFigures {
  readonly veth: Throughput;
  readonly keyline: PeerFigures;
  readonly charon: PeerFigures;
}

/** A process we started: stderr kept for errors, stopped by its PID only. */
interface Proc {
  readonly pid: number;
  readonly t0: number;
  stderr(): string;
  running(): boolean;
  stop(graceMs?: number): Promise<void>;
}

function start(argv: readonly string[]): Proc {
  const t0 = performance.now();
  const c = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'ignore', 'pipe'] });
  if (c.pid === undefined) throw new Error(`could not start ${argv.join(' ')}`);
  const pid = c.pid;
  let err = '';
  c.stderr.setEncoding('utf8').on('data', (d: string) => (err = (err + d).slice(-4000)));
  let done = false;
  const exited = new Promise<void>((r) => c.once('close', () => ((done = true), r())));
  return {
    pid,
    t0,
    stderr: () => err,
    running: () => !done,
    async stop(graceMs = 3000) {
      if (done) return;
      c.kill('SIGTERM');
      const t = setTimeout(() => c.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(t);
    },
  };
}

async function until<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>, everyMs = 5): Promise<T> {
  for (const end = Date.now() + timeoutMs; Date.now() < end; await sleep(everyMs)) {
    const v = await probe().catch(() => undefined);
    if (v !== undefined) return v;
  }
  throw new Error(`${what}: not after ${timeoutMs} ms`);
}

async function wireOf(p: NsPair): Promise<{ packets: number; bytes: number }> {
  const [a, b] = [await vethTx(p.nsA), await vethTx(p.nsB)];
  return { packets: a.packets + b.packets, bytes: a.bytes + b.bytes };
}
const wireSince = (t0: { packets: number; bytes: number }, t1: { packets: number; bytes: number }): Wire => ({
  messages: t1.packets - t0.packets,
  bytes: t1.bytes - t0.bytes - FRAME_OVERHEAD * (t1.packets - t0.packets),
});

/** iperf3 TCP for `seconds` from A (bound to `from`) to the server in B on `to`. */
async function iperf(p: NsPair, from: string, to: string, seconds: number): Promise<Throughput> {
  if (!onPath('iperf3')) return { notMeasured: 'iperf3 missing' };
  const server = start(['ip', 'netns', 'exec', p.nsB, 'iperf3', '-s', '-1', '-B', to, '-p', '5201']);
  try {
    await until('iperf3 server', 5000, async () => ((await run(['ip', 'netns', 'exec', p.nsB, 'ss', '-Htln', 'sport = :5201'])).includes('5201') ? true : undefined), 20);
    const out = await run(['ip', 'netns', 'exec', p.nsA, 'iperf3', '-c', to, '-B', from, '-p', '5201', '-t', String(seconds), '-J'], (seconds + 20) * 1000);
    const j = JSON.parse(out) as { end?: { sum_received?: { bits_per_second?: number }; sum_sent?: { retransmits?: number } }; error?: string };
    const bps = j.end?.sum_received?.bits_per_second;
    if (bps === undefined) return { notMeasured: `iperf3: ${j.error ?? 'no result'}` };
    return { mbps: bps / 1e6, retransmits: j.end?.sum_sent?.retransmits ?? NaN };
  } catch (e) {
    return { notMeasured: (e as Error).message.split('\n')[0]!.slice(0, 120) };
  } finally {
    await server.stop(1000);
  }
}

// ---- keyline -------------------------------------------------------------------------------------

function keyFile(dir: string, side: 'a' | 'b'): string {
  const a = side === 'a';
  const me = a ? '192.0.2.1' : '192.0.2.2';
  const text = [
    `local id=fqdn:${side}.bench.example listen=${me}:500,${me}:4500 tun=kl${side} tun-addr=${a ? '198.51.100.1/24' : '203.0.113.1/24'} log-level=warn`,
    `peer ${a ? 'b' : 'a'} addr=${a ? '192.0.2.2' : '192.0.2.1'} id=fqdn:${a ? 'b' : 'a'}.bench.example psk=hex:${Buffer.from(PSK).toString('hex')}`,
    `    ike=${IKE} esp=${ESP} dpd=off start=${a ? 'initiate' : 'wait'}`,
    `    local-net=${a ? '198.51.100.0/24' : '203.0.113.0/24'} remote-net=${a ? '203.0.113.0/24' : '198.51.100.0/24'}`,
  ].join('\n');
  const path = join(dir, `${side}.keys`);
  writeFileSync(path, text + '\n', { mode: 0o600 });
  chmodSync(path, 0o600);
  return path;
}

interface PeerStatusLite {
  readonly ikeSas?: readonly { readonly state: string; readonly children: readonly { readonly state: string }[] }[];
}

async function keylineUp(sock: string): Promise<boolean> {
  const r = await controlRequest(sock, { cmd: 'show' }, 2000);
  if (!r.ok) return false;
  const peers = (r.result as { peers: readonly PeerStatusLite[] }).peers;
  return peers.some((p) => p.ikeSas?.some((s) => s.state === 'established' && s.children.some((c) => c.state === 'installed')));
}

const ping = async (sock: string) => (await controlRequest(sock, { cmd: 'ping' }, 1000)).ok || undefined;

async function keylinePair(p: NsPair, bundle: string, seconds: number): Promise<PeerFigures> {
  const dir = join(p.dir, 'keyline');
  mkdirSync(dir);
  const procs: Proc[] = [];
  const runIn = (ns: string, side: 'a' | 'b') => {
    const pr = start(['ip', 'netns', 'exec', ns, process.execPath, bundle, 'run', '--config', keyFile(dir, side), '--socket', join(dir, `${side}.sock`)]);
    procs.push(pr);
    return pr;
  };
  try {
    const b = runIn(p.nsB, 'b');
    await until('keyline B control socket', 15_000, () => ping(join(dir, 'b.sock')), 2);
    const coldStartMs = performance.now() - b.t0;
    const w0 = await wireOf(p);
    const a = runIn(p.nsA, 'a');
    await until('keyline A control socket', 15_000, () => ping(join(dir, 'a.sock')));
    await until('keyline SAs', 15_000, async () => ((await keylineUp(join(dir, 'a.sock'))) && (await keylineUp(join(dir, 'b.sock'))) ? true : undefined), 10);
    await sleep(300);
    const firstSa = wireSince(w0, await wireOf(p));
    await sleep(2000);
    const bridge = childrenOf(a.pid).reduce((s, pid) => s + (rssOf(pid) || 0), 0);
    const idleRss = rssOf(a.pid) + bridge;
    const throughput = await iperf(p, '198.51.100.1', '203.0.113.1', seconds);
    for (const pr of procs) if (!pr.running()) throw new Error(`keyline exited: ${pr.stderr().trim().split('\n').slice(-3).join(' | ')}`);
    return { coldStartMs, firstSa, idleRss, bridgeRss: bridge, throughput };
  } catch (e) {
    const why = `${(e as Error).message.split('\n')[0]!} ${procs.map((pr) => pr.stderr().trim().split('\n').slice(-2).join(' | ')).join(' || ')}`;
    return { throughput: { notMeasured: 'keyline tunnel failed' }, notMeasured: why.slice(0, 240) };
  } finally {
    for (const pr of procs.reverse()) await pr.stop();
  }
}

// ---- charon --------------------------------------------------------------------------------------

function charonConf(side: 'a' | 'b'): string {
  const a = side === 'a';
  const [lts, rts] = a ? ['198.51.100.0/24', '203.0.113.0/24'] : ['203.0.113.0/24', '198.51.100.0/24'];
  const child = (name: string, proto = '') => `${name} { local_ts = ${lts}${proto}
                remote_ts = ${rts}${proto}
                esp_proposals = ${ESP}
                start_action = none }`;
  return `connections {
    tun {
        local_addrs = ${a ? '192.0.2.1' : '192.0.2.2'}
        remote_addrs = ${a ? '192.0.2.2' : '192.0.2.1'}
        proposals = aes256gcm16-prfsha256-curve25519
        encap = yes
        mobike = no
        dpd_delay = 0
        local { auth = psk
            id = ${side}.bench.example }
        remote { auth = psk
            id = ${a ? 'b' : 'a'}.bench.example }
        children { ${child('tun')}
            ${child('extra', '[tcp]')} }
    }
}
secrets {
    ike-tun {
        id-a = a.bench.example
        id-b = b.bench.example
        secret = 0x${Buffer.from(PSK).toString('hex')}
    }
}
`;
}

async function charonPair(p: NsPair, seconds: number): Promise<PeerFigures> {
  const charons: Charon[] = [];
  let vici: Vici | undefined;
  try {
    await addLoAddrs(p, p.nsA, ['198.51.100.1/32']);
    await addLoAddrs(p, p.nsB, ['203.0.113.1/32']);
    const b = await startCharon(p.nsB, join(p.dir, 'charon-b'));
    charons.push(b);
    const a = await startCharon(p.nsA, join(p.dir, 'charon-a'));
    charons.push(a);
    await b.load(charonConf('b'));
    await a.load(charonConf('a'));
    vici = await Vici.connect(a.vici);
    const initiate = async (child: string) => {
      const r = await vici!.request('initiate', { child, timeout: '15000', 'init-limits': 'no', loglevel: '-1' });
      if (r.values.success !== 'yes') throw new Error(`charon: initiate ${child}: ${r.values.errmsg ?? 'failed'} (${a.tail()})`);
    };
    const w0 = await wireOf(p);
    await initiate('tun');
    await sleep(300);
    const w1 = await wireOf(p);
    const firstSa = wireSince(w0, w1);
    await sleep(2000);
    const idleRss = rssOf(a.pid);
    const throughput = await iperf(p, '198.51.100.1', '203.0.113.1', seconds);
    await sleep(300);
    const w2 = await wireOf(p);
    await initiate('extra');
    await sleep(300);
    const extraSa = wireSince(w2, await wireOf(p));
    return { coldStartMs: b.readyMs, firstSa, extraSa, idleRss, throughput };
  } catch (e) {
    return { throughput: { notMeasured: 'charon tunnel failed' }, notMeasured: (e as Error).message.split('\n')[0]!.slice(0, 240) };
  } finally {
    vici?.close();
    for (const c of charons.reverse()) await c.stop();
  }
}

/** A fresh pair of namespaces for `fn` (a TCP connection left from an earlier run must not cross the veth while it counts). */
async function inPair<T>(tag: string, fn: (p: NsPair) => Promise<T>): Promise<T> {
  const p = nsPair(tag);
  const keep = process.env.KEYLINE_BENCH_CHARON_LOG !== undefined;
  try {
    await linkPair(p, { quiet: true });
    return await fn(p);
  } finally {
    await dropPair(p, keep);
    if (keep) console.error(`bench files kept: ${p.dir}`);
  }
}

/** Everything above; `bundle` is dist/keyline.js; `seconds` per iperf3 run. */
export async function tunnelFigures(bundle: string, seconds = 10): Promise<TunnelFigures> {
  const noNetns = netnsMissing();
  if (noNetns) {
    const n = { throughput: { notMeasured: noNetns }, notMeasured: noNetns };
    return { veth: { notMeasured: noNetns }, keyline: n, charon: n };
  }
  const veth = await inPair('veth', (p) => iperf(p, '192.0.2.1', '192.0.2.2', seconds));
  const noBundle = existsSync(bundle) ? undefined : `${bundle} missing (npm run build)`;
  const keyline = noBundle ? { throughput: { notMeasured: noBundle }, notMeasured: noBundle } : await inPair('kl', (p) => keylinePair(p, bundle, seconds));
  const noCharon = charonMissing();
  const charon = noCharon ? { throughput: { notMeasured: noCharon }, notMeasured: noCharon } : await inPair('sw', (p) => charonPair(p, seconds));
  return { veth, keyline, charon };
}
