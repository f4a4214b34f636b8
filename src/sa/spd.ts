import { KeylineError } from '../wire/errors.js';
import { LIMITS } from '../limits.js';
import type { Policy } from './types.js';
import type { IpInfo } from './ip.js';
import { matches, specificity } from './selector.js';

/**
 * Security Policy Database: ordered by priority, then by specificity (a /32 beats a /24), then
 * by insertion. Lookups are a linear scan: a router has a few dozen policies, and a scan over a
 * small sorted array beats any index at that size. Capped at LIMITS.spdMax.
 */
export class Spd {
  private list: Policy[] = [];

  constructor(private readonly cap: number = LIMITS.spdMax) {}

  get size(): number {
    return this.list.length;
  }

  add(p: Policy): void {
    if (this.list.some((x) => x.id === p.id)) throw new KeylineError('POLICY_EXISTS', `policy ${p.id} already installed`);
    if (this.list.length >= this.cap) throw new KeylineError('SPD_FULL', `SPD full (${this.cap} policies)`);
    this.list.push(p);
    this.list.sort((a, b) => a.priority - b.priority || specificity(b.selector) - specificity(a.selector));
  }

  delete(id: number): boolean {
    const n = this.list.length;
    this.list = this.list.filter((p) => p.id !== id);
    return this.list.length !== n;
  }

  /** The first policy an outbound packet matches. */
  lookup(ip: IpInfo): Policy | undefined {
    for (const p of this.list) if (matches(p.selector, ip)) return p;
    return undefined;
  }

  all(): readonly Policy[] {
    return this.list;
  }
}
