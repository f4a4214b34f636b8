import dgram from 'node:dgram';
import { accessSync, constants, statSync } from 'node:fs';
import { join } from 'node:path';
import { KeylineError } from '../../../wire/errors.js';
import { prefix as parsePrefix } from '../../../sa/selector.js';
import type { TunBridgeOptions } from './bridge.js';

/** The pieces of the bridge that are plain functions: socat's command line and its checks. */

/**
 * Default inner MTU, chosen so the outer packet is not fragmented. ESP in UDP adds outer IP 20
 * (IPv6 40) + UDP 8 (NAT-T, RFC 3948) + ESP header 8 + IV 8 (GCM, ChaCha20) or 16 (CBC) + ICV 16,
 * and pads the inner packet plus 2 trailer bytes to 4 (GCM) or 16 (CBC) bytes. On a 1500-byte
 * path that leaves at most 1438 (GCM over IPv4), 1418 (GCM over IPv6) or 1406 (CBC over IPv6);
 * a PPPoE uplink (1492) takes 8 more: 1430 / 1410 / 1390. 1400 covers all of these but CBC over
 * IPv6 on PPPoE, which needs a configured MTU of 1390.
 */
export const DEFAULT_MTU = 1400;
export const SOCAT_MISSING =
  'socat not found: the userspace driver reaches the TUN device through socat; install it: opkg install socat / apt-get install socat';

/**
 * The socat command line. `iff-no-pi`: one bare IP packet per datagram, no 4-byte packet-info
 * header. socat 1.7 can only give the device an IPv4 address, so IPv6 is set by `ip` instead.
 * `-b`: socat's buffer must hold a whole packet (its default is 8192).
 */
export function socatArgs(o: Pick<TunBridgeOptions, 'ifname' | 'address'>, mtu: number, keylinePort: number, bridgePort: number): string[] {
  const addr = o.address.includes(':') ? '' : `:${o.address}`;
  return [
    `-b${Math.max(8192, mtu)}`,
    `TUN${addr},tun-type=tun,iff-no-pi,iff-up,tun-name=${o.ifname}`,
    `UDP:127.0.0.1:${keylinePort},bind=127.0.0.1:${bridgePort}`,
  ];
}

/** Options go into socat address syntax: refuse anything that could smuggle in more of it. */
export function validate(o: Pick<TunBridgeOptions, 'ifname' | 'address' | 'mtu'>): void {
  const bad = (what: string) => new KeylineError('TUN_CONFIG', `tun: ${what}`);
  if (!/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,14}$/.test(o.ifname)) throw bad(`bad interface name '${o.ifname}' (1-15 of A-Z a-z 0-9 _ . -)`);
  if (!o.address.includes('/')) throw bad(`address needs a prefix length, e.g. 198.51.100.1/24: '${o.address}'`);
  parsePrefix(o.address); // throws BAD_ADDRESS / BAD_PREFIX
  const min = o.address.includes(':') ? 1280 : 576;
  const mtu = o.mtu ?? DEFAULT_MTU;
  if (!Number.isInteger(mtu) || mtu < min || mtu > 9000) throw bad(`mtu ${mtu} out of range ${min}-9000`);
}

/** The full path of an executable: `name` itself if it has a slash, else looked up in PATH. */
export function findExecutable(name: string, path = process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin'): string | undefined {
  const candidates = name.includes('/') ? [name] : path.split(':').filter(Boolean).map((d) => join(d, name));
  for (const c of candidates) {
    try {
      accessSync(c, constants.X_OK);
      if (statSync(c).isFile()) return c;
    } catch {
      // not here
    }
  }
  return undefined;
}

export function bindLoopback(port: number): Promise<dgram.Socket> {
  const sock = dgram.createSocket({ type: 'udp4', reuseAddr: false });
  return new Promise((resolve, reject) => {
    sock.once('error', reject);
    sock.bind(port, '127.0.0.1', () => {
      sock.off('error', reject);
      resolve(sock);
    });
  });
}

export async function freePort(): Promise<number> {
  const s = await bindLoopback(0);
  const { port } = s.address();
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}
