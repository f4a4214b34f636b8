/**
 * Processes for the tests that run things in namespaces: `run` for a command that ends, `spawnProc`
 * for one that keeps running (output recorded, stopped by its PID only). No esbuild here, unlike
 * ns.ts, so the bench bundle can use it too (test/attack/world.ts).
 */
import { execFile, spawn } from 'node:child_process';

export interface ExecResult {
  code: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
}
export interface ExecOptions {
  timeoutMs?: number;
  /** Resolve with the result on a non-zero exit instead of rejecting. */
  allowFail?: boolean;
}

/** Run argv (no shell) with a hard timeout; rejects on non-zero exit unless allowFail. */
export function run(argv: readonly string[], o: ExecOptions = {}): Promise<ExecResult> {
  const [cmd, ...args] = argv;
  const timeout = o.timeoutMs ?? 10_000;
  return new Promise((resolve, reject) => {
    if (cmd === undefined) return reject(new Error('empty command'));
    execFile(cmd, args, { timeout, killSignal: 'SIGKILL', maxBuffer: 4 << 20 }, (err, stdout, stderr) => {
      const e = err as (NodeJS.ErrnoException & { code?: unknown; killed?: boolean; signal?: string }) | null;
      if (e && typeof e.code === 'string') return reject(new Error(`${argv.join(' ')}: ${e.message}`)); // ENOENT etc.
      const res: ExecResult = { code: e ? (typeof e.code === 'number' ? e.code : null) : 0, signal: e?.signal ?? null, stdout, stderr };
      if (e?.killed) return reject(new Error(`${argv.join(' ')}: timed out after ${timeout} ms`));
      if (res.code !== 0 && !o.allowFail) {
        return reject(new Error(`${argv.join(' ')}: exit ${res.code ?? res.signal}: ${stderr.trim() || stdout.trim()}`));
      }
      resolve(res);
    });
  });
}

/** Run argv inside namespace `ns`. */
export function execIn(ns: string, argv: readonly string[], o: ExecOptions = {}): Promise<ExecResult> {
  return run(['ip', 'netns', 'exec', ns, ...argv], o);
}

/** A long-running process we started: output recorded, stopped by its PID only. */
export interface Proc {
  readonly pid: number;
  readonly argv: readonly string[];
  readonly lines: string[];
  stdout(): string;
  stderr(): string;
  readonly exited: Promise<{ code: number | null; signal: string | null }>;
  running(): boolean;
  write(text: string): void;
  /** Called for every stdout line from now on. */
  onLine(cb: (line: string) => void): void;
  /** The first stdout line at index `from` (default 0) or later, already seen or still to come, that passes `match`. */
  waitFor(match: RegExp | ((line: string) => boolean), o?: { timeoutMs?: number; from?: number }): Promise<string>;
  /** SIGTERM, SIGKILL after `graceMs`; resolves when it is gone. Safe to call twice. */
  stop(graceMs?: number): Promise<void>;
}

export function spawnProc(argv: readonly string[], o: { env?: NodeJS.ProcessEnv } = {}): Proc {
  const [cmd, ...args] = argv;
  if (cmd === undefined) throw new Error('empty command');
  const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'], env: o.env ?? process.env });
  if (child.pid === undefined) throw new Error(`could not start ${argv.join(' ')}`);
  const pid = child.pid;
  let out = '';
  let err = '';
  let partial = '';
  let done = false;
  const lines: string[] = [];
  const waiters = new Set<() => void>();
  const listeners: ((line: string) => void)[] = [];
  child.stdout.setEncoding('utf8').on('data', (d: string) => {
    out += d;
    const parts = (partial + d).split('\n');
    partial = parts.pop() ?? '';
    lines.push(...parts);
    for (const l of parts) for (const cb of listeners) cb(l);
    for (const w of waiters) w();
  });
  child.stderr.setEncoding('utf8').on('data', (d: string) => {
    err += d;
    if (err.length > 4 << 20) err = err.slice(-(2 << 20)); // bounded, whatever an agent under a flood says
  });
  child.stdin.on('error', () => {}); // writing to a process that just exited is not our test's failure
  const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) =>
    child.once('close', (code, signal) => {
      done = true;
      for (const w of waiters) w();
      resolve({ code, signal });
    }),
  );
  const signal = (sig: NodeJS.Signals) => {
    if (done) return;
    try {
      process.kill(pid, sig);
    } catch {
      // already gone
    }
  };
  const self: Proc = {
    pid,
    argv,
    lines,
    stdout: () => out,
    stderr: () => err,
    exited,
    running: () => !done,
    write: (text) => void (done || child.stdin.write(text)),
    onLine: (cb) => void listeners.push(cb),
    waitFor(match, { timeoutMs = 10_000, from = 0 } = {}) {
      const test = typeof match === 'function' ? match : (l: string) => match.test(l);
      return new Promise((resolve, reject) => {
        let seen = from;
        const check = () => {
          for (; seen < lines.length; seen++) if (test(lines[seen]!)) return finish(() => resolve(lines[seen]!));
          if (done) finish(() => reject(new Error(`${argv.join(' ')} exited before printing ${match}\nstderr: ${err}`)));
        };
        const timer = setTimeout(() => finish(() => reject(new Error(`timed out after ${timeoutMs} ms waiting for ${match}\nstderr: ${err}`))), timeoutMs);
        const finish = (fn: () => void) => {
          clearTimeout(timer);
          waiters.delete(check);
          fn();
        };
        waiters.add(check);
        check();
      });
    },
    async stop(graceMs = 3000) {
      if (done) return;
      signal('SIGTERM');
      const t = setTimeout(() => signal('SIGKILL'), graceMs);
      // 'close' also waits for every holder of its pipes (a helper it started): bounded, so a
      // clean-up that kills those helpers next always gets its turn.
      await Promise.race([exited, new Promise((r) => setTimeout(r, graceMs + 2000))]);
      clearTimeout(t);
    },
  };
  return self;
}
