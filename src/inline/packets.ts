import { parseIp, type IpInfo } from '../sa/ip.js';
import { IPPROTO } from '../wire/iana.js';
import type { InlineHeader } from './header.js';

/** Byte and packet helpers of the inline engine: what rides after a header, flow samples. */

export function equal(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export function concat2(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}

/** The packet after a header, or the flow sample after a lone one (README.md §4). */
export function innerIp(h: InlineHeader, inner: Uint8Array): IpInfo | undefined {
  if (h.next !== IPPROTO.NONE && h.next !== IPPROTO.IPV4 && h.next !== IPPROTO.IPV6) return undefined;
  const ip = parseIp(inner);
  if (!ip || (h.next !== IPPROTO.NONE && (ip.version === 4) !== (h.next === IPPROTO.IPV4))) return undefined;
  return ip;
}

/**
 * The first octets of a packet: its IP header and 4 octets of transport header, with the length
 * field rewritten so the sample parses as a (short) packet of its own.
 */
export function flowSample(packet: Uint8Array, ip: IpInfo): Uint8Array {
  const s = packet.slice(0, Math.min(packet.length, ip.headerLen + 4));
  if (ip.version === 4) {
    s[2] = s.length >>> 8;
    s[3] = s.length & 0xff;
  } else {
    const pl = s.length - 40;
    s[4] = pl >>> 8;
    s[5] = pl & 0xff;
  }
  return s;
}

/** The reverse of a packet's addresses and ports, as a minimal IpInfo. */
export function mirrorIp(ip: IpInfo): IpInfo {
  return { version: ip.version, src: ip.dst, dst: ip.src, proto: ip.proto, srcPort: ip.dstPort, dstPort: ip.srcPort, headerLen: ip.version === 4 ? 20 : 40 };
}

/** A minimal sample for a mirrored flow: an IP header and the ports. */
export function sampleOf(ip: IpInfo): Uint8Array {
  const n = ip.version === 4 ? 20 : 40;
  const s = new Uint8Array(n + 4);
  if (ip.version === 4) {
    s[0] = 0x45;
    s[3] = n + 4;
    s[8] = 64;
    s[9] = ip.proto;
    s.set(ip.src, 12);
    s.set(ip.dst, 16);
  } else {
    s[0] = 0x60;
    s[5] = 4;
    s[6] = ip.proto;
    s[7] = 64;
    s.set(ip.src, 8);
    s.set(ip.dst, 24);
  }
  s[n] = ip.srcPort >>> 8;
  s[n + 1] = ip.srcPort & 0xff;
  s[n + 2] = ip.dstPort >>> 8;
  s[n + 3] = ip.dstPort & 0xff;
  return s;
}
