/**
 * The inner side of the userspace driver: whatever carries plain IP packets between keyline and
 * the local host. On a router that is a TUN device reached through socat (bridge.ts); in tests and
 * the demo it is a MemoryTunnel.
 */
export interface Tunnel {
  /** Interface name, e.g. 'kl0' (routes point at it). */
  readonly name: string;
  /** An IP packet towards the local host (into the TUN). Never throws; drops are counted. */
  write(packet: Uint8Array): void;
  /** IP packets the host sends into the TUN. One handler; a later call replaces it. */
  onPacket(cb: (packet: Uint8Array) => void): void;
  /** Idempotent. */
  close(): Promise<void>;
}

/**
 * A tunnel in memory. `inject` plays the host sending a packet into the TUN; what keyline writes
 * towards the host is kept in `written` (copied, so a sender reusing its buffer cannot rewrite
 * history) and passed to `onWrite`.
 */
export class MemoryTunnel implements Tunnel {
  readonly written: Uint8Array[] = [];
  onWrite: ((packet: Uint8Array) => void) | undefined;
  private handler: ((packet: Uint8Array) => void) | undefined;
  private closed = false;

  constructor(readonly name = 'mem0') {}

  write(packet: Uint8Array): void {
    if (this.closed) return;
    const copy = packet.slice();
    this.written.push(copy);
    this.onWrite?.(copy);
  }

  onPacket(cb: (packet: Uint8Array) => void): void {
    this.handler = cb;
  }

  /** As if the host sent `packet` into the TUN device. */
  inject(packet: Uint8Array): void {
    if (!this.closed) this.handler?.(packet);
  }

  get isClosed(): boolean {
    return this.closed;
  }

  async close(): Promise<void> {
    this.closed = true;
  }
}
