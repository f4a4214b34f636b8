import { UserspaceDriver } from '../../src/drivers/userspace/driver.js';
import { MemoryNetwork } from '../../src/transport/memory.js';
import { UdpTransport } from '../../src/transport/udp.js';
import type { Transport } from '../../src/transport/transport.js';
import { MemoryTunnel } from '../../src/drivers/userspace/tun/tunnel.js';
import { FakeClock } from '../../src/util/clock.js';
import { nodeBackend } from '../../src/crypto/index.js';
import type { Backend } from '../../src/crypto/types.js';
import type { DriverPair } from '../drivers/conformance.js';

export interface UserspacePair extends DriverPair {
  a: UserspaceDriver;
  b: UserspaceDriver;
  tunA: MemoryTunnel;
  tunB: MemoryTunnel;
  /** Outer endpoints, to point SAs at. */
  endA: { addr: string; port: number };
  endB: { addr: string; port: number };
  deliveredAtA(): Uint8Array[];
  sendFromB(packet: Uint8Array): void;
}

/** A deterministic 32-bit sequence for SPI allocation. */
const counter = (start: number) => () => start++;

export interface PairOptions {
  udp?: boolean;
  /** Loopback address for the UDP sockets (default 127.0.0.1; '::1' for IPv6). */
  loopback?: string;
  backend?: Backend;
  /** Wrap A's and B's transports (fault injection). */
  wrap?: (t: Transport, side: 'a' | 'b') => Transport;
}

/** Two userspace drivers back to back, over the memory network or real UDP on loopback. */
export async function userspacePair(o: PairOptions = {}): Promise<UserspacePair> {
  const clock = new FakeClock();
  const net = new MemoryNetwork();
  const [ta, tb] = o.udp
    ? await Promise.all([0, 1].map(() => UdpTransport.open({ addr: o.loopback ?? '127.0.0.1', port: 0 })))
    : [net.attach({ addr: '192.0.2.1', port: 4500 }), net.attach({ addr: '192.0.2.2', port: 4500 })];
  const wrap = o.wrap ?? ((t) => t);
  const tunA = new MemoryTunnel('a0');
  const tunB = new MemoryTunnel('b0');
  const backend = o.backend ?? nodeBackend;
  const a = new UserspaceDriver({ transports: [wrap(ta, 'a')], tunnel: tunA, backend, clock, random32: counter(0x1000) });
  const b = new UserspaceDriver({ transports: [wrap(tb, 'b')], tunnel: tunB, backend, clock, random32: counter(0x2000) });
  return {
    a,
    b,
    tunA,
    tunB,
    clock,
    endA: ta.local,
    endB: tb.local,
    sendFromA: (p) => tunA.inject(p),
    sendFromB: (p) => tunB.inject(p),
    deliveredAtB: () => tunB.written,
    deliveredAtA: () => tunA.written,
    settle: async () => {
      if (!o.udp) return net.settle();
      // Real sockets: wait until the loopback queue drains (bounded).
      for (let i = 0; i < 3; i++) await new Promise((r) => setTimeout(r, 20));
    },
    close: async () => {
      await a.close();
      await b.close();
    },
  };
}
