import { EventEmitter } from 'node:events';
import type { BridgeChild, SpawnFn } from '../../src/drivers/userspace/tun/bridge.js';
import type { Runner } from '../../src/drivers/userspace/tun/ip.js';
import { KeylineError } from '../../src/wire/errors.js';

/** A socat that never runs: exits when told to, or when killed (unless it ignores SIGTERM). */
export class FakeChild extends EventEmitter implements BridgeChild {
  private static nextPid = 90_000;
  readonly pid = FakeChild.nextPid++;
  readonly stderr = new EventEmitter();
  alive = true;
  ignoreTerm = false;
  readonly signals: string[] = [];

  constructor(
    readonly cmd: string,
    readonly args: readonly string[],
  ) {
    super();
  }

  kill(signal: NodeJS.Signals = 'SIGTERM'): boolean {
    this.signals.push(signal);
    if (signal === 'SIGTERM' && this.ignoreTerm) return true;
    setImmediate(() => this.exit(null, signal));
    return true;
  }

  /** Exit as a crashing socat would, optionally saying why on stderr first. */
  exit(code: number | null, signal: NodeJS.Signals | null = null, stderr?: string): void {
    if (!this.alive) return;
    if (stderr) this.stderr.emit('data', Buffer.from(stderr));
    this.alive = false;
    this.emit('close', code, signal);
  }
}

/**
 * Fake spawn + fake `ip`: `ip link show` succeeds while a socat is alive (as the real device
 * lives as long as socat), every argv is recorded.
 */
export function fakeHost(o: { onSpawn?: (c: FakeChild) => void; linkAppears?: boolean } = {}) {
  const children: FakeChild[] = [];
  const ipCalls: string[][] = [];
  const state = { preexisting: false, linkAppears: o.linkAppears !== false };
  const spawn: SpawnFn = (cmd, args) => {
    const c = new FakeChild(cmd, args);
    children.push(c);
    o.onSpawn?.(c);
    return c;
  };
  const run: Runner = async (argv) => {
    ipCalls.push([...argv]);
    if (argv[1] === 'link' && argv[2] === 'show') {
      const up = state.preexisting || (state.linkAppears && children.some((c) => c.alive));
      if (!up) throw new KeylineError('TUN_SETUP_FAILED', `Device "${argv[4]}" does not exist.`);
    }
  };
  return {
    spawn,
    run,
    children,
    ipCalls,
    /** ip calls other than the polling `ip link show`. */
    changes: () => ipCalls.filter((a) => a[2] !== 'show'),
    live: () => children.filter((c) => c.alive),
    /** Flip: an interface of that name exists already / socat will (not) create its device. */
    state,
  };
}

/** Let real I/O (the port probe socket) and promise chains run. */
export async function until(cond: () => boolean, ms = 2000): Promise<void> {
  for (const end = Date.now() + ms; !cond(); ) {
    if (Date.now() > end) throw new Error('condition not reached in time');
    await new Promise((r) => setTimeout(r, 2));
  }
}

export const tick = () => new Promise((r) => setImmediate(r));

/** A few turns of the event loop: enough for the fake `ip`, the port probe and promise chains. */
export async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await tick();
}
