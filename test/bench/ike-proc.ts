/**
 * The bench's side of ike-child.ts: start the child (argv given by the caller: the bench bundle
 * itself, a bundled test module, or either behind `ip netns exec`), send a request, read its
 * reply. Stopped by its PID only.
 */
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import type { ChildReply, ChildRequest } from './ike-child.js';

export interface ChildProc {
  readonly pid: number;
  request<E extends ChildReply['ev']>(r: ChildRequest, expect: E, timeoutMs?: number): Promise<Extract<ChildReply, { ev: E }>>;
  /** 'stop' (the agent DELETEs its SAs), then SIGKILL if it has not exited after graceMs. */
  close(graceMs?: number): Promise<void>;
}

/** How the bench bundle starts a child: this very file with the argument `ike-child`. */
export const bundleChildArgv = (): string[] => [process.execPath, ...process.execArgv, process.argv[1]!, 'ike-child'];

export function spawnChild(argv: readonly string[]): ChildProc {
  const [cmd, ...args] = argv;
  if (!cmd) throw new Error('bench: empty child command');
  const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  const pid = child.pid;
  if (pid === undefined) throw new Error(`bench: could not start ${argv.join(' ')}`);
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr = (stderr + d).slice(-4000)));
  child.stdin.on('error', () => {});
  const replies: string[] = [];
  const waiting: ((line: string | undefined) => void)[] = [];
  let exited = false;
  const exit = new Promise<void>((r) =>
    child.once('close', () => {
      exited = true;
      for (const w of waiting.splice(0)) w(undefined);
      r();
    }),
  );
  createInterface({ input: child.stdout }).on('line', (l) => {
    const w = waiting.shift();
    if (w) w(l);
    else replies.push(l);
  });
  const nextLine = (timeoutMs: number) =>
    new Promise<string | undefined>((resolve, reject) => {
      const ready = replies.shift();
      if (ready !== undefined) return resolve(ready);
      if (exited) return resolve(undefined);
      const t = setTimeout(() => reject(new Error(`bench child ${pid}: no reply after ${timeoutMs} ms\n${stderr}`)), timeoutMs);
      waiting.push((l) => (clearTimeout(t), resolve(l)));
    });
  const self: ChildProc = {
    pid,
    async request(r, expect, timeoutMs = 180_000) {
      child.stdin.write(JSON.stringify(r) + '\n');
      const line = await nextLine(timeoutMs);
      if (line === undefined) throw new Error(`bench child ${pid} exited\n${stderr}`);
      const reply = JSON.parse(line) as ChildReply;
      if (reply.ev !== expect) throw new Error(`bench child ${pid}: ${reply.ev === 'error' ? reply.message : line}\n${stderr}`);
      return reply as Extract<ChildReply, { ev: typeof expect }>;
    },
    async close(graceMs = 5000) {
      if (exited) return;
      await self.request({ op: 'stop' }, 'stopped', graceMs).catch(() => {});
      const t = setTimeout(() => {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // gone already
        }
      }, graceMs);
      child.stdin.end();
      await exit;
      clearTimeout(t);
    },
  };
  return self;
}
