/**
 * keyline as a real process against charon: `keyline run --config FILE` from the bundle
 * (dist/keyline.js, `node build.mjs`) inside a test namespace, observed through its log, and the
 * pings that show traffic crossing the tunnel. Shared by the charon-keyline-*.test.ts files.
 *
 *   ns A (keyline)                                         ns B (charon)
 *   kl0 198.51.100.1/24 ── veth0 192.0.2.1 ═══ 192.0.2.2 veth0 ── lo 203.0.113.1/32, ipsec0
 *   protects 198.51.100.0/24 <────── ESP in UDP 4500 ──────> protects 203.0.113.0/24
 *
 * Everything a test starts is registered for cleanup on its `t` (namespaces, keyline, pings,
 * temp dirs), stopped by PID, and on failure the tail of keyline's log is printed.
 */
import { existsSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import tap, { type Test } from 'tap';
import { requireCharon } from './charon.js';
import { agentTestbed, execIn, registerCleanup, requireNetnsTools, run, spawnIn, type NamespacePair, type Proc } from '../netns/ns.js';

export const BUNDLE = resolve('dist/keyline.js');
let started = 0;

/** The addresses of the picture above. */
export const NET = {
  keylineTun: '198.51.100.1',
  keylineNet: '198.51.100.0/24',
  charonInner: '203.0.113.1',
  charonNet: '203.0.113.0/24',
} as const;

export const ID_KEYLINE = 'keyline.example';
export const ID_CHARON = 'charon.example';

/** One algorithm suite of the interop matrix, in both programs' spelling and as each one logs it. */
export interface Suite {
  /** Short, for instance names. */
  readonly id: string;
  readonly ike: string;
  readonly esp: string;
  /** charon's spelling of `ike` (strongSwan 5.9.8 knows x25519 only as curve25519). */
  readonly charonIke: string;
  /** What `swanctl --list-sas` shows for the IKE SA and the child SA. */
  readonly charonIkeSuite: string;
  readonly charonEspSuite: string;
  /** How keyline's "IKE SA established" line names the suite. */
  readonly keylineIkeSuite: string;
}

export const SUITES: readonly Suite[] = [
  {
    id: 'gcm',
    ike: 'aes256gcm16-prfsha256-x25519',
    esp: 'aes256gcm16',
    charonIke: 'aes256gcm16-prfsha256-curve25519',
    charonIkeSuite: 'AES_GCM_16-256/PRF_HMAC_SHA2_256/CURVE_25519',
    charonEspSuite: 'ESP:AES_GCM_16-256',
    keylineIkeSuite: '(aes256gcm16 prfsha256 ke31)',
  },
  {
    id: 'chapoly',
    ike: 'chacha20poly1305-prfsha256-x25519',
    esp: 'chacha20poly1305',
    charonIke: 'chacha20poly1305-prfsha256-curve25519',
    charonIkeSuite: 'CHACHA20_POLY1305/PRF_HMAC_SHA2_256/CURVE_25519',
    charonEspSuite: 'ESP:CHACHA20_POLY1305',
    keylineIkeSuite: '(chacha20poly1305 prfsha256 ke31)',
  },
  {
    id: 'cbc',
    ike: 'aes128-sha256-modp2048',
    esp: 'aes128-sha256',
    charonIke: 'aes128-sha256-modp2048',
    charonIkeSuite: 'AES_CBC-128/HMAC_SHA2_256_128/PRF_HMAC_SHA2_256/MODP_2048',
    charonEspSuite: 'ESP:AES_CBC-128/HMAC_SHA2_256_128',
    keylineIkeSuite: '(aes128-sha256 prfsha256 ke14)',
  },
];

export interface KeylineKeyOptions {
  readonly psk: Uint8Array;
  readonly suite: Suite;
  readonly start: 'initiate' | 'wait';
  /** Seconds. */
  readonly lifetime: number;
  readonly ikeLifetime: number;
  readonly rekeyMargin: number;
  readonly dpd: number;
}

/** keyline's key file for the picture above: one keying=ike peer, charon. */
export function keylineKeys(o: KeylineKeyOptions): string {
  return [
    '# written by test/interop/keyline-peer.ts',
    `local id=fqdn:${ID_KEYLINE} listen=192.0.2.1:500,192.0.2.1:4500 driver=userspace tun=kl0 tun-addr=${NET.keylineTun}/24 log-level=debug`,
    `peer charon addr=192.0.2.2 keying=ike id=fqdn:${ID_CHARON} psk=hex:${Buffer.from(o.psk).toString('hex')}`,
    `    ike=${o.suite.ike} esp=${o.suite.esp} local-net=${NET.keylineNet} remote-net=${NET.charonNet}`,
    `    start=${o.start} lifetime=${o.lifetime}s ike-lifetime=${o.ikeLifetime}s rekey-margin=${o.rekeyMargin}s dpd=${o.dpd}s`,
    '',
  ].join('\n');
}

/** Failing, not skipping, when the bundle is missing: the tests run what ships. */
/** One subtest per suite after the tool checks: the shape both interop files share. */
export function forEachSuite(title: string, run: (t: Test, suite: Suite) => Promise<void>): void {
  tap.test(title, async (t) => {
    requireNetnsTools();
    requireCharon();
    requireBundle();
    for (const suite of SUITES) await t.test(`${suite.ike} / ESP ${suite.esp}`, { timeout: 60_000 }, (t) => run(t, suite));
  });
}

export function requireBundle(): void {
  if (!existsSync(BUNDLE)) throw new Error(`${BUNDLE} is missing: run 'node build.mjs' first (npm test does)`);
}

/**
 * The namespace pair of the picture (ns.ts agentTestbed: 192.0.2.1 <-> 192.0.2.2, no IPv6 on kl0, a temp
 * dir for key files, all removed when `t` ends), with charon's inner address 203.0.113.1/32 on lo
 * in B (libipsec routes from it).
 */
export async function interopPair(t: Test): Promise<{ pair: NamespacePair; dir: string }> {
  // named like ns.ts's bundle dirs, so cleanupLeftovers sweeps it after a crashed run
  const bed = await agentTestbed(t, BUNDLE, `keyline-netns-${process.pid}-interop-`);
  await run(['ip', '-n', bed.pair.b, 'addr', 'add', `${NET.charonInner}/32`, 'dev', 'lo']);
  return bed;
}

/** One line of keyline's log and when it arrived, in ms after the start. */
export interface LogLine {
  readonly ms: number;
  readonly text: string;
}

export interface Keyline {
  readonly pid: number;
  readonly proc: Proc;
  readonly keyFile: string;
  readonly lines: readonly LogLine[];
  /** Index of the next log line: pass it as `from` to wait only for what comes after now. */
  mark(): number;
  /** The first line at `from` or later that matches, already there or still to come. */
  waitLog(match: RegExp, o?: { from?: number; timeoutMs?: number }): Promise<string>;
  /** Lines at `from` or later that match. */
  grep(match: RegExp, from?: number): string[];
  /** The last `n` lines, with their times. */
  tail(n?: number): string;
  /** SIGTERM by PID (SIGKILL after graceMs), then its exit. */
  stop(graceMs?: number): Promise<{ code: number | null; signal: string | null }>;
}

/**
 * `keyline run --config FILE` in namespace `ns` from the bundle, with `keys` written (mode 0600)
 * to a new file in `dir`; resolves once it says it is listening.
 */
export async function startKeyline(t: Test, ns: string, dir: string, keys: string, o: { startTimeoutMs?: number } = {}): Promise<Keyline> {
  const keyFile = join(dir, `keyline-${++started}.keys`);
  writeFileSync(keyFile, keys, { mode: 0o600 });
  const t0 = Date.now();
  // keyline logs to stderr; `exec … 2>&1` puts it on the stdout Proc splits into lines, and
  // keeps the PID keyline's own (ip netns exec and sh both exec).
  // Its own control socket next to the key file: the default /var/run/keyline.sock is one per machine.
  const proc = spawnIn(ns, ['sh', '-c', 'exec "$0" "$@" 2>&1', process.execPath, BUNDLE, 'run', '--config', keyFile, '--socket', keyFile.replace(/\.keys$/, '.sock')]);
  const lines: LogLine[] = [];
  proc.onLine((text) => lines.push({ ms: Date.now() - t0, text }));
  const tail = (n = process.env.KEYLINE_INTEROP_LOGS ? 400 : 80) =>
    lines
      .slice(-n)
      .map((l) => `[${(l.ms / 1000).toFixed(3).padStart(7)}] ${l.text}`)
      .join('\n');
  registerCleanup(
    t,
    () => proc.stop(),
    () => {
      if (!t.passing() || process.env.KEYLINE_INTEROP_LOGS) t.comment(`keyline (pid ${proc.pid}) in ${ns}, ${keyFile}, last lines of its log:\n${tail()}`);
    },
  );
  const kl: Keyline = {
    pid: proc.pid,
    proc,
    keyFile,
    lines,
    mark: () => proc.lines.length,
    waitLog: (match, w = {}) =>
      proc.waitFor(match, { timeoutMs: w.timeoutMs ?? 10_000, ...(w.from !== undefined && { from: w.from }) }).catch((e: Error) => {
        // the first line only: the log itself is printed once, when the test ends failing
        throw new Error(`keyline: ${e.message.split('\n')[0]}`);
      }),
    grep: (match, from = 0) => proc.lines.slice(from).filter((l) => match.test(l)),
    tail,
    async stop(graceMs = 8000) {
      await proc.stop(graceMs);
      return proc.exited;
    },
  };
  await kl.waitLog(/keyline: listening on/, { timeoutMs: o.startTimeoutMs ?? 20_000 });
  return kl;
}

export interface PingResult {
  readonly transmitted: number;
  /** icmp_seq of every reply, in order of arrival. */
  readonly replies: readonly number[];
  /** Sequence numbers without a reply, up to the last one answered (the one in flight at the end does not count). */
  readonly lost: readonly number[];
  readonly output: string;
}

/** `ping -c count` from `src` to `dst` inside `ns`. */
export async function ping(ns: string, src: string, dst: string, count = 3): Promise<PingResult & { code: number | null }> {
  const r = await execIn(ns, ['ping', '-n', '-c', String(count), '-i', '0.2', '-W', '2', '-I', src, dst], { allowFail: true, timeoutMs: 20_000 });
  return { ...parsePing(r.stdout + r.stderr), code: r.code };
}

/**
 * A ping every `intervalS` from `src` to `dst` inside `ns` until `finish()`, which ends it with
 * SIGINT (by PID: ping then prints its summary) and counts the gaps.
 */
export function startPing(t: Test, ns: string, src: string, dst: string, intervalS = 0.2): { finish(): Promise<PingResult> } {
  const proc = spawnIn(ns, ['ping', '-n', '-i', String(intervalS), '-W', '1', '-I', src, dst]);
  registerCleanup(t, () => proc.stop());
  return { finish: () => interruptPing(proc) };
}

/** Stop a running ping the way a user does (SIGINT, by PID; SIGKILL after 3 s) and read its summary. */
export async function interruptPing(proc: Proc): Promise<PingResult> {
  if (proc.running()) {
    try {
      process.kill(proc.pid, 'SIGINT');
    } catch {
      // gone already
    }
  }
  const timer = setTimeout(() => void proc.stop(), 3000);
  await proc.exited;
  clearTimeout(timer);
  return parsePing(proc.stdout() + proc.stderr());
}

export function parsePing(output: string): PingResult {
  const replies = [...output.matchAll(/bytes from .*icmp_seq=(\d+)/g)].map((m) => Number(m[1]));
  const transmitted = Number(/(\d+) packets transmitted/.exec(output)?.[1] ?? 0);
  const got = new Set(replies);
  const last = Math.max(0, ...replies);
  const lost: number[] = [];
  for (let s = 1; s < last; s++) if (!got.has(s)) lost.push(s);
  return { transmitted, replies, lost, output };
}

/** Poll `fn` every 200 ms until it returns a value that is not undefined, or fail after timeoutMs. */
export async function until<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 5000): Promise<T> {
  for (const end = Date.now() + timeoutMs; ; await sleep(200)) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
