import { IPPROTO } from '../wire/iana.js';

/**
 * Just enough of IPv4/IPv6 to classify a packet against selectors and to rebuild an IP header
 * for transport mode. Returns undefined for anything that is not a well-formed IP packet; the
 * caller counts the drop.
 */
export interface IpInfo {
  readonly version: 4 | 6;
  readonly src: Uint8Array;
  readonly dst: Uint8Array;
  /** Upper-layer protocol (for IPv6: the Next Header of the fixed header; extension headers are not walked). */
  readonly proto: number;
  /** Ports for TCP/UDP/SCTP first fragments, else 0. */
  readonly srcPort: number;
  readonly dstPort: number;
  /** Offset of the upper-layer payload. */
  readonly headerLen: number;
}

const PORTED = new Set<number>([IPPROTO.TCP, IPPROTO.UDP, 132 /* SCTP */]);

export function parseIp(p: Uint8Array): IpInfo | undefined {
  if (p.length < 1) return undefined;
  const v = p[0]! >> 4;
  if (v === 4) return parseV4(p);
  if (v === 6) return parseV6(p);
  return undefined;
}

function parseV4(p: Uint8Array): IpInfo | undefined {
  if (p.length < 20) return undefined;
  const ihl = (p[0]! & 0x0f) * 4;
  const total = (p[2]! << 8) | p[3]!;
  if (ihl < 20 || total < ihl || total > p.length) return undefined;
  const proto = p[9]!;
  const fragOffset = ((p[6]! & 0x1f) << 8) | p[7]!;
  const ports = fragOffset === 0 && PORTED.has(proto) && total >= ihl + 4;
  return {
    version: 4,
    src: p.subarray(12, 16),
    dst: p.subarray(16, 20),
    proto,
    srcPort: ports ? (p[ihl]! << 8) | p[ihl + 1]! : 0,
    dstPort: ports ? (p[ihl + 2]! << 8) | p[ihl + 3]! : 0,
    headerLen: ihl,
  };
}

function parseV6(p: Uint8Array): IpInfo | undefined {
  if (p.length < 40) return undefined;
  const payloadLen = (p[4]! << 8) | p[5]!;
  if (40 + payloadLen > p.length) return undefined;
  const proto = p[6]!;
  const ports = PORTED.has(proto) && payloadLen >= 4;
  return {
    version: 6,
    src: p.subarray(8, 24),
    dst: p.subarray(24, 40),
    proto,
    srcPort: ports ? (p[40]! << 8) | p[41]! : 0,
    dstPort: ports ? (p[42]! << 8) | p[43]! : 0,
    headerLen: 40,
  };
}

/** Internet checksum (RFC 1071) over a byte range. */
export function checksum(b: Uint8Array, start = 0, end = b.length): number {
  let sum = 0;
  for (let i = start; i + 1 < end; i += 2) sum += (b[i]! << 8) | b[i + 1]!;
  if ((end - start) & 1) sum += b[end - 1]! << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

/**
 * Prepend an IP header for transport mode on receive: the ESP payload is the upper-layer
 * segment, and the addresses are the SA's host-to-host selectors, the same ones the sender's
 * stack used for its TCP/UDP pseudo-header checksum, so that checksum stays valid.
 */
export function buildIpPacket(src: Uint8Array, dst: Uint8Array, proto: number, payload: Uint8Array): Uint8Array {
  if (src.length === 4) {
    const out = new Uint8Array(20 + payload.length);
    out[0] = 0x45;
    out[2] = out.length >> 8;
    out[3] = out.length & 0xff;
    out[6] = 0x40; // don't fragment: the tunnel MTU already accounts for ESP overhead
    out[8] = 64;
    out[9] = proto;
    out.set(src, 12);
    out.set(dst, 16);
    const c = checksum(out, 0, 20);
    out[10] = c >> 8;
    out[11] = c & 0xff;
    out.set(payload, 20);
    return out;
  }
  const out = new Uint8Array(40 + payload.length);
  out[0] = 0x60;
  out[4] = payload.length >> 8;
  out[5] = payload.length & 0xff;
  out[6] = proto;
  out[7] = 64;
  out.set(src, 8);
  out.set(dst, 24);
  out.set(payload, 40);
  return out;
}
