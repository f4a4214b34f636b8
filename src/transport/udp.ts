import dgram from 'node:dgram';
import type { Endpoint } from '../sa/types.js';
import { familyOf, type Transport } from './transport.js';

/**
 * A UDP transport on node:dgram, one socket per address family and port (an agent listening on
 * 0.0.0.0:4500 and [::]:4500 holds two). IPv6 sockets are v6-only so the two never overlap.
 */
export class UdpTransport implements Transport {
  readonly family: 4 | 6;
  sendErrors = 0;
  private handler: ((data: Uint8Array, from: Endpoint) => void) | undefined;

  private constructor(
    private readonly sock: dgram.Socket,
    readonly local: Endpoint,
  ) {
    this.family = familyOf(local.addr);
    sock.on('message', (msg, rinfo) => {
      const data = new Uint8Array(msg.buffer, msg.byteOffset, msg.length);
      this.handler?.(data, { addr: rinfo.address, port: rinfo.port });
    });
    // An ICMP error reported on a later send must not kill the socket.
    sock.on('error', () => this.sendErrors++);
  }

  static open(at: Endpoint): Promise<UdpTransport> {
    const fam = familyOf(at.addr);
    const sock = dgram.createSocket({ type: fam === 6 ? 'udp6' : 'udp4', ipv6Only: fam === 6, reuseAddr: false });
    return new Promise((resolve, reject) => {
      const fail = (e: Error) => reject(e);
      sock.once('error', fail);
      sock.bind(at.port, at.addr, () => {
        sock.off('error', fail);
        const a = sock.address();
        resolve(new UdpTransport(sock, { addr: a.address, port: a.port }));
      });
    });
  }

  send(data: Uint8Array, to: Endpoint): void {
    this.sock.send(data, to.port, to.addr, (err) => {
      if (err) this.sendErrors++;
    });
  }

  onDatagram(cb: (data: Uint8Array, from: Endpoint) => void): void {
    this.handler = cb;
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      try {
        this.sock.close(() => resolve());
      } catch {
        resolve(); // already closed
      }
    });
  }
}
