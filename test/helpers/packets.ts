import { addrBytes } from '../../src/sa/selector.js';
import { buildIpPacket, checksum } from '../../src/sa/ip.js';

/** An ICMP echo request (or reply) IPv4 packet with valid checksums. */
export function icmpEcho(src: string, dst: string, id: number, seq: number, data: Uint8Array = new Uint8Array(32), reply = false): Uint8Array {
  const icmp = new Uint8Array(8 + data.length);
  icmp[0] = reply ? 0 : 8;
  icmp[4] = id >> 8;
  icmp[5] = id & 0xff;
  icmp[6] = seq >> 8;
  icmp[7] = seq & 0xff;
  icmp.set(data, 8);
  const c = checksum(icmp);
  icmp[2] = c >> 8;
  icmp[3] = c & 0xff;
  return buildIpPacket(addrBytes(src), addrBytes(dst), 1, icmp);
}

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
