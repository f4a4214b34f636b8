import { addrBytes } from './selector.js';
import { buildIpPacket, checksum } from './ip.js';

/** An ICMP echo request (or reply) IPv4 packet with valid checksums: the demo's and the tests' traffic. */
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
