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

/** A TCP/IPv4 segment with the given flags (0x02 SYN, 0x12 SYN/ACK, 0x10 ACK, 0x18 PSH/ACK); checksum not computed. */
export function tcp4(src: string, dst: string, sport: number, dport: number, flags: number, data: Uint8Array = new Uint8Array(0)): Uint8Array {
  const t = new Uint8Array(20 + data.length);
  t[0] = sport >> 8;
  t[1] = sport & 0xff;
  t[2] = dport >> 8;
  t[3] = dport & 0xff;
  t[12] = 5 << 4; // data offset: 5 words
  t[13] = flags;
  t[14] = 0xff; // window
  t.set(data, 20);
  return buildIpPacket(addrBytes(src), addrBytes(dst), 6, t);
}
