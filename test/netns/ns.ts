/**
 * Network-namespace helpers for root tests (tun-bridge here, end-to-end agents later). Every
 * namespace is named `<prefix><our pid>-<n><suffix>`, so a later run can tell leftovers of a
 * crashed run (pid gone) from a concurrently running test file (pid alive) and remove only the
 * former. Everything is bounded in time; every cleanup is safe to call twice.
 */
import { accessSync, constants, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { build } from 'esbuild';
import type { Test } from 'tap';
import { execIn, run, spawnProc, type Proc } from './proc.js';

export const NS_PREFIX = 'kltest-';
/** Temp dirs of bundled scripts: `<TMP_PREFIX><pid>-XXXXXX`, removed by cleanupLeftovers once the pid is gone. */
const TMP_PREFIX = 'keyline-netns-';
const TOOLS = ['ip', 'socat', 'ping'];

export { execIn, run, spawnProc, type ExecOptions, type ExecResult, type Proc } from './proc.js';

/** Start argv inside `ns`. `ip netns exec` execs the command, so the PID is the command's own. */
export function spawnIn(ns: string, argv: readonly string[], o: { env?: NodeJS.ProcessEnv } = {}): Proc {
  return spawnProc(['ip', 'netns', 'exec', ns, ...argv], o);
}

let counter = 0;
const sweeps = new Map<string, Promise<unknown>>();

export interface Namespace {
  readonly name: string;
  destroy(): Promise<void>;
}

/**
 * One namespace with loopback up (socat's bridge and any agent talk over 127.0.0.1). The first
 * call per prefix also removes leftovers of crashed runs (cleanupLeftovers).
 */
export async function createNamespace(o: { prefix?: string; suffix?: string } = {}): Promise<Namespace> {
  const prefix = o.prefix ?? NS_PREFIX;
  // Once per process and prefix, before the first namespace: clear what crashed runs left.
  let swept = sweeps.get(prefix);
  if (!swept) sweeps.set(prefix, (swept = cleanupLeftovers(prefix)));
  await swept;
  const name = `${prefix}${process.pid}-${++counter}${o.suffix ?? ''}`;
  await run(['ip', 'netns', 'add', name]);
  const ns: Namespace = { name, destroy: once(() => destroyNamespace(name)) };
  try {
    await run(['ip', '-n', name, 'link', 'set', 'lo', 'up']);
  } catch (e) {
    await ns.destroy();
    throw e;
  }
  return ns;
}

export interface NamespacePair {
  readonly a: string;
  readonly b: string;
  /** veth0 in both. */
  readonly ifname: string;
  readonly addrA: string;
  readonly addrB: string;
  destroy(): Promise<void>;
}

/** Two namespaces joined by a veth pair: a has 192.0.2.1/24, b has 192.0.2.2/24. */
export async function createNamespacePair(o: { prefix?: string } = {}): Promise<NamespacePair> {
  const prefix = o.prefix ?? NS_PREFIX;
  const made: Namespace[] = [];
  const destroy = once(async () => void (await Promise.all(made.map((n) => n.destroy()))));
  try {
    made.push(await createNamespace({ prefix, suffix: 'a' }));
    made.push(await createNamespace({ prefix, suffix: 'b' }));
    const [a, b] = made.map((n) => n.name) as [string, string];
    // Created inside the namespaces directly: nothing appears in the host namespace, even briefly.
    await run(['ip', 'link', 'add', 'veth0', 'netns', a, 'type', 'veth', 'peer', 'name', 'veth0', 'netns', b]);
    for (const [ns, addr] of [[a, '192.0.2.1/24'], [b, '192.0.2.2/24']] as const) {
      await run(['ip', '-n', ns, 'addr', 'add', addr, 'dev', 'veth0']);
      await run(['ip', '-n', ns, 'link', 'set', 'veth0', 'up']);
    }
    return { a, b, ifname: 'veth0', addrA: '192.0.2.1', addrB: '192.0.2.2', destroy };
  } catch (e) {
    await destroy();
    throw e;
  }
}

/**
 * Kill what still runs inside the namespace (all started by our tests: it is our namespace),
 * then delete it. `ip netns del` alone would leave such processes holding it alive, unnamed.
 */
export async function destroyNamespace(name: string): Promise<void> {
  const pids = await run(['ip', 'netns', 'pids', name], { allowFail: true, timeoutMs: 5000 }).catch(() => undefined);
  for (const p of pids?.stdout.split(/\s+/).filter(Boolean).map(Number) ?? []) {
    try {
      if (Number.isInteger(p) && p > 1 && p !== process.pid) process.kill(p, 'SIGKILL');
    } catch {
      // gone already
    }
  }
  await run(['ip', 'netns', 'del', name], { allowFail: true, timeoutMs: 5000 }).catch(() => undefined);
}

/** Remove namespaces `<prefix><pid>-…` (and bundle temp dirs) whose creating test process is gone. */
export async function cleanupLeftovers(prefix = NS_PREFIX): Promise<string[]> {
  const list = await run(['ip', 'netns', 'list'], { timeoutMs: 5000 });
  const re = new RegExp(`^${prefix.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(\\d+)-\\S*$`);
  const removed: string[] = [];
  for (const line of list.stdout.split('\n')) {
    const name = line.split(' ')[0] ?? '';
    const m = re.exec(name);
    if (!m || alive(Number(m[1]))) continue;
    await destroyNamespace(name);
    removed.push(name);
  }
  for (const d of readdirSync(tmpdir())) {
    const m = new RegExp(`^${TMP_PREFIX}(\\d+)-`).exec(d);
    if (m && !alive(Number(m[1]))) rmSync(join(tmpdir(), d), { recursive: true, force: true });
  }
  return removed;
}

/**
 * Bundle a TypeScript module that exports `main(args)` into one .mjs file in a fresh temp dir, so
 * a plain `node file.mjs args…` can run it (inside a namespace, where the test runner's
 * TypeScript loader is not around). `remove()` deletes the temp dir.
 */
export async function bundleMain(modulePath: string): Promise<{ file: string; remove: () => void }> {
  const dir = mkdtempSync(join(tmpdir(), `${TMP_PREFIX}${process.pid}-`));
  const remove = () => rmSync(dir, { recursive: true, force: true });
  const file = join(dir, 'main.mjs');
  try {
    await build({
      // A stub entry, so the module itself has no top-level side effects (tap may load it).
      stdin: { contents: `import { main } from ${JSON.stringify(modulePath)}; main(process.argv.slice(2));`, resolveDir: dirname(modulePath), loader: 'ts' },
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node20',
      outfile: file,
      logLevel: 'silent',
    });
  } catch (e) {
    remove();
    throw e;
  }
  return { file, remove };
}

/**
 * Run `fns` at the end of the test: one stack per test, last registered first, each one even if
 * another failed. Register right after creating a thing, so a failing test still cleans it up.
 */
export function registerCleanup(t: Test, ...fns: (() => unknown)[]): void {
  let stack = stacks.get(t);
  if (!stack) {
    const s: (() => unknown)[] = [];
    stacks.set(t, (stack = s));
    t.teardown(async () => {
      while (s.length) {
        try {
          await s.pop()!();
        } catch (e) {
          console.error(`cleanup failed: ${(e as Error).message}`);
        }
      }
    });
  }
  stack.push(...fns);
}
const stacks = new WeakMap<Test, (() => unknown)[]>();

/**
 * These tests need root, iproute2, socat, ping and /dev/net/tun. Missing any is a failure with
 * a message saying what to install, never a skip: a skipped root test looks like a passing one.
 */
export function requireNetnsTools(): void {
  const missing: string[] = [];
  if (process.getuid?.() !== 0) missing.push('root (run the netns tests as root, e.g. sudo npx tap test/netns/)');
  for (const tool of TOOLS) if (!onPath(tool)) missing.push(`'${tool}' on PATH`);
  try {
    accessSync('/dev/net/tun', constants.R_OK | constants.W_OK);
  } catch {
    missing.push('/dev/net/tun (modprobe tun)');
  }
  if (missing.length) {
    throw new Error(`netns tests cannot run, missing: ${missing.join(', ')}. Install: apt-get install -y socat iproute2 iputils-ping`);
  }
}

function onPath(name: string): boolean {
  return (process.env.PATH ?? '').split(':').some((d) => {
    try {
      accessSync(`${d}/${name}`, constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function once(fn: () => Promise<void>): () => Promise<void> {
  let p: Promise<void> | undefined;
  return () => (p ??= fn());
}

/**
 * The common start of an end-to-end test with two `keyline run` processes: tools checked, the
 * built bundle present, a namespace pair without IPv6 (no link-local chatter into kl0) and a
 * temporary directory for key files, all removed when the test ends.
 */
export async function agentTestbed(t: Test, bundle: string, dirPrefix: string): Promise<{ pair: NamespacePair; dir: string }> {
  requireNetnsTools();
  t.ok(existsSync(bundle), `${bundle} exists (npm test builds it first)`);
  await cleanupLeftovers();
  const pair = await createNamespacePair();
  registerCleanup(t, () => pair.destroy());
  for (const ns of [pair.a, pair.b]) await execIn(ns, ['sysctl', '-qw', 'net.ipv6.conf.default.disable_ipv6=1']);
  const dir = mkdtempSync(join(tmpdir(), dirPrefix));
  registerCleanup(t, () => rmSync(dir, { recursive: true, force: true }));
  return { pair, dir };
}
