import { addrBytes } from '../../src/sa/selector.js';
import { buildIpPacket } from '../../src/sa/ip.js';
export { icmpEcho } from '../../src/sa/icmp.js';

/** A UDP/IPv4 packet (checksum 0 = none, legal for IPv4). */
export function udp4(src: string, dst: string, sport: number, dport: number, data: Uint8Array): Uint8Array {
  const u = new Uint8Array(8 + data.length);
  u[0] = sport >> 8;
  u[1] = sport & 0xff;
  u[2] = dport >> 8;
  u[3] = dport & 0xff;
  u[4] = u.length >> 8;
  u[5] = u.length & 0xff;
  u.set(data, 8);
  return buildIpPacket(addrBytes(src), addrBytes(dst), 17, u);
}
