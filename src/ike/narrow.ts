import type { Prefix, Selector } from '../sa/types.js';
import type { Selector as TsRange } from './payloads/ts.js';
import { TS_TYPE } from './constants.js';

/**
 * Traffic selector narrowing (RFC 7296 §2.9). The responder intersects what the initiator
 * proposes with its own configuration and answers with the intersection, or TS_UNACCEPTABLE
 * when it is empty. keyline's configuration is prefixes (subnets), so the answer is always a set
 * of ranges inside configured prefixes; the initiator then checks the answer lies inside what it
 * asked for. Addresses are compared as bigints, so IPv4 and IPv6 share one code path.
 */

const toBig = (b: Uint8Array) => b.reduce((n, x) => (n << 8n) | BigInt(x), 0n);

function fromBig(n: bigint, len: number): Uint8Array {
  const out = new Uint8Array(len);
  for (let i = len - 1; i >= 0; i--, n >>= 8n) out[i] = Number(n & 0xffn);
  return out;
}

/** The first and last address of a prefix. */
export function prefixRange(p: Prefix): [Uint8Array, Uint8Array] {
  const bits = BigInt(p.addr.length * 8);
  const host = (1n << (bits - BigInt(p.len))) - 1n;
  const base = toBig(p.addr) & ~host;
  return [fromBig(base, p.addr.length), fromBig(base | host, p.addr.length)];
}

/** A TS range for one side of a configured selector. */
export function toRange(p: Prefix, proto: number, ports: readonly [number, number]): TsRange {
  const [start, end] = prefixRange(p);
  const tsType = p.addr.length === 4 ? TS_TYPE.TS_IPV4_ADDR_RANGE : TS_TYPE.TS_IPV6_ADDR_RANGE;
  return { tsType, protocol: proto, startPort: ports[0], endPort: ports[1], start, end };
}

/** The intersection of two ranges, or undefined when they do not overlap. */
export function intersect(a: TsRange, b: TsRange): TsRange | undefined {
  if (a.tsType !== b.tsType) return undefined;
  if (a.protocol && b.protocol && a.protocol !== b.protocol) return undefined;
  const startPort = Math.max(a.startPort, b.startPort);
  const endPort = Math.min(a.endPort, b.endPort);
  if (startPort > endPort) return undefined;
  const lo = toBig(a.start) > toBig(b.start) ? a.start : b.start;
  const hi = toBig(a.end) < toBig(b.end) ? a.end : b.end;
  if (toBig(lo) > toBig(hi)) return undefined;
  return { tsType: a.tsType, protocol: a.protocol || b.protocol, startPort, endPort, start: lo, end: hi };
}

/** Whether `inner` lies entirely inside `outer` (the initiator's check of a narrowed answer). */
export function within(inner: TsRange, outer: TsRange): boolean {
  const i = intersect(inner, outer);
  return (
    i !== undefined &&
    toBig(i.start) === toBig(inner.start) &&
    toBig(i.end) === toBig(inner.end) &&
    i.startPort === inner.startPort &&
    i.endPort === inner.endPort &&
    i.protocol === inner.protocol
  );
}

export interface Narrowed {
  /** Selectors on the initiator's side (TSi) and the responder's side (TSr), as answered. */
  readonly tsi: TsRange[];
  readonly tsr: TsRange[];
}

/**
 * Responder: narrow the initiator's TSi/TSr to the configured selectors (seen from the
 * responder: `local` is TSr's side, `remote` TSi's). The first TS of each list is, by RFC 7296
 * §2.9, the packet that triggered the request, but keyline answers with every overlap of every
 * configured pair, which is what a site-to-site gateway wants (the whole subnets).
 */
export function narrow(tsi: readonly TsRange[], tsr: readonly TsRange[], config: readonly Selector[]): Narrowed | undefined {
  const outI: TsRange[] = [];
  const outR: TsRange[] = [];
  for (const sel of config) {
    const mineI = toRange(sel.remote, sel.proto, sel.remotePorts);
    const mineR = toRange(sel.local, sel.proto, sel.localPorts);
    for (const i of tsi) addOnce(outI, intersect(i, mineI));
    for (const r of tsr) addOnce(outR, intersect(r, mineR));
  }
  return outI.length && outR.length ? { tsi: outI, tsr: outR } : undefined;
}

function addOnce(list: TsRange[], x: TsRange | undefined): void {
  if (x && !list.some((y) => same(x, y))) list.push(x);
}

function same(a: TsRange, b: TsRange): boolean {
  return within(a, b) && within(b, a);
}
