import type { IpInfo } from '../sa/ip.js';
import type { Prefix, Selector } from '../sa/types.js';
import { ANY_PORTS } from '../sa/selector.js';
import { SCOPE } from './header.js';

/**
 * Scopes (README.md §4): which fields of a packet define a flow, the flow's canonical bytes
 * (bound into the header tag) and the selector of the SAs made for it. "Ours" is always this
 * side's view: `local` is the address on our side of the tunnel.
 */

export type Side = 'offerer' | 'answerer';

/** A packet's addresses and ports seen from our side (outbound: src is local; inbound: dst is). */
export interface FlowView {
  readonly local: Uint8Array;
  readonly remote: Uint8Array;
  readonly proto: number;
  readonly localPort: number;
  readonly remotePort: number;
}

export const outboundView = (ip: IpInfo): FlowView => ({ local: ip.src, remote: ip.dst, proto: ip.proto, localPort: ip.srcPort, remotePort: ip.dstPort });
export const inboundView = (ip: IpInfo): FlowView => ({ local: ip.dst, remote: ip.src, proto: ip.proto, localPort: ip.dstPort, remotePort: ip.srcPort });

/**
 * Key of a flow in the table. `host` is the one scope that is not symmetric: the offerer keys on
 * its remote host, the answerer on its local host (the same host, seen from the other end), so
 * the two get different key kinds ('h' and 'H').
 */
export function flowKey(scope: number, side: Side, v: FlowView): string {
  switch (scope) {
    case SCOPE.host:
      return side === 'offerer' ? 'h' + addrKey(v.remote) : 'H' + addrKey(v.local);
    case SCOPE['host-pair']:
      return 'a' + addrKey(v.local) + '>' + addrKey(v.remote);
    case SCOPE.proto:
      return 'p' + v.proto + ':' + addrKey(v.local) + '>' + addrKey(v.remote);
    default:
      return 'o' + v.proto + ':' + addrKey(v.local) + '.' + v.localPort + '>' + addrKey(v.remote) + '.' + v.remotePort;
  }
}

/** Every key kind an outbound packet could be found under, most specific first. */
export const KEY_KINDS = ['o', 'p', 'a', 'h', 'H'] as const;
export type KeyKind = (typeof KEY_KINDS)[number];

export function keyOfKind(kind: KeyKind, v: FlowView): string {
  switch (kind) {
    case 'o':
      return flowKey(SCOPE.port, 'offerer', v);
    case 'p':
      return flowKey(SCOPE.proto, 'offerer', v);
    case 'a':
      return flowKey(SCOPE['host-pair'], 'offerer', v);
    case 'h':
      return flowKey(SCOPE.host, 'offerer', v);
    case 'H':
      return flowKey(SCOPE.host, 'answerer', v);
  }
}

export const kindOf = (key: string): KeyKind => key[0] as KeyKind;

/** IPv4 addresses as a number (cheap), IPv6 as hex. */
function addrKey(a: Uint8Array): string {
  if (a.length === 4) return String(((a[0]! << 24) | (a[1]! << 16) | (a[2]! << 8) | a[3]!) >>> 0);
  return Buffer.from(a.buffer, a.byteOffset, a.length).toString('hex');
}

/**
 * The canonical flow of a packet as it travels (README.md §4): version, protocol, ports,
 * source, destination, with the fields outside the scope zeroed.
 */
export function canonicalFlow(scope: number, ip: IpInfo): Uint8Array {
  const n = ip.src.length;
  const out = new Uint8Array(6 + 2 * n);
  out[0] = ip.version;
  if (scope >= SCOPE.proto) out[1] = ip.proto;
  if (scope >= SCOPE.port) {
    out[2] = ip.srcPort >>> 8;
    out[3] = ip.srcPort & 0xff;
    out[4] = ip.dstPort >>> 8;
    out[5] = ip.dstPort & 0xff;
  }
  if (scope !== SCOPE.host) out.set(ip.src, 6);
  out.set(ip.dst, 6 + n);
  return out;
}

const host = (a: Uint8Array): Prefix => ({ addr: Uint8Array.from(a), len: a.length * 8 });

/**
 * The selector of a flow's SAs from our side. `parent` is the carrier selector the flow falls
 * in; `host` scope keeps the parent's prefix on the side that is not pinned to one host.
 */
export function flowSelector(scope: number, side: Side, v: FlowView, parent: Selector): Selector {
  if (scope === SCOPE.host) {
    return side === 'offerer'
      ? { local: parent.local, remote: host(v.remote), proto: 0, localPorts: ANY_PORTS, remotePorts: ANY_PORTS }
      : { local: host(v.local), remote: parent.remote, proto: 0, localPorts: ANY_PORTS, remotePorts: ANY_PORTS };
  }
  const ported = scope === SCOPE.port && (v.localPort !== 0 || v.remotePort !== 0);
  return {
    local: host(v.local),
    remote: host(v.remote),
    proto: scope >= SCOPE.proto ? v.proto : 0,
    localPorts: ported ? [v.localPort, v.localPort] : ANY_PORTS,
    remotePorts: ported ? [v.remotePort, v.remotePort] : ANY_PORTS,
  };
}

/** Valid scope numbers on the wire. */
export const isScope = (n: number): boolean => n >= SCOPE.host && n <= SCOPE.port;
