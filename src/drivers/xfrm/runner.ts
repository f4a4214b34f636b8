/**
 * How the xfrm driver reaches the kernel: `ip` from iproute2 (OpenWrt: ip-full; BusyBox's ip has
 * no xfrm). Both seams are injectable, so unit tests record the exact commands and script the
 * monitor's output, and nothing in them needs a kernel with ESP.
 */
import { execFile, spawn } from 'node:child_process';
import { KeylineError } from '../../wire/errors.js';
import type { IpCommand } from './commands.js';

/** Runs one command; resolves with stdout, rejects with an Error whose message is ip's stderr. */
export type IpRunner = (cmd: IpCommand) => Promise<string>;

/** A running `ip xfrm monitor`: output arrives in chunks; `stop` ends it (our child, by PID). */
export interface Monitor {
  stop(): void;
}
export type MonitorSpawner = (args: readonly string[], onData: (chunk: string) => void, onExit: (why: string) => void) => Monitor;

/**
 * Bounded wait per command: a wedged `ip` must not hold up the agent forever. Generous, since
 * the first SA of an algorithm makes the kernel load its modules (under qemu TCG: over 10 s).
 */
export const IP_TIMEOUT_MS = 30_000;

/**
 * The real runner. Commands that carry keys go through `ip -batch -` on stdin, so that key
 * material never shows up in /proc/PID/cmdline (readable by every local user) or in `ps`.
 */
export function ipRunner(ip = 'ip', global: readonly string[] = []): IpRunner {
  return (cmd) =>
    new Promise((resolve, reject) => {
      const args = [...global, ...(cmd.secret ? ['-batch', '-'] : cmd.args)];
      const child = execFile(ip, args, { timeout: IP_TIMEOUT_MS, killSignal: 'SIGKILL', maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
        if (!err) return resolve(stdout);
        const what = cmd.secret ? cmd.args.slice(0, 3).join(' ') : cmd.args.join(' ');
        const e = err as NodeJS.ErrnoException & { killed?: boolean };
        if (e.code === 'ENOENT') return reject(new KeylineError('XFRM', `'${ip}' not found: driver=xfrm needs iproute2 (OpenWrt: ip-full)`));
        const why = e.killed ? `timed out after ${IP_TIMEOUT_MS} ms` : stderr.trim() || stdout.trim() || e.message;
        reject(new Error(`ip ${what}: ${why}`));
      });
      if (cmd.secret) child.stdin?.end(cmd.args.join(' ') + '\n');
      else child.stdin?.end();
    });
}

/** The real monitor: `ip xfrm monitor …` as a child process of ours. `global`: e.g. ['-n', NETNS]. */
export function ipMonitor(ip = 'ip', global: readonly string[] = []): MonitorSpawner {
  return (args, onData, onExit) => {
    const child = spawn(ip, [...global, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    child.stdout.setEncoding('utf8').on('data', onData);
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err = (err + d).slice(-2000)));
    child.once('error', (e) => onExit(`${ip} ${args.join(' ')}: ${e.message}`));
    child.once('close', (code, signal) => onExit(`${ip} ${args.join(' ')} exited (${signal ?? code}): ${err.trim()}`));
    return { stop: () => void (child.exitCode === null && child.signalCode === null && child.kill('SIGTERM')) };
  };
}
