/**
 * A fault-injecting UDP relay that is also a NAT, for putting between two IKE peers:
 *
 *   inside peer ──> listen ADDR:PORT ──[faults "up"]──> outside socket (own port) ──> target:PORT'
 *   inside peer <── listen ADDR:PORT <──[faults "down"]── outside socket <── target:PORT'
 *
 * - NAT: every inside source (address, port, listening port) gets its own outside socket on an
 *   ephemeral port, so the target sees the relay's outside address and a rewritten source port,
 *   and keyline's or charon's NAT detection sees a NAT. Only the target may answer on a mapping
 *   (address- and port-restricted). `rebind()` moves mappings to fresh outside ports and closes
 *   the old ones, as a NAT that lost its state does; what the target still sends to the old port
 *   is gone.
 * - Faults per direction, seeded: loss, duplication, reordering (a packet held back and sent
 *   after the next one, or after `holdMs`), delay with jitter. Each direction and each class of
 *   datagram (IKE, ESP, NAT keepalive) draws from its own generator, so the fate of the n-th IKE
 *   message does not depend on how many pings went by.
 * - Counters of everything it did, per direction.
 *
 * In process: `await Relay.start(options)`. As a process inside a namespace: `main(args)`
 * (bundled with ns.ts bundleMain), controlled by lines on stdin (`rebind`, `stats`,
 * `faults up|down k=v,…`, `quit`) and SIGUSR1 (rebind); it answers with one JSON line each.
 */
import { createSocket, type Socket } from 'node:dgram';

export interface Faults {
  /** Probabilities 0..1. */
  loss?: number;
  dup?: number;
  reorder?: number;
  /** Every datagram waits delayMs plus a uniform 0..jitterMs (jitter reorders too). */
  delayMs?: number;
  jitterMs?: number;
  /** A reordered datagram goes out after the next one, or after this long (default 50 ms). */
  holdMs?: number;
  /** Which classes the faults apply to (default all). */
  classes?: readonly DatagramClass[];
}

export type DatagramClass = 'ike' | 'esp' | 'keepalive';
export type Direction = 'up' | 'down';

export interface PortMap {
  /** The relay listens here (0: any free port, see `ports()`). */
  listen: number;
  /** And forwards to the target on this port. */
  target: number;
}

export interface RelayOptions {
  /** Inside address the relay listens on. */
  inside: string;
  /** Outside address its mappings are bound to. */
  outside: string;
  /** Where inside traffic goes. */
  target: string;
  ports: readonly PortMap[];
  seed?: number;
  up?: Faults;
  down?: Faults;
}

export interface DirectionCounters {
  received: number;
  forwarded: number;
  lost: number;
  duplicated: number;
  reordered: number;
  delayed: number;
  /** By class: received and lost. */
  byClass: Record<DatagramClass, { received: number; lost: number }>;
}

export interface RelayStats {
  up: DirectionCounters;
  down: DirectionCounters;
  mappings: { inside: string; outsidePort: number; target: string }[];
  rebinds: number;
  /** Datagrams from somewhere other than the target, dropped (restricted NAT). */
  foreign: number;
}

/** xorshift32 over a seed mixed with a label: one independent stream per direction and class. */
function stream(seed: number, label: string): () => number {
  let x = (seed ^ 0x9e3779b9) >>> 0;
  for (const ch of label) x = Math.imul(x ^ ch.charCodeAt(0), 0x01000193) >>> 0;
  x ||= 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 2 ** 32;
  };
}

/** IKE on 500; on other ports IKE after the 4-byte non-ESP marker; 0xff alone is a keepalive. */
export function classify(d: Uint8Array, port: number): DatagramClass {
  if (d.length === 1 && d[0] === 0xff) return 'keepalive';
  if (port === 500) return 'ike';
  return d.length >= 4 && d[0] === 0 && d[1] === 0 && d[2] === 0 && d[3] === 0 ? 'ike' : 'esp';
}

const counters = (): DirectionCounters => ({
  received: 0,
  forwarded: 0,
  lost: 0,
  duplicated: 0,
  reordered: 0,
  delayed: 0,
  byClass: { ike: { received: 0, lost: 0 }, esp: { received: 0, lost: 0 }, keepalive: { received: 0, lost: 0 } },
});

/** One direction's fault machinery: decides, holds and delays; `send` does the I/O. */
class Pipe {
  readonly c = counters();
  private held: { send: () => void; timer: NodeJS.Timeout } | undefined;
  private readonly rand = new Map<string, () => number>();
  private readonly timers = new Set<NodeJS.Timeout>();

  constructor(
    private readonly seed: number,
    private readonly dir: Direction,
    public faults: Faults,
  ) {}

  private r(cls: DatagramClass, what: string): number {
    const key = `${cls}/${what}`;
    let g = this.rand.get(key);
    if (!g) this.rand.set(key, (g = stream(this.seed, `${this.dir}/${key}`)));
    return g();
  }

  push(cls: DatagramClass, send: () => void): void {
    const f = this.faults;
    this.c.received++;
    this.c.byClass[cls].received++;
    const on = !f.classes || f.classes.includes(cls);
    // Draw every decision for every datagram, so one setting does not shift another's stream.
    const lose = this.r(cls, 'loss') < (on ? f.loss ?? 0 : 0);
    const dup = this.r(cls, 'dup') < (on ? f.dup ?? 0 : 0);
    const reorder = this.r(cls, 'reorder') < (on ? f.reorder ?? 0 : 0);
    const jitter = this.r(cls, 'jitter') * (on ? f.jitterMs ?? 0 : 0);
    if (lose) {
      this.c.lost++;
      this.c.byClass[cls].lost++;
      return;
    }
    const delay = (on ? f.delayMs ?? 0 : 0) + jitter;
    const out = () => {
      this.c.forwarded++;
      send();
      if (dup) {
        this.c.duplicated++;
        this.c.forwarded++;
        send();
      }
    };
    const go = () => {
      const release = this.held;
      this.held = undefined;
      if (reorder && !release) {
        this.c.reordered++;
        const timer = setTimeout(() => {
          if (this.held?.timer === timer) {
            this.held = undefined;
            out();
          }
        }, f.holdMs ?? 50);
        this.held = { send: out, timer };
        return;
      }
      out();
      if (release) {
        clearTimeout(release.timer);
        release.send();
      }
    };
    if (delay > 0) {
      this.c.delayed++;
      const t = setTimeout(() => {
        this.timers.delete(t);
        go();
      }, delay);
      this.timers.add(t);
    } else go();
  }

  close(): void {
    if (this.held) clearTimeout(this.held.timer);
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
  }
}

interface Mapping {
  readonly key: string;
  readonly inside: { addr: string; port: number };
  readonly listener: Socket;
  readonly targetPort: number;
  socket: Socket;
  port: number;
}

export class Relay {
  private readonly up: Pipe;
  private readonly down: Pipe;
  private readonly listeners: { socket: Socket; map: PortMap }[] = [];
  private readonly mappings = new Map<string, Mapping>();
  private rebinds = 0;
  private foreign = 0;
  private closed = false;

  private constructor(private readonly o: RelayOptions) {
    const seed = o.seed ?? 1;
    this.up = new Pipe(seed, 'up', o.up ?? {});
    this.down = new Pipe(seed, 'down', o.down ?? {});
  }

  static async start(o: RelayOptions): Promise<Relay> {
    const r = new Relay(o);
    try {
      for (const map of o.ports) {
        const socket = await bind(o.inside, map.listen);
        const actual = { listen: socket.address().port, target: map.target };
        socket.on('message', (d, rinfo) => r.fromInside(socket, actual, d, { addr: rinfo.address, port: rinfo.port }));
        r.listeners.push({ socket, map: actual });
      }
    } catch (e) {
      r.close();
      throw e;
    }
    return r;
  }

  /** The listening ports, in the order of `ports` (useful with `listen: 0`). */
  ports(): number[] {
    return this.listeners.map((l) => l.map.listen);
  }

  setFaults(dir: Direction, f: Faults): void {
    (dir === 'up' ? this.up : this.down).faults = f;
  }

  stats(): RelayStats {
    const copy = (c: DirectionCounters) => JSON.parse(JSON.stringify(c)) as DirectionCounters;
    return {
      up: copy(this.up.c),
      down: copy(this.down.c),
      mappings: [...this.mappings.values()].map((m) => ({ inside: `${m.inside.addr}:${m.inside.port}`, outsidePort: m.port, target: `${this.o.target}:${m.targetPort}` })),
      rebinds: this.rebinds,
      foreign: this.foreign,
    };
  }

  /**
   * The NAT forgets: every mapping (or those whose inside port is `insidePort`) moves to a new
   * outside port; the old socket is closed. Returns the moves.
   */
  async rebind(insidePort?: number): Promise<{ inside: string; from: number; to: number }[]> {
    const moved: { inside: string; from: number; to: number }[] = [];
    for (const m of this.mappings.values()) {
      if (insidePort !== undefined && m.inside.port !== insidePort) continue;
      const old = m.socket;
      const from = m.port;
      m.socket = await bind(this.o.outside, 0);
      m.port = m.socket.address().port;
      this.wire(m);
      old.close();
      moved.push({ inside: `${m.inside.addr}:${m.inside.port}`, from, to: m.port });
      this.rebinds++;
    }
    return moved;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.up.close();
    this.down.close();
    for (const l of this.listeners) l.socket.close();
    for (const m of this.mappings.values()) m.socket.close();
  }

  private fromInside(listener: Socket, map: PortMap, d: Buffer, from: { addr: string; port: number }): void {
    if (this.closed) return;
    const key = `${from.addr}:${from.port}>${map.listen}`;
    let m = this.mappings.get(key);
    if (!m) {
      // Bound synchronously (port 0 never fails for want of a free port in a test namespace).
      const socket = createSocket('udp4');
      socket.bind(0, this.o.outside);
      m = { key, inside: from, listener, targetPort: map.target, socket, port: 0 };
      this.mappings.set(key, m);
      const mm = m;
      socket.once('listening', () => (mm.port = socket.address().port));
      this.wire(m);
    }
    const mapping = m;
    const bytes = new Uint8Array(d);
    this.up.push(classify(bytes, map.target), () => {
      if (!this.closed) mapping.socket.send(bytes, mapping.targetPort, this.o.target, () => {});
    });
  }

  private wire(m: Mapping): void {
    const socket = m.socket;
    socket.on('error', () => {});
    socket.on('message', (d, rinfo) => {
      if (this.closed || m.socket !== socket) return;
      if (rinfo.address !== this.o.target || rinfo.port !== m.targetPort) return void this.foreign++;
      const bytes = new Uint8Array(d);
      this.down.push(classify(bytes, m.targetPort), () => {
        if (!this.closed) m.listener.send(bytes, m.inside.port, m.inside.addr, () => {});
      });
    });
  }
}

function bind(addr: string, port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = createSocket('udp4');
    s.once('error', reject);
    s.bind(port, addr, () => {
      s.off('error', reject);
      s.on('error', () => {});
      resolve(s);
    });
  });
}

/** `k=v,k=v` with k in loss, dup, reorder, delay, jitter, hold (numbers), classes (a+b). */
export function parseFaults(text: string): Faults {
  const f: { -readonly [K in keyof Faults]: Faults[K] } = {};
  for (const kv of text.split(',').filter(Boolean)) {
    const [k, v = ''] = kv.split('=');
    const n = Number(v);
    if (k === 'classes') f.classes = v.split('+') as DatagramClass[];
    else if (!Number.isFinite(n)) throw new Error(`relay: bad fault value '${kv}'`);
    else if (k === 'loss') f.loss = n;
    else if (k === 'dup') f.dup = n;
    else if (k === 'reorder') f.reorder = n;
    else if (k === 'delay') f.delayMs = n;
    else if (k === 'jitter') f.jitterMs = n;
    else if (k === 'hold') f.holdMs = n;
    else throw new Error(`relay: unknown fault '${k}'`);
  }
  return f;
}

/**
 * As a process: `relay --inside A --outside B --target C --ports 500:500,4500:4500 --seed N
 * [--up FAULTS] [--down FAULTS]`. Prints `{"ready":…}` when listening, then one JSON line per
 * command read from stdin.
 */
export async function main(args: string[]): Promise<void> {
  const opt = new Map<string, string>();
  for (let i = 0; i < args.length; i += 2) opt.set(args[i]!.replace(/^--/, ''), args[i + 1] ?? '');
  const need = (k: string) => {
    const v = opt.get(k);
    if (!v) throw new Error(`relay: --${k} is required`);
    return v;
  };
  const relay = await Relay.start({
    inside: need('inside'),
    outside: need('outside'),
    target: need('target'),
    ports: need('ports')
      .split(',')
      .map((p) => {
        const [l, t] = p.split(':').map(Number);
        return { listen: l!, target: t ?? l! };
      }),
    seed: Number(opt.get('seed') ?? 1),
    up: parseFaults(opt.get('up') ?? ''),
    down: parseFaults(opt.get('down') ?? ''),
  });
  const say = (o: unknown) => process.stdout.write(JSON.stringify(o) + '\n');
  say({ ready: true, ports: relay.ports() });
  process.on('SIGUSR1', () => void relay.rebind().then((moved) => say({ rebound: moved })));
  const quit = () => {
    relay.close();
    process.exit(0);
  };
  process.on('SIGTERM', quit);
  let buf = '';
  process.stdin.setEncoding('utf8').on('data', (d: string) => {
    buf += d;
    for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
      const line = buf.slice(0, i).trim();
      buf = buf.slice(i + 1);
      const [cmd, a, b] = line.split(/\s+/);
      try {
        if (cmd === 'rebind') void relay.rebind(a ? Number(a) : undefined).then((moved) => say({ rebound: moved }));
        else if (cmd === 'stats') say({ stats: relay.stats() });
        else if (cmd === 'faults' && (a === 'up' || a === 'down')) {
          relay.setFaults(a, parseFaults(b ?? ''));
          say({ faults: a });
        } else if (cmd === 'quit') quit();
        else if (cmd) say({ error: `unknown command '${line}'` });
      } catch (e) {
        say({ error: (e as Error).message });
      }
    }
  });
  process.stdin.on('end', quit);
}
