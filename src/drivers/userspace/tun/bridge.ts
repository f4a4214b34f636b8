import dgram from 'node:dgram';
import { spawn as nodeSpawn } from 'node:child_process';
import { KeylineError } from '../../../wire/errors.js';
import { systemClock, type Clock, type Timer } from '../../../util/clock.js';
import { execRunner, type Runner } from './ip.js';
import type { Tunnel } from './tunnel.js';
import { forgetBridgePid, reapStaleBridge, recordBridgePid } from './stale.js';
import { bindLoopback, DEFAULT_MTU, findExecutable, freePort, SOCAT_MISSING, socatArgs, validate } from './socat.js';

export { DEFAULT_MTU, SOCAT_MISSING, findExecutable, socatArgs } from './socat.js';

/** The part of a ChildProcess the bridge uses, so tests can hand in a fake. */
export interface BridgeChild {
  readonly pid?: number | undefined;
  readonly stderr?: { on(ev: 'data', cb: (chunk: Buffer | string) => void): unknown } | null;
  kill(signal?: NodeJS.Signals): boolean;
  /** 'close', not 'exit': it comes after stderr is drained, so the error message has socat's last words. */
  on(ev: 'close', cb: (code: number | null, signal: NodeJS.Signals | null) => void): unknown;
  on(ev: 'error', cb: (err: Error) => void): unknown;
}
export type SpawnFn = (cmd: string, args: readonly string[]) => BridgeChild;

export interface TunBridgeOptions {
  ifname: string;
  /** Interface address with prefix length: '198.51.100.1/24' or '2001:db8::1/64'. */
  address: string;
  mtu?: number;
  /** Name looked up in PATH, or a path. Default 'socat'. */
  socatPath?: string;
  log?: (line: string) => void;
  /** Injected in tests; default child_process.spawn (and then socat must exist). */
  spawn?: SpawnFn;
  /** Runs the `ip` commands; default execFile with a timeout. */
  run?: Runner;
  clock?: Clock;
  /** How long socat may take to create the interface. */
  linkTimeoutMs?: number;
  /** How long socat gets to exit on SIGTERM before SIGKILL. */
  stopTimeoutMs?: number;
  /**
   * Where socat's PID is kept, so that a bridge orphaned by a keyline that was killed is ended
   * by the next start (see stale.ts). Unset: no PID file.
   */
  pidFile?: string;
}

/** Restart back-off: 1 s doubling to 30 s; a socat that ran 60 s counts as healthy again. */
export const BACKOFF = { firstMs: 1000, maxMs: 30_000, resetAfterMs: 60_000 } as const;

interface Exit {
  code: number | null;
  signal: string | null;
  error?: Error;
}

/** One socat process and what we know about it. */
interface Proc {
  child: BridgeChild;
  port: number;
  startedAt: number;
  done: boolean;
  /** Set when it has exited. */
  exit?: Exit;
  exited: Promise<Exit>;
  /** Last lines of stderr, for error messages. */
  stderr: string[];
  partial: string;
  logged: number;
}

const STDERR_KEEP = 8; // lines kept for error messages
const STDERR_LOG_MAX = 50; // lines logged per socat run, so a broken socat cannot flood the log

/**
 * The TUN device through a socat bridge (Node has no ioctl, so it cannot open /dev/net/tun
 * itself). socat moves one IP packet per UDP datagram between the device and keyline's socket
 * on 127.0.0.1. Its UDP side is connect()ed to keyline's port, so the kernel gives socat only
 * keyline's datagrams; keyline in turn accepts only datagrams from socat's port and counts the
 * rest as `foreign`. So another local process cannot inject packets in either direction (short
 * of winning a race for socat's port as it starts, see start()).
 */
export class TunBridge implements Tunnel {
  readonly name: string;
  readonly counters = { rx: 0, tx: 0, foreign: 0, down: 0, sendErrors: 0, restarts: 0 };
  private handler: ((packet: Uint8Array) => void) | undefined;
  /** socat's source port; 0 while no socat is running, and then nothing is accepted. */
  private port = 0;
  private proc: Proc | undefined;
  private timer: Timer | undefined;
  private delay: number = BACKOFF.firstMs;
  private closing: Promise<void> | undefined;
  private readonly restartHooks: (() => void | Promise<void>)[] = [];
  private readonly log: (line: string) => void;
  private readonly clock: Clock;
  private readonly ip: Runner;
  private readonly mtu: number;
  private readonly v6: boolean;

  private constructor(
    private readonly opts: TunBridgeOptions,
    private readonly sock: dgram.Socket,
    private readonly spawn: SpawnFn,
    private readonly socat: string,
  ) {
    this.name = opts.ifname;
    this.localPort = sock.address().port;
    this.log = opts.log ?? (() => {});
    this.clock = opts.clock ?? systemClock;
    this.ip = opts.run ?? execRunner('TUN_SETUP_FAILED');
    this.v6 = opts.address.includes(':');
    this.mtu = opts.mtu ?? DEFAULT_MTU;
    sock.on('message', this.onMessage);
    sock.on('error', () => this.counters.sendErrors++); // never let a socket error kill the agent
  }

  static async open(opts: TunBridgeOptions): Promise<TunBridge> {
    validate(opts);
    let socat = opts.socatPath ?? 'socat';
    let spawn = opts.spawn;
    if (!spawn) {
      // Up front, so the operator gets one clear line instead of a spawn error.
      const found = findExecutable(socat);
      if (!found) throw new KeylineError('TUN_BRIDGE_MISSING', SOCAT_MISSING);
      if (!opts.run && !findExecutable('ip')) {
        throw new KeylineError('TUN_BRIDGE_MISSING', 'ip not found: install iproute2 (opkg install ip-full / apt-get install iproute2)');
      }
      socat = found;
      spawn = (cmd, args) => nodeSpawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    }
    const sock = await bindLoopback(0);
    const b = new TunBridge(opts, sock, spawn, socat);
    try {
      await b.start();
    } catch (e) {
      await b.close();
      throw e;
    }
    return b;
  }

  /** keyline's own UDP port on 127.0.0.1 (socat sends there). */
  readonly localPort: number;
  /** socat's UDP port, 0 while it is down. */
  get bridgePort(): number {
    return this.port;
  }
  /** PID of the running socat, for status output and tests. */
  get pid(): number | undefined {
    return this.proc && !this.proc.done ? this.proc.child.pid : undefined;
  }

  write(packet: Uint8Array): void {
    if (this.port === 0) {
      this.counters.down++;
      return;
    }
    this.sock.send(packet, this.port, '127.0.0.1', this.onSent);
    this.counters.tx++;
  }

  onPacket(cb: (packet: Uint8Array) => void): void {
    this.handler = cb;
  }

  /**
   * Called after socat was restarted and the fresh device configured. The old device (and every
   * route through it) went away with the old socat; open.ts hooks RouteTable.reapply here.
   */
  onRestart(cb: () => void | Promise<void>): void {
    this.restartHooks.push(cb);
  }

  close(): Promise<void> {
    return (this.closing ??= this.shutdown());
  }

  // --- packets ----------------------------------------------------------------------------------

  /** A bound method: no closure per packet. */
  private readonly onSent = (err: Error | null): void => {
    if (err) this.counters.sendErrors++;
  };

  private readonly onMessage = (msg: Buffer, from: dgram.RemoteInfo): void => {
    if (this.port === 0 || from.port !== this.port || from.address !== '127.0.0.1') {
      this.counters.foreign++;
      return;
    }
    this.counters.rx++;
    // A plain Uint8Array view (no copy): Buffer#slice shares memory, Uint8Array#slice copies,
    // and the packet path may rely on the latter.
    this.handler?.(new Uint8Array(msg.buffer, msg.byteOffset, msg.length));
  };

  // --- socat lifecycle --------------------------------------------------------------------------

  /** Start one socat and configure its device; rejects (with socat stopped) if either fails. */
  private async start(): Promise<void> {
    if (this.opts.pidFile) {
      const reaped = await reapStaleBridge(this.opts.pidFile, this.name);
      if (reaped !== undefined) this.log(`tun ${this.name}: ended socat ${reaped} left behind by an earlier keyline`);
    }
    // A device of that name already there is another keyline, or a socat orphaned by a crash:
    // socat would fail with an opaque "Device or resource busy", so say it here.
    if (await this.ip(['ip', 'link', 'show', 'dev', this.name]).then(() => true, () => false)) {
      throw new KeylineError('TUN_BRIDGE_FAILED', `interface ${this.name} already exists (another keyline, or a leftover socat?)`);
    }
    // Pick a free port by binding and releasing it; socat binds it a moment later. Should another
    // process take it in between, socat fails to bind and exits, which is noticed below.
    const port = await freePort();
    if (this.closing) throw new KeylineError('TUN_BRIDGE_CLOSED', `tunnel ${this.name} closed`);
    const args = socatArgs(this.opts, this.mtu, this.localPort, port);
    const proc = this.track(this.spawn(this.socat, args), port);
    this.proc = proc;
    this.port = port;
    const configured = this.configure(proc);
    configured.catch(() => {}); // may lose the race below and fail later; handled there
    let err: unknown;
    try {
      await Promise.race([configured, proc.exited]);
    } catch (e) {
      err = e;
    }
    // socat exiting by itself is the root cause of anything else that failed: report its words.
    if (proc.exit) err = this.exitError(proc, proc.exit);
    if (err) {
      await this.stop(proc);
      if (this.proc === proc) this.proc = undefined;
      throw err;
    }
    if (this.opts.pidFile && proc.child.pid !== undefined) recordBridgePid(this.opts.pidFile, proc.child.pid);
    void proc.exited.then((x) => this.exited(proc, x));
  }

  private async configure(proc: Proc): Promise<void> {
    const deadline = this.clock.now() + (this.opts.linkTimeoutMs ?? 5000);
    while (!(await this.ip(['ip', 'link', 'show', 'dev', this.name]).then(() => true, () => false))) {
      if (proc.done) return; // the race in start() reports the exit
      if (this.clock.now() >= deadline) {
        throw new KeylineError('TUN_BRIDGE_FAILED', `socat did not create ${this.name} within ${this.opts.linkTimeoutMs ?? 5000} ms`);
      }
      await this.sleep(50);
    }
    await this.ip(['ip', 'link', 'set', 'dev', this.name, 'mtu', String(this.mtu)]);
    // socat 1.7 sets only IPv4 addresses; an IPv6 one is added here. nodad: nobody else is on
    // a point-to-point TUN, and DAD would hold the address tentative for a second.
    if (this.v6) await this.ip(['ip', '-6', 'addr', 'replace', this.opts.address, 'dev', this.name, 'nodad']);
  }

  private track(child: BridgeChild, port: number): Proc {
    let resolve!: (x: Exit) => void;
    const proc: Proc = {
      child,
      port,
      startedAt: this.clock.now(),
      done: false,
      exited: new Promise((r) => (resolve = r)),
      stderr: [],
      partial: '',
      logged: 0,
    };
    // 'error' (spawn failed) and 'close' may both come; the first one counts.
    const finish = (x: Exit) => {
      if (proc.done) return;
      proc.done = true;
      proc.exit = x;
      if (this.port === port) this.port = 0;
      resolve(x);
    };
    child.on('close', (code, signal) => finish({ code, signal }));
    child.on('error', (error) => finish({ code: null, signal: null, error })); // spawn failed
    child.stderr?.on('data', (chunk) => this.stderrData(proc, String(chunk)));
    return proc;
  }

  private stderrData(proc: Proc, text: string): void {
    const lines = (proc.partial + text).split('\n');
    proc.partial = (lines.pop() ?? '').slice(-1000);
    for (const raw of lines) {
      const line = raw.trim();
      if (!line) continue;
      proc.stderr.push(line);
      if (proc.stderr.length > STDERR_KEEP) proc.stderr.shift();
      if (proc.logged++ < STDERR_LOG_MAX) this.log(`tun ${this.name}: ${line}`);
    }
  }

  private exitError(proc: Proc, x: Exit): KeylineError {
    if ((x.error as NodeJS.ErrnoException | undefined)?.code === 'ENOENT') return new KeylineError('TUN_BRIDGE_MISSING', SOCAT_MISSING);
    const tail = [...proc.stderr.slice(-STDERR_KEEP), proc.partial].filter(Boolean).join(' | ');
    return new KeylineError('TUN_BRIDGE_FAILED', `socat exited (${describe(x)}) while creating ${this.name}${tail ? ': ' + tail : ''}`);
  }

  /** Supervision: socat went away while we were not closing. */
  private exited(proc: Proc, x: Exit): void {
    if (this.closing || this.proc !== proc) return;
    this.proc = undefined;
    const ran = this.clock.now() - proc.startedAt;
    if (ran >= BACKOFF.resetAfterMs) this.delay = BACKOFF.firstMs;
    this.retry(`socat exited unexpectedly (${describe(x)}) after ${Math.round(ran / 1000)} s`);
  }

  private retry(why: string): void {
    const d = this.delay;
    this.delay = Math.min(d * 2, BACKOFF.maxMs);
    this.log(`tun ${this.name}: ${why}; restarting in ${d / 1000} s`);
    this.timer = this.clock.after(d, 'tun-restart', () => void this.restart());
  }

  private async restart(): Promise<void> {
    this.timer = undefined;
    if (this.closing) return;
    this.counters.restarts++;
    try {
      await this.start();
    } catch (e) {
      if (!this.closing) this.retry(`restart failed: ${(e as Error).message}`);
      return;
    }
    this.log(`tun ${this.name}: socat restarted (restart ${this.counters.restarts})`);
    for (const hook of this.restartHooks) {
      await Promise.resolve()
        .then(hook)
        .catch((e: Error) => this.log(`tun ${this.name}: after restart: ${e.message}`));
    }
  }

  /** SIGTERM, then SIGKILL after a bounded wait. Signals go to this child's PID only. */
  private async stop(proc: Proc): Promise<void> {
    if (proc.done) return;
    proc.child.kill('SIGTERM');
    if (await this.within(proc.exited, this.opts.stopTimeoutMs ?? 2000)) return;
    this.log(`tun ${this.name}: socat ignored SIGTERM; sending SIGKILL`);
    proc.child.kill('SIGKILL');
    await this.within(proc.exited, 1000);
  }

  private async shutdown(): Promise<void> {
    this.timer?.cancel();
    this.timer = undefined;
    this.port = 0;
    const proc = this.proc;
    this.proc = undefined;
    if (proc) await this.stop(proc);
    if (this.opts.pidFile) forgetBridgePid(this.opts.pidFile);
    await new Promise<void>((resolve) => {
      try {
        this.sock.close(() => resolve());
      } catch {
        resolve(); // already closed
      }
    });
  }

  private within(p: Promise<unknown>, ms: number): Promise<boolean> {
    return new Promise((resolve) => {
      const t = this.clock.after(ms, 'tun-stop', () => resolve(false));
      void p.then(() => {
        t.cancel();
        resolve(true);
      });
    });
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => this.clock.after(ms, 'tun-poll', resolve));
  }
}

function describe(x: Exit): string {
  if (x.error) return x.error.message;
  return x.signal ? `signal ${x.signal}` : `code ${x.code}`;
}
