import type { Prf } from '../crypto/types.js';
import type { IkeSaKeys } from '../crypto/ike-keys.js';
import type { KeyExchange } from '../crypto/dh/index.js';
import type { Endpoint, Selector } from '../sa/types.js';
import type { Timer } from '../util/clock.js';
import type { ExchangeWindow } from './exchange.js';
import type { IkePeer } from './peer.js';
import type { EspProposal, IkeProposal } from './proposals.js';
import type { Payload, RawPayload } from './payload.js';
import type { IvSource, Role, SkKeys } from './sk.js';
import type { StateMachine } from './state.js';
import type { Sa } from './payloads/sa.js';
import type { Transport } from '../transport/transport.js';

/**
 * The records the engine keeps per IKE SA and per child SA. Behaviour lives in the engine and
 * its tasks (tasks/*.ts); these are plain data with the few helpers every task needs.
 */

/** A socket IKE uses: plain IKE (port 500) or the NAT-T port with the non-ESP marker (RFC 3948). */
export interface IkeSocket {
  readonly transport: Transport;
  readonly natt: boolean;
}

/** A decoded, authenticated (or, for IKE_SA_INIT, plain) message handed to a task. */
export interface Inbound {
  readonly exchange: number;
  readonly messageId: number;
  readonly payloads: readonly Payload[];
  /** The same payloads undecoded (AUTH is computed over an ID payload's body as received). */
  readonly inner: readonly RawPayload[];
  /** The whole datagram as received (IKE_SA_INIT's bytes are signed by AUTH). */
  readonly raw: Uint8Array;
  readonly from: Endpoint;
}

/** What an outstanding request of ours does with its answer, or when no answer comes. */
export interface Pending {
  readonly exchange: number;
  /** Message ID it was sent with (set when the window sends it). */
  readonly id?: number;
  readonly what: string;
  onResponse(m: Inbound): Promise<void> | void;
}

export type ChildState = 'installed' | 'rekeying' | 'rekeyed' | 'deleting';

/** What defines a child SA, as negotiated (before installation) and kept after it. */
export interface ChildSpec {
  readonly spiIn: number;
  readonly spiOut: number;
  readonly proposal: EspProposal;
  readonly selectors: readonly Selector[];
  /** Nonces of the exchange that made it (RFC 7296 §2.8.1 compares them on collisions). */
  readonly ni: Uint8Array;
  readonly nr: Uint8Array;
  /** We initiated the exchange that made it: we lead its rekey (DESIGN.md). */
  readonly weInitiated: boolean;
}

export interface ChildSa extends ChildSpec {
  readonly reqid: number;
  readonly createdAt: number;
  state: ChildState;
  timers: Timer[];
  /** A rekey of this child the peer started while ours was in flight (a collision). */
  theirRekey?: { ni: Uint8Array; nr: Uint8Array; child: ChildSa } | undefined;
}

export interface IkeSa {
  readonly role: Role;
  readonly spiI: bigint;
  spiR: bigint;
  /** The connection; for a responder, settled by IKE_AUTH (until then the first candidate). */
  peer: IkePeer;
  /** Responder: the initiator's SPI and address, under which a repeated IKE_SA_INIT finds it. */
  initKey?: string;
  /** Responder: connections the initiator's address may belong to, settled by its ID. */
  candidates: readonly IkePeer[];
  readonly fsm: StateMachine;
  socket: IkeSocket;
  remote: Endpoint;
  window: ExchangeWindow;
  proposal?: IkeProposal;
  prf?: Prf;
  keys?: IkeSaKeys;
  sk?: SkKeys;
  iv?: IvSource;
  ni: Uint8Array;
  nr: Uint8Array;
  /** IKE_SA_INIT request and response as sent: AUTH signs them (§2.15). */
  initRequest: Uint8Array;
  initResponse: Uint8Array;
  /** Initiator of IKE_SA_INIT: the key exchange, kept for a retry (cookie, INVALID_KE). */
  kex?: KeyExchange;
  /** Initiator of IKE_SA_INIT: the SA payload offered, to check the answer against. */
  offer?: Sa;
  cookie?: Uint8Array;
  initTries: number;
  /** Initiator: why the last unusable IKE_SA_INIT answer could not be used, while waiting for a better one. */
  initError?: string;
  readonly children: ChildSa[];
  pending?: Pending;
  /** Request ID being processed (async work before the response): retransmits of it are dropped. */
  processing?: number;
  readonly createdAt: number;
  lastRecvAt: number;
  timers: Timer[];
  /** The peer's ID as authenticated (for logs and status). */
  peerId?: string;
  /** Set while a CREATE_CHILD_SA rekeying this IKE SA is in flight, or after it moved on. */
  rekeyedTo?: IkeSa;
  /** Why it is going away (closed or deleting), for the log. */
  closing?: string;
  /** Both sides announced inline keying in IKE_AUTH (src/inline/README.md §7.1). */
  inline?: boolean;
  /**
   * A new child SA on this IKE SA (not a rekey): 'asking' while the CREATE_CHILD_SA is out,
   * 'waiting' while a timer holds the next attempt back; `askedAt` spaces the attempts.
   */
  newChild?: { state: 'asking' | 'waiting' | 'idle'; askedAt: number };
}

/** Our SPI of an IKE SA: the key of the engine's table. */
export const ourSpi = (sa: Pick<IkeSa, 'role' | 'spiI' | 'spiR'>): bigint => (sa.role === 'initiator' ? sa.spiI : sa.spiR);

export const spiHex = (spi: bigint): string => spi.toString(16).padStart(16, '0');

/** "peer[spiI_spiR]" for log lines. */
export const saName = (sa: IkeSa): string => `${sa.peer.name}[${spiHex(sa.spiI).slice(0, 8)}_${spiHex(sa.spiR).slice(0, 8)}]`;

export function spiBytes(spi: bigint): Uint8Array {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, spi);
  return b;
}

export function spi32Bytes(spi: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, spi);
  return b;
}

export const spi32 = (b: Uint8Array): number | undefined => (b.length === 4 ? new DataView(b.buffer, b.byteOffset, 4).getUint32(0) : undefined);

export const spi64 = (b: Uint8Array): bigint | undefined => (b.length === 8 ? new DataView(b.buffer, b.byteOffset, 8).getBigUint64(0) : undefined);

export function notifies(m: Inbound, type: number): (Payload & { type: 'N' })[] {
  return m.payloads.filter((p): p is Payload & { type: 'N' } => p.type === 'N' && p.notify === type);
}

export function first<T extends Payload['type']>(m: Inbound, type: T): (Payload & { type: T }) | undefined {
  return m.payloads.find((p) => p.type === type) as (Payload & { type: T }) | undefined;
}

/** The first error notify of a message, if any (RFC 7296 §3.10.1: types below 16384). */
export function errorNotify(m: Inbound): (Payload & { type: 'N' }) | undefined {
  return m.payloads.find((p): p is Payload & { type: 'N' } => p.type === 'N' && p.notify < 16384);
}
