import type { Endpoint } from '../sa/types.js';
import { endpointText, familyOf, type Transport } from './transport.js';

/**
 * An in-memory datagram network for tests and the demo. Delivery is asynchronous (a microtask
 * per datagram) so that handlers never re-enter each other. `fault` lets a test drop, duplicate,
 * corrupt or hold back datagrams in flight; `settle()` waits until nothing is in flight.
 */
export type Fault = (data: Uint8Array, from: Endpoint, to: Endpoint) => Uint8Array[];

export class MemoryNetwork {
  private readonly hosts = new Map<string, MemoryTransport>();
  private inFlight = 0;
  private idle: (() => void)[] = [];
  fault: Fault | undefined;
  delivered = 0;

  attach(local: Endpoint): MemoryTransport {
    const key = endpointText(local);
    if (this.hosts.has(key)) throw new Error(`memory network: ${key} in use`);
    const t = new MemoryTransport(this, local);
    this.hosts.set(key, t);
    return t;
  }

  detach(t: MemoryTransport): void {
    this.hosts.delete(endpointText(t.local));
  }

  /** Deliver a datagram; unknown destinations vanish like on a real network. */
  carry(data: Uint8Array, from: Endpoint, to: Endpoint): void {
    const copies = this.fault ? this.fault(data, from, to) : [data];
    for (const d of copies) {
      const copy = d.slice(); // the sender may reuse its buffer
      this.inFlight++;
      queueMicrotask(() => {
        this.inFlight--;
        const dst = this.hosts.get(endpointText(to));
        if (dst) {
          this.delivered++;
          dst.deliver(copy, from);
        }
        if (this.inFlight === 0) for (const f of this.idle.splice(0)) f();
      });
    }
  }

  /** Resolves when no datagram is in flight (including ones sent by handlers meanwhile). */
  async settle(): Promise<void> {
    for (let i = 0; i < 1000 && this.inFlight > 0; i++) await new Promise<void>((r) => this.idle.push(r));
  }
}

export class MemoryTransport implements Transport {
  readonly family: 4 | 6;
  sendErrors = 0;
  private handler: ((data: Uint8Array, from: Endpoint) => void) | undefined;

  constructor(
    private readonly net: MemoryNetwork,
    readonly local: Endpoint,
  ) {
    this.family = familyOf(local.addr);
  }

  send(data: Uint8Array, to: Endpoint): void {
    this.net.carry(data, this.local, to);
  }

  onDatagram(cb: (data: Uint8Array, from: Endpoint) => void): void {
    this.handler = cb;
  }

  deliver(data: Uint8Array, from: Endpoint): void {
    this.handler?.(data, from);
  }

  async close(): Promise<void> {
    this.net.detach(this);
  }
}
