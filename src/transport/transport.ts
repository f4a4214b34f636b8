import type { Endpoint } from '../sa/types.js';

/**
 * How datagrams reach peers (the outer side). Six members, like WireGuard's Bind: enough for UDP
 * sockets and for an in-memory network in tests. Send errors (no route, buffer full) are
 * counted by the implementation, never thrown: the packet path must not stop for one packet.
 */
export interface Transport {
  readonly local: Endpoint;
  readonly family: 4 | 6;
  send(data: Uint8Array, to: Endpoint): void;
  onDatagram(cb: (data: Uint8Array, from: Endpoint) => void): void;
  /** Datagrams that could not be sent. */
  readonly sendErrors: number;
  close(): Promise<void>;
}

export const endpointText = (e: Endpoint): string => (e.addr.includes(':') ? `[${e.addr}]:${e.port}` : `${e.addr}:${e.port}`);

/** The same address and port. */
export const sameEndpoint = (a: Endpoint, b: Endpoint): boolean => a.addr === b.addr && a.port === b.port;

export const familyOf = (addr: string): 4 | 6 => (addr.includes(':') ? 6 : 4);
