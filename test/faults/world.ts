/**
 * Three namespaces for fault tests, with the relay (relay.ts, as a process) as the NAT between:
 *
 *   ns A                        ns R (relay)                              ns B
 *   kl0 198.51.100.1/24         192.0.2.126/25 ── relay ── 192.0.2.129/25  kl0 203.0.113.1/24
 *   veth0 192.0.2.1/25 ═══════ veth-a            veth-b ═════════════════ veth0 192.0.2.130/25
 *
 * R does not forward: the relay is the only way across. A's key file names the relay
 * (192.0.2.126) as its peer; B sees A at 192.0.2.129 with a port the relay chose, so NAT
 * detection is real, and a rebind moves A to another port mid-connection. Every process is
 * registered for cleanup and stopped by PID; the namespaces go with the test.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Test } from 'tap';
import type { AgentStatus, IkeSaStatus } from '../../src/control/status.js';
import { bundleMain, cleanupLeftovers, createNamespace, execIn, registerCleanup, requireNetnsTools, run, spawnIn, type Proc } from '../netns/ns.js';
import type { RelayStats } from './relay.js';
import { charonConf, requireCharon, startCharon, type Charon, type CharonOptions } from '../interop/charon.js';
import { interruptPing, startKeyline, until, type Keyline } from '../interop/keyline-peer.js';

export const BUNDLE = resolve('dist/keyline.js');
export const ADDR = { a: '192.0.2.1', rIn: '192.0.2.126', rOut: '192.0.2.129', b: '192.0.2.130' } as const;
export const NET = { a: '198.51.100', b: '203.0.113' } as const;

export interface RelayProc {
  readonly proc: Proc;
  stats(): Promise<RelayStats>;
  rebind(): Promise<{ inside: string; from: number; to: number }[]>;
  faults(dir: 'up' | 'down', spec: string): Promise<void>;
}

export interface World {
  readonly ns: { a: string; r: string; b: string };
  readonly dir: string;
  startRelay(o: { seed: number; up?: string; down?: string }): Promise<RelayProc>;
}

/** The three namespaces and a temp dir, all removed when `t` ends. */
export async function faultWorld(t: Test): Promise<World> {
  requireNetnsTools();
  t.ok(await exists(BUNDLE), `${BUNDLE} exists (node build.mjs)`);
  await cleanupLeftovers();
  const a = await createNamespace({ suffix: 'a' });
  registerCleanup(t, () => a.destroy());
  const r = await createNamespace({ suffix: 'r' });
  registerCleanup(t, () => r.destroy());
  const b = await createNamespace({ suffix: 'b' });
  registerCleanup(t, () => b.destroy());
  const ns = { a: a.name, r: r.name, b: b.name };
  await run(['ip', 'link', 'add', 'veth0', 'netns', ns.a, 'type', 'veth', 'peer', 'name', 'veth-a', 'netns', ns.r]);
  await run(['ip', 'link', 'add', 'veth0', 'netns', ns.b, 'type', 'veth', 'peer', 'name', 'veth-b', 'netns', ns.r]);
  for (const [n, dev, addr] of [
    [ns.a, 'veth0', `${ADDR.a}/25`],
    [ns.r, 'veth-a', `${ADDR.rIn}/25`],
    [ns.r, 'veth-b', `${ADDR.rOut}/25`],
    [ns.b, 'veth0', `${ADDR.b}/25`],
  ] as const) {
    await run(['ip', '-n', n, 'addr', 'add', addr, 'dev', dev]);
    await run(['ip', '-n', n, 'link', 'set', dev, 'up']);
  }
  for (const n of [ns.a, ns.b]) await execIn(n, ['sysctl', '-qw', 'net.ipv6.conf.default.disable_ipv6=1']);
  await execIn(ns.r, ['sysctl', '-qw', 'net.ipv4.ip_forward=0']);
  const dir = mkdtempSync(join(tmpdir(), `keyline-netns-${process.pid}-faults-`));
  registerCleanup(t, () => rmSync(dir, { recursive: true, force: true }));
  const bundle = await bundleMain(fileURLToPath(new URL('./relay.ts', import.meta.url)));
  registerCleanup(t, bundle.remove);

  return {
    ns,
    dir,
    async startRelay(o) {
      const argv = [process.execPath, bundle.file, '--inside', ADDR.rIn, '--outside', ADDR.rOut, '--target', ADDR.b, '--ports', '500:500,4500:4500', '--seed', String(o.seed)];
      if (o.up) argv.push('--up', o.up);
      if (o.down) argv.push('--down', o.down);
      const proc = spawnIn(ns.r, argv);
      registerCleanup(t, () => proc.stop());
      await proc.waitFor(/"ready"/);
      const ask = async <T>(cmd: string, re: RegExp, key: string): Promise<T> => {
        const from = proc.lines.length;
        proc.write(cmd + '\n');
        return (JSON.parse(await proc.waitFor(re, { from })) as Record<string, T>)[key]!;
      };
      return {
        proc,
        stats: () => ask<RelayStats>('stats', /^\{"stats"/, 'stats'),
        rebind: () => ask('rebind', /^\{"rebound"/, 'rebound'),
        faults: async (dir, spec) => void (await ask(`faults ${dir} ${spec}`, /^\{"faults"/, 'faults')),
      };
    },
  };
}

async function exists(p: string): Promise<boolean> {
  return run(['test', '-f', p], { allowFail: true }).then((r) => r.code === 0);
}

/** `keyline show --json --socket SOCK` from the bundle. */
export function show(sock: string): Promise<AgentStatus> {
  return new Promise((res, rej) => {
    execFile(process.execPath, [BUNDLE, 'show', '--json', '--socket', sock], { timeout: 10_000 }, (e, stdout, stderr) => {
      if (e) return rej(new Error(`show --socket ${sock}: ${e.message} ${stderr}`));
      res(JSON.parse(stdout) as AgentStatus);
    });
  });
}

/** The IKE SAs of one agent's only peer. */
export const ikeSas = (s: AgentStatus): readonly IkeSaStatus[] => s.peers[0]?.ikeSas ?? [];

/** Key files of the picture: A initiates to the relay on port 500 (so it must float), B waits. */
export function keyFiles(psk: string, extra: string): { a: string; b: string } {
  const local = (me: 'a' | 'b') => `local id=fqdn:${me}.example listen=${ADDR[me]}:500,${ADDR[me]}:4500 tun=kl0 tun-addr=${NET[me]}.1/24 log-level=debug`;
  return {
    a: [
      '# a.keys: written by test/faults/world.ts',
      local('a'),
      `peer b addr=${ADDR.rIn}:500 id=fqdn:b.example psk=hex:${psk} start=initiate`,
      `    local-net=${NET.a}.0/24 remote-net=${NET.b}.0/24 ${extra}`,
      '',
    ].join('\n'),
    b: [
      '# b.keys: written by test/faults/world.ts',
      local('b'),
      // A is behind the NAT: B cannot know its address, and waits for it.
      `peer a addr=any id=fqdn:a.example psk=hex:${psk} start=wait`,
      `    local-net=${NET.b}.0/24 remote-net=${NET.a}.0/24 ${extra}`,
      '',
    ].join('\n'),
  };
}

/**
 * `keyline run` again with an agent's own key file and socket, as procd's respawn would: the
 * same file matters, since the socat bridge a SIGKILLed agent left behind is found by its path.
 */
export async function restartKeyline(t: Test, ns: string, kl: Keyline): Promise<Keyline> {
  const sock = kl.keyFile.replace(/\.keys$/, '.sock');
  const t0 = Date.now();
  const proc = spawnIn(ns, ['sh', '-c', 'exec "$0" "$@" 2>&1', process.execPath, BUNDLE, 'run', '--config', kl.keyFile, '--socket', sock]);
  registerCleanup(t, () => proc.stop());
  const lines: { ms: number; text: string }[] = [];
  proc.onLine((text) => lines.push({ ms: Date.now() - t0, text }));
  const again: Keyline = {
    pid: proc.pid,
    proc,
    keyFile: kl.keyFile,
    lines,
    mark: () => proc.lines.length,
    waitLog: (match, w = {}) => proc.waitFor(match, { timeoutMs: w.timeoutMs ?? 10_000, ...(w.from !== undefined && { from: w.from }) }),
    grep: (match, from = 0) => proc.lines.slice(from).filter((l) => match.test(l)),
    tail: (n = 80) => lines.slice(-n).map((l) => `[${(l.ms / 1000).toFixed(3)}] ${l.text}`).join('\n'),
    async stop(graceMs = 8000) {
      await proc.stop(graceMs);
      return proc.exited;
    },
  };
  registerCleanup(t, () => {
    if (!t.passing()) t.comment(`restarted keyline (pid ${proc.pid}), last lines:\n${again.tail()}`);
  });
  await again.waitLog(/keyline: listening on/, { timeoutMs: 20_000 }); // a loaded CI machine starts node slowly
  return again;
}

/** Both sides: one established IKE SA with the same SPIs, and the same installed child SA. */
export async function agree(t: Test, showA: () => Promise<AgentStatus>, showB: () => Promise<AgentStatus>, what: string, timeoutMs = 20_000) {
  let last = '';
  for (const end = Date.now() + timeoutMs; Date.now() < end; await sleep(500)) {
    const [sa, sb] = [ikeSas(await showA()), ikeSas(await showB())];
    last = JSON.stringify({ a: sa, b: sb });
    const ca = sa[0]?.children.filter((c) => c.state === 'installed') ?? [];
    const cb = sb[0]?.children.filter((c) => c.state === 'installed') ?? [];
    if (
      sa.length === 1 && sb.length === 1 && sa[0]!.state === 'established' && sb[0]!.state === 'established' &&
      sa[0]!.spiI === sb[0]!.spiI && sa[0]!.spiR === sb[0]!.spiR &&
      sa[0]!.children.length === 1 && sb[0]!.children.length === 1 && ca.length === 1 && cb.length === 1 &&
      ca[0]!.spiIn === cb[0]!.spiOut && ca[0]!.spiOut === cb[0]!.spiIn
    ) {
      t.pass(`${what}: one IKE SA ${sa[0]!.spiI}/${sa[0]!.spiR} and one child SA ${ca[0]!.spiIn}/${ca[0]!.spiOut} on both sides`);
      return { a: sa[0]!, b: sb[0]! };
    }
  }
  t.fail(`${what}: the two sides do not agree: ${last}`);
  return undefined;
}

/** A ping every 200 ms from A's subnet to B's, with the arrival time of every reply. */
export function pinger(t: Test, ns: string) {
  const replies: { seq: number; at: number }[] = [];
  const proc = spawnIn(ns, ['ping', '-n', '-i', '0.2', '-W', '1', '-I', `${NET.a}.1`, `${NET.b}.1`]);
  registerCleanup(t, () => proc.stop());
  proc.onLine((l) => {
    const m = /icmp_seq=(\d+)/.exec(l);
    if (m && /bytes from/.test(l)) replies.push({ seq: Number(m[1]), at: Date.now() });
  });
  return {
    replies,
    since: (at: number) => replies.filter((r) => r.at >= at),
    finish: () => interruptPing(proc),
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// ---- charon in B's place ----------------------------------------------------------------------

/**
 * charon's own retransmissions (defaults: 4 s, ×1.8, 5 tries, ~165 s) shortened to fit the
 * tests: 1 s, ×1.5, 5 tries (about 20 s).
 */
const CHARON_STRONGSWAN_CONF = readFileSync(fileURLToPath(new URL('../interop/conf/strongswan.conf.in', import.meta.url)), 'utf8').replace(
  '    port_nat_t = 4500\n',
  '    port_nat_t = 4500\n    retransmit_timeout = 1.0\n    retransmit_base = 1.5\n    retransmit_tries = 5\n',
);

function keylineToCharonKeys(psk: Buffer, extra: string): string {
  return [
    '# written by test/faults/world.ts',
    `local id=fqdn:keyline.example listen=${ADDR.a}:500,${ADDR.a}:4500 tun=kl0 tun-addr=${NET.a}.1/24 log-level=debug`,
    `peer charon addr=${ADDR.rIn}:500 id=fqdn:charon.example psk=hex:${psk.toString('hex')} start=initiate`,
    `    ike=aes256gcm16-prfsha256-x25519 esp=aes256gcm16 local-net=${NET.a}.0/24 remote-net=${NET.b}.0/24 ${extra}`,
    '',
  ].join('\n');
}

/**
 * The fault world with charon in B's place at 192.0.2.130 (a responder, protecting
 * 203.0.113.0/24 with 203.0.113.1/32 on lo) and keyline in A initiating to the relay with `extra`
 * on its peer line. `startCharonAgain()` starts a new charon in B with the same configuration,
 * after the first one was killed.
 */
export async function charonWorld(t: Test, relay: { seed: number; up?: string; down?: string }, extra: string) {
  requireCharon();
  const w = await faultWorld(t);
  await run(['ip', '-n', w.ns.b, 'addr', 'add', `${NET.b}.1/32`, 'dev', 'lo']);
  const r = await w.startRelay(relay);
  const psk = randomBytes(32);
  const options: CharonOptions = {
    swanctlConf: charonConf({
      psk,
      localId: 'charon.example',
      remoteId: 'keyline.example',
      localAddr: ADDR.b,
      remoteAddr: '%any',
      ikeProposals: ['aes256gcm16-prfsha256-curve25519'],
      espProposals: ['aes256gcm16'],
      localTs: [`${NET.b}.0/24`],
      remoteTs: [`${NET.a}.0/24`],
      startAction: 'none',
      dpdDelay: 5,
    }),
    strongswanConf: CHARON_STRONGSWAN_CONF,
    t,
  };
  let n = 0;
  const startCharonAgain = () => startCharon(w.ns.b, `faults-${relay.seed}-${++n}`, options);
  const charon = await startCharonAgain();
  const started = Date.now();
  const kl = await startKeyline(t, w.ns.a, w.dir, keylineToCharonKeys(psk, extra));
  return { w, relay: r, charon, kl, started, psk, startCharonAgain, showKl: (k: Keyline = kl) => show(k.keyFile.replace(/\.keys$/, '.sock')) };
}

/** charon: exactly one IKE SA, ESTABLISHED, with one INSTALLED child (DELETED ones left aside), and its raw text. */
export async function charonSettled(charon: Charon, timeoutMs = 15_000) {
  return until(
    'charon: one ESTABLISHED IKE SA with one INSTALLED child SA',
    async () => {
      const raw = (await charon.swanctl(['--list-sas'])).stdout;
      const sas = await charon.sas();
      const live = sas[0]?.children.filter((c) => c.state !== 'DELETED' && c.state !== 'DELETING') ?? [];
      return sas.length === 1 && sas[0]!.state === 'ESTABLISHED' && live.length === 1 && live[0]!.state === 'INSTALLED' ? { sa: sas[0]!, child: live[0]!, raw } : undefined;
    },
    timeoutMs,
  );
}
