import { KeylineError } from '../../../wire/errors.js';
import { addrText, prefix as parsePrefix } from '../../../sa/selector.js';
import { execRunner, type Runner } from './ip.js';

export interface RouteTableOptions {
  ifname: string;
  /** Default: execFile('ip', …) with a timeout, rejecting with KeylineError 'ROUTE_FAILED'. */
  run?: Runner;
  log?: (line: string) => void;
}

/**
 * Remote subnets routed into the TUN device, as wg-quick does for AllowedIPs: a plain
 * `ip route replace <prefix> dev <if>`, no policy routing. Reference-counted, because two
 * policies (two SAs, or an old and a new one during a rekey) can protect the same subnet and
 * the route may only go when the last one does. Commands run one at a time, so an add racing a
 * remove of the same prefix cannot leave the kernel and the count disagreeing.
 */
export class RouteTable {
  private readonly refs = new Map<string, number>();
  private readonly run: Runner;
  private readonly log: (line: string) => void;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly opts: RouteTableOptions) {
    this.run = opts.run ?? execRunner('ROUTE_FAILED');
    this.log = opts.log ?? (() => {});
  }

  async add(prefix: string): Promise<void> {
    const p = canonical(prefix);
    return this.serial(async () => {
      const n = this.refs.get(p) ?? 0;
      if (n === 0) await this.run(this.argv('replace', p)); // throws: nothing counted
      this.refs.set(p, n + 1);
    });
  }

  async remove(prefix: string): Promise<void> {
    const p = canonical(prefix);
    return this.serial(async () => {
      const n = this.refs.get(p) ?? 0;
      if (n === 0) return; // not ours: never delete a route someone else made
      if (n > 1) return void this.refs.set(p, n - 1);
      // Forget it first: if `ip` fails the route is most likely gone already (device recreated).
      this.refs.delete(p);
      await this.run(this.argv('del', p));
    });
  }

  /**
   * Remove every route this table added. Never rejects: it runs on shutdown, where one failed
   * command must not keep the tunnel from closing (the routes go with the device anyway).
   */
  clear(): Promise<void> {
    return this.serial(async () => {
      const all = [...this.refs.keys()];
      this.refs.clear();
      for (const p of all) {
        await this.run(this.argv('del', p)).catch((e: Error) => this.log(`routes: ${e.message}`));
      }
    });
  }

  /**
   * Put every route back. A TUN device that socat created goes away when socat exits, and its
   * routes with it; the bridge calls this after a restart (wired in open.ts).
   */
  reapply(): Promise<void> {
    return this.serial(async () => {
      for (const p of this.refs.keys()) {
        await this.run(this.argv('replace', p)).catch((e: Error) => this.log(`routes: ${e.message}`));
      }
    });
  }

  /** Prefixes currently routed, with their reference counts (status output, tests). */
  entries(): [string, number][] {
    return [...this.refs];
  }

  private argv(verb: 'replace' | 'del', p: string): string[] {
    const fam = p.includes(':') ? ['-6'] : [];
    return ['ip', ...fam, 'route', verb, p, 'dev', this.opts.ifname];
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.queue.then(fn);
    this.queue = next.catch(() => {});
    return next;
  }
}

/**
 * One spelling per subnet: host bits cleared (`ip` rejects '203.0.113.5/24') and the address in
 * canonical text, so '2001:DB8::/32' and '2001:db8:0::/32' share a count. A /0 is refused: it
 * would route the ESP packets to the peer into the tunnel too, a loop that cuts the router off
 * (wg-quick needs policy routing with a fwmark for that case, which keyline does not do).
 */
export function canonical(text: string): string {
  const { addr, len } = parsePrefix(text);
  if (len === 0) {
    throw new KeylineError('ROUTE_REFUSED', `refusing to route ${text} into the tunnel: it would capture the ESP traffic itself`);
  }
  const a = addr.slice();
  for (let i = 0; i < a.length; i++) {
    const keep = Math.min(8, Math.max(0, len - i * 8));
    a[i]! &= (0xff << (8 - keep)) & 0xff;
  }
  return `${addrText(a)}/${len}`;
}
