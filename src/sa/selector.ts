import type { Prefix, Selector } from './types.js';
import type { IpInfo } from './ip.js';
import { KeylineError } from '../wire/errors.js';
import { isIPv4, isIPv6 } from 'node:net';

/** Whether `addr` lies inside `p` (address families must match). */
export function inPrefix(p: Prefix, addr: Uint8Array): boolean {
  if (p.addr.length !== addr.length) return false;
  let bits = p.len;
  for (let i = 0; bits > 0; i++, bits -= 8) {
    const m = bits >= 8 ? 0xff : (0xff << (8 - bits)) & 0xff;
    if ((p.addr[i]! & m) !== (addr[i]! & m)) return false;
  }
  return true;
}

const inRange = (r: readonly [number, number], v: number) => v >= r[0] && v <= r[1];

/**
 * Does an outbound packet (src local, dst remote) match? For inbound, call with `inbound` so the
 * packet's source is checked against the remote side.
 */
export function matches(s: Selector, ip: IpInfo, inbound = false): boolean {
  const [local, remote] = inbound ? [ip.dst, ip.src] : [ip.src, ip.dst];
  const [lport, rport] = inbound ? [ip.dstPort, ip.srcPort] : [ip.srcPort, ip.dstPort];
  return (
    inPrefix(s.local, local) &&
    inPrefix(s.remote, remote) &&
    (s.proto === 0 || s.proto === ip.proto) &&
    inRange(s.localPorts, lport) &&
    inRange(s.remotePorts, rport)
  );
}

/** How specific a selector is: longer prefixes and narrower ranges sort first. */
export function specificity(s: Selector): number {
  const ports = (r: readonly [number, number]) => (r[0] === 0 && r[1] === 65535 ? 0 : 1);
  return s.local.len + s.remote.len + (s.proto ? 1 : 0) + ports(s.localPorts) + ports(s.remotePorts);
}

export const ANY_PORTS: readonly [number, number] = [0, 65535];

export function addrBytes(text: string): Uint8Array {
  if (isIPv4(text)) return new Uint8Array(text.split('.').map(Number));
  if (isIPv6(text)) return v6Bytes(text);
  throw new KeylineError('BAD_ADDRESS', `not an IP address: '${text}'`);
}

function v6Bytes(text: string): Uint8Array {
  const out = new Uint8Array(16);
  let t = text;
  const v4tail = /(\d+\.\d+\.\d+\.\d+)$/.exec(t);
  if (v4tail) {
    const b = v4tail[1]!.split('.').map(Number);
    t = t.slice(0, -v4tail[1]!.length) + (((b[0]! << 8) | b[1]!).toString(16) + ':' + ((b[2]! << 8) | b[3]!).toString(16));
  }
  const [head, tail] = t.includes('::') ? t.split('::') : [t, undefined];
  const hs = head ? head.split(':') : [];
  const ts = tail ? tail.split(':') : [];
  const groups = tail === undefined ? hs : [...hs, ...Array(8 - hs.length - ts.length).fill('0'), ...ts];
  groups.forEach((g, i) => {
    const v = parseInt(g, 16);
    out[i * 2] = v >> 8;
    out[i * 2 + 1] = v & 0xff;
  });
  return out;
}

export function addrText(b: Uint8Array): string {
  if (b.length === 4) return b.join('.');
  const g: string[] = [];
  for (let i = 0; i < 16; i += 2) g.push(((b[i]! << 8) | b[i + 1]!).toString(16));
  // Compress the longest run of zero groups, as RFC 5952 asks.
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    let j = i;
    while (j < 8 && g[j] === '0') j++;
    if (j - i > bestLen) [best, bestLen] = [i, j - i];
    i = j === i ? i + 1 : j;
  }
  if (best < 0) return g.join(':');
  return g.slice(0, best).join(':') + '::' + g.slice(best + bestLen).join(':');
}

export function prefix(text: string): Prefix {
  const [a, l] = text.split('/');
  const addr = addrBytes(a ?? '');
  const len = l === undefined ? addr.length * 8 : Number(l);
  if (!Number.isInteger(len) || len < 0 || len > addr.length * 8) throw new KeylineError('BAD_PREFIX', `bad prefix length in '${text}'`);
  return { addr, len };
}

export function prefixText(p: Prefix): string {
  return `${addrText(p.addr)}/${p.len}`;
}

/** A tunnel-mode selector between two subnets, any protocol and port. */
export function subnetSelector(local: Prefix, remote: Prefix): Selector {
  return { local, remote, proto: 0, localPorts: ANY_PORTS, remotePorts: ANY_PORTS };
}
