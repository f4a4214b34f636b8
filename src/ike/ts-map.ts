import type { Prefix, Selector } from '../sa/types.js';
import type { Selector as TsRange } from './payloads/ts.js';
import { toRange } from './narrow.js';

/**
 * Between the SPD's view of traffic (prefixes, sa/types Selector) and IKE's (address ranges, TS
 * payloads). Ranges a peer narrows to need not be prefixes, so a range becomes the few prefixes
 * that cover it exactly (at most 2 × address bits), with a cap on the total.
 */

/** Most SPD selectors one child SA may carry; a peer's TS list beyond it is refused. */
export const MAX_CHILD_SELECTORS = 64;

const toBig = (b: Uint8Array) => b.reduce((n, x) => (n << 8n) | BigInt(x), 0n);

function fromBig(n: bigint, len: number): Uint8Array {
  const out = new Uint8Array(len);
  for (let i = len - 1; i >= 0; i--, n >>= 8n) out[i] = Number(n & 0xffn);
  return out;
}

/** The prefixes that exactly cover start..end (both inclusive), largest first from the start. */
export function rangePrefixes(start: Uint8Array, end: Uint8Array): Prefix[] {
  const bits = start.length * 8;
  const out: Prefix[] = [];
  let lo = toBig(start);
  const hi = toBig(end);
  while (lo <= hi) {
    let size = 0; // log2 of the block size
    while (size < bits && (lo & ((1n << BigInt(size + 1)) - 1n)) === 0n && lo + (1n << BigInt(size + 1)) - 1n <= hi) size++;
    out.push({ addr: fromBig(lo, start.length), len: bits - size });
    lo += 1n << BigInt(size);
  }
  return out;
}

/** Our configured selectors as TS lists: ours (TSi when we initiate) and theirs, without repeats. */
export function selectorsToTs(sels: readonly Selector[]): { local: TsRange[]; remote: TsRange[] } {
  const local: TsRange[] = [];
  const remote: TsRange[] = [];
  for (const s of sels) {
    addOnce(local, toRange(s.local, s.proto, s.localPorts));
    addOnce(remote, toRange(s.remote, s.proto, s.remotePorts));
  }
  return { local, remote };
}

function addOnce(list: TsRange[], r: TsRange): void {
  const key = (x: TsRange) => `${x.tsType}/${x.protocol}/${x.startPort}-${x.endPort}/${x.start.join('.')}-${x.end.join('.')}`;
  if (!list.some((x) => key(x) === key(r))) list.push(r);
}

/**
 * The SPD selectors for a negotiated pair of TS lists, `local` being our side. Every local range
 * pairs with every remote range of the same family. Undefined when the result would pass the cap.
 */
export function tsToSelectors(local: readonly TsRange[], remote: readonly TsRange[]): Selector[] | undefined {
  const out: Selector[] = [];
  for (const l of local) {
    for (const r of remote) {
      if (l.tsType !== r.tsType) continue;
      const proto = l.protocol || r.protocol;
      for (const lp of rangePrefixes(l.start, l.end)) {
        for (const rp of rangePrefixes(r.start, r.end)) {
          if (out.length >= MAX_CHILD_SELECTORS) return undefined;
          out.push({ local: lp, remote: rp, proto, localPorts: [l.startPort, l.endPort], remotePorts: [r.startPort, r.endPort] });
        }
      }
    }
  }
  return out;
}
