/**
 * The building blocks of the attack tests and of the bench's attack section: two `keyline run`
 * agents from the built bundle in two network namespaces joined by a veth pair, their control
 * sockets, their memory as the kernel sees it, the kernel's UDP drop counters, and the attacker
 * (test/attack/child.ts) started inside a namespace.
 *
 *   ns A: agent A 192.0.2.1 ═══ veth ═══ 192.0.2.2 agent B (responder, `addr=any` for A)  :ns B
 *                                        192.0.2.3/.4 the relay (with `relay: true`)
 *                                        127.x.y.z    the flooders (loopback: all of 127/8 is local)
 *
 * No esbuild (the bench bundle imports this too): processes come from test/netns/proc.ts, and
 * namespaces are made here rather than by ns.ts, named as ns.ts names them (`kltest-<pid>-<n>…`) so its leftover sweep knows them.
 * Everything started is stopped by its PID; `close()` undoes it all and is safe to call twice.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from '../../src/control/client.js';
import { run, spawnProc, type Proc } from '../netns/proc.js';
import type { Request } from '../../src/control/protocol.js';
import type { AgentStatus, ChildSaStatus, IkeSaStatus, MemoryStatus } from '../../src/control/status.js';

/** `show --json` of a running agent: the control handler adds the process's memory. */
export type Shown = AgentStatus & { readonly memory: MemoryStatus };

export const ADDR = { a: '192.0.2.1', b: '192.0.2.2', relayA: '192.0.2.3', relayB: '192.0.2.4' } as const;
export const NET = { a: '198.51.100', b: '203.0.113' } as const;

/** A process of the attack world: `keyline run`, the flooder, the relay. */
export type Child = Proc;

/** Wait until `agent`'s log matches, or fail with its tail. */
export async function logged(agent: Child, re: RegExp, what: string, ms = 15_000): Promise<void> {
  for (const end = Date.now() + ms; Date.now() < end; ) {
    if (re.test(agent.stderr())) return;
    if (!agent.running()) throw new Error(`keyline exited early waiting for ${what}:\n${agent.stderr().slice(-3000)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`no ${what} after ${ms / 1000} s:\n${agent.stderr().split('\n').slice(-30).join('\n')}`);
}

let made = 0;

export interface AttackWorldOptions {
  /** The built bundle, dist/keyline.js. */
  bundle: string;
  /** argv that runs test/attack/child.ts `main` (a bundled file, or the bench bundle). */
  childArgv: readonly string[];
  /** A puts the relay (192.0.2.3) between itself and B instead of talking to B directly. */
  relay?: boolean;
  /** A's start=: initiate at start, or wait (bring it up with `up('a', 'b')`). */
  startA?: 'initiate' | 'wait';
  /** Extra words on both peer entries. */
  peerExtra?: string;
  logLevel?: 'info' | 'debug';
}

export interface AttackWorld {
  readonly ns: { a: string; b: string };
  readonly dir: string;
  readonly psk: string;
  readonly agents: { a: Child; b: Child };
  show(side: 'a' | 'b'): Promise<Shown>;
  control<T>(side: 'a' | 'b', req: Request): Promise<T>;
  /** ping from A's inner address to B's, through the tunnel. */
  ping(count: number, interval?: string): Promise<{ sent: number; received: number; out: string }>;
  /** test/attack/child.ts in namespace `side`. */
  attacker(side: 'a' | 'b', mode: string, config: unknown): Child;
  /** Kernel UDP counters of a namespace (/proc/net/snmp): InDatagrams, RcvbufErrors, … */
  udp(side: 'a' | 'b'): Promise<Record<string, number>>;
  close(): Promise<void>;
}

/** Set up the namespaces and start both agents; A's IKE SA is up when it returns if startA is 'initiate'. */
export async function attackWorld(o: AttackWorldOptions): Promise<AttackWorld> {
  const id = `kltest-${process.pid}-${++made}`;
  const ns = { a: `${id}a`, b: `${id}b` };
  const dir = mkdtempSync(join(tmpdir(), 'keyline-attack-'));
  const started: Child[] = [];
  const made_: string[] = [];
  const close = once(async () => {
    for (const c of started.reverse()) await c.stop().catch(() => {});
    for (const n of made_) {
      const pids = await run(['ip', 'netns', 'pids', n], { timeoutMs: 5000, allowFail: true }).catch(() => undefined);
      for (const p of pids?.stdout.split(/\s+/).filter(Boolean).map(Number) ?? []) {
        try {
          if (p > 1 && p !== process.pid) process.kill(p, 'SIGKILL'); // our namespace: only our processes run there
        } catch {
          // gone
        }
      }
      await run(['ip', 'netns', 'del', n], { timeoutMs: 5000, allowFail: true }).catch(() => {});
    }
    rmSync(dir, { recursive: true, force: true });
  });
  try {
    for (const n of [ns.a, ns.b]) {
      await run(['ip', 'netns', 'add', n]);
      made_.push(n);
      await run(['ip', '-n', n, 'link', 'set', 'lo', 'up']);
      await run(['ip', 'netns', 'exec', n, 'sysctl', '-qw', 'net.ipv6.conf.default.disable_ipv6=1']);
    }
    await run(['ip', 'link', 'add', 'veth0', 'netns', ns.a, 'type', 'veth', 'peer', 'name', 'veth0', 'netns', ns.b]);
    const addrs: [string, string][] = [[ns.a, ADDR.a], [ns.b, ADDR.b]];
    if (o.relay) addrs.push([ns.b, ADDR.relayA], [ns.b, ADDR.relayB]);
    for (const [n, addr] of addrs) await run(['ip', '-n', n, 'addr', 'add', `${addr}/24`, 'dev', 'veth0']);
    for (const n of [ns.a, ns.b]) await run(['ip', '-n', n, 'link', 'set', 'veth0', 'up']);

    const psk = randomBytes(32).toString('hex');
    const level = o.logLevel ?? 'info';
    const extra = o.peerExtra ?? '';
    const keys = {
      a: [
        `local id=fqdn:a.example listen=${ADDR.a}:500,${ADDR.a}:4500 tun=kl0 tun-addr=${NET.a}.1/24 log-level=${level}`,
        `peer b addr=${o.relay ? ADDR.relayA : ADDR.b} id=fqdn:b.example psk=hex:${psk} start=${o.startA ?? 'initiate'} ${extra}`,
        `    local-net=${NET.a}.0/24 remote-net=${NET.b}.0/24`,
      ],
      // A road warrior on B's side: the responder an attacker can reach from any address.
      b: [
        `local id=fqdn:b.example listen=${ADDR.b}:500,${ADDR.b}:4500 tun=kl0 tun-addr=${NET.b}.1/24 log-level=${level}`,
        `peer a addr=any id=fqdn:a.example psk=hex:${psk} start=wait ${extra}`,
        `    local-net=${NET.b}.0/24 remote-net=${NET.a}.0/24`,
      ],
    };
    const sock = { a: join(dir, 'a.sock'), b: join(dir, 'b.sock') };
    const agent = (side: 'a' | 'b') => {
      const file = join(dir, `${side}.keys`);
      writeFileSync(file, `# ${side}.keys: written by test/attack/world.ts\n${keys[side].join('\n')}\n`, { mode: 0o600 });
      const c = spawnProc(['ip', 'netns', 'exec', ns[side], process.execPath, o.bundle, 'run', '--config', file, '--socket', sock[side]]);
      started.push(c);
      return c;
    };
    const b = agent('b');
    await logged(b, /control socket/, 'B ready');
    const a = agent('a');
    await logged(a, /control socket/, 'A ready');
    const control = async <T>(side: 'a' | 'b', req: Request): Promise<T> => {
      const r = await request(sock[side], req);
      if (!r.ok) throw new Error(`${side}: ${req.cmd}: ${r.error.code}: ${r.error.message}`);
      return r.result as T;
    };
    const world: AttackWorld = {
      ns,
      dir,
      psk,
      agents: { a, b },
      async show(side) {
        const s = await control<AgentStatus>(side, { cmd: 'show' });
        if (!s.memory) throw new Error(`${side}: show has no memory figures`);
        return s as Shown;
      },
      control,
      async ping(count, interval = '0.2') {
        const r = await run(['ip', 'netns', 'exec', ns.a, 'ping', '-q', '-c', String(count), '-i', interval, '-W', '1', '-I', `${NET.a}.1`, `${NET.b}.1`], { timeoutMs: 10_000 + count * 1500, allowFail: true });
        const m = /(\d+) packets transmitted, (\d+) received/.exec(r.stdout);
        return { sent: Number(m?.[1] ?? 0), received: Number(m?.[2] ?? 0), out: r.stdout.trim().split('\n').slice(-2).join('; ') };
      },
      attacker(side, mode, config) {
        const c = spawnProc(['ip', 'netns', 'exec', ns[side], ...o.childArgv, mode, JSON.stringify(config)]);
        started.push(c);
        return c;
      },
      udp: async (side) => udpCounters((await run(['ip', 'netns', 'exec', ns[side], 'cat', '/proc/net/snmp'])).stdout),
      close,
    };
    if ((o.startA ?? 'initiate') === 'initiate') {
      await logged(a, /child SA up/, 'A child SA');
      await logged(b, /child SA up/, 'B child SA');
    }
    return world;
  } catch (e) {
    await close();
    throw e;
  }
}

function once(fn: () => Promise<void>): () => Promise<void> {
  let p: Promise<void> | undefined;
  return () => (p ??= fn());
}

/** The `Udp:` lines of /proc/net/snmp as name → value. */
export function udpCounters(snmp: string): Record<string, number> {
  const rows = snmp.split('\n').filter((l) => l.startsWith('Udp: '));
  const names = rows[0]?.split(/\s+/).slice(1) ?? [];
  const values = rows[1]?.split(/\s+/).slice(1).map(Number) ?? [];
  return Object.fromEntries(names.map((n, i) => [n, values[i] ?? 0]));
}

/** Resident set now and its high-water mark (kernel figures, bytes). */
export function procMemory(pid: number): { rss: number; hwm: number } {
  const s = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(s)?.[1] ?? NaN) * 1024;
  return { rss: kb('VmRSS'), hwm: kb('VmHWM') };
}

/** The established IKE SA of a side (the first), for before/after comparisons. */
export function ikeSaOf(s: AgentStatus): IkeSaStatus | undefined {
  return s.peers.flatMap((p) => p.ikeSas ?? []).find((x) => x.state === 'established');
}

export function childOf(s: AgentStatus): ChildSaStatus | undefined {
  return ikeSaOf(s)?.children[0];
}

/** Sum of the named counters (missing ones are 0). */
export const sum = (r: Readonly<Record<string, number>>, names: readonly string[]): number => names.reduce((n, k) => n + (r[k] ?? 0), 0);

/**
 * Samples an agent's memory while something runs: RSS from /proc every `ms`, heap and the IKE
 * load from `show` every 4th tick. `stop()` gives the peaks.
 */
export function sampler(w: AttackWorld, side: 'a' | 'b', ms = 100) {
  const pid = w.agents[side].pid;
  const peak = { rss: 0, heapUsed: 0, external: 0, halfOpen: 0, cookiesOn: false, shows: 0, showMsMax: 0 };
  let tick = 0;
  let busy = false;
  const timer = setInterval(() => {
    try {
      peak.rss = Math.max(peak.rss, procMemory(pid).rss);
    } catch {
      // the agent is gone; the test sees that elsewhere
    }
    if (tick++ % 4 !== 0 || busy) return;
    busy = true;
    const t0 = performance.now();
    w.show(side)
      .then((s) => {
        peak.shows++;
        peak.showMsMax = Math.max(peak.showMsMax, performance.now() - t0);
        peak.heapUsed = Math.max(peak.heapUsed, s.memory.heapUsed);
        peak.external = Math.max(peak.external, s.memory.external);
        peak.halfOpen = Math.max(peak.halfOpen, s.ikeLoad.halfOpen);
        peak.cookiesOn ||= s.ikeLoad.cookies;
      })
      .catch(() => {})
      .finally(() => (busy = false));
  }, ms);
  return {
    peak,
    async stop() {
      clearInterval(timer);
      while (busy) await new Promise((r) => setTimeout(r, 20));
      return peak;
    },
  };
}
