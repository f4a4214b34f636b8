import type { Policy, SaCounters, SaSpec, Direction, Selector, Endpoint, Mode } from '../sa/types.js';

export interface SaUpdate {
  readonly remote?: Endpoint;
}

/**
 * Where the inbound SA that will use a fresh SPI is going to live. A kernel driver reserves the
 * SPI there (XFRM allocspi: a larval SA the real one then replaces); the others ignore it.
 */
export interface SpiHint {
  readonly reqid: number;
  readonly local: Endpoint;
  readonly remote: Endpoint;
  readonly mode: Mode;
}

/**
 * The driver seam (see DESIGN.md): the agent hands SAs and policies down, events come back up.
 * Three implementations pass one conformance suite: `memory` (records and moves packets in
 * memory; tests and the demo), `userspace` (keyline's own ESP engine over UDP and a TUN bridge)
 * and `xfrm` (the Linux kernel, keyed through iproute2).
 */
export interface DriverFeatures {
  /** The driver sees every data packet, so inline keying headers can ride on them. */
  readonly inlineKeying: boolean;
  readonly esn: boolean;
  readonly maxReplayWindow: number;
}

export type DriverEvent =
  /** An SA reached a soft (rekey now) or hard (gone) limit. */
  | { readonly type: 'expire'; readonly dir: Direction; readonly spi: number; readonly reqid: number; readonly hard: boolean; readonly why: string }
  /** Outbound traffic matched a 'protect' policy with no outbound SA: start keying. */
  | { readonly type: 'acquire'; readonly reqid: number; readonly policyId: number; readonly selector: Selector }
  /**
   * Authenticated ESP on inbound SA `spi` came from a new outer endpoint (a NAT rebinding, or the
   * peer roamed); the outbound SA has followed it already. Userspace driver only.
   */
  | { readonly type: 'moved'; readonly spi: number; readonly remote: Endpoint }
  /** Something is wrong with the driver itself (bridge died, command failed). */
  | { readonly type: 'error'; readonly message: string };

export type DriverEventHandler = (e: DriverEvent) => void;

export interface Driver {
  readonly name: string;
  readonly features: DriverFeatures;
  /** A fresh inbound SPI not in use (and outside the reserved 1..255 range). */
  allocSpi(hint?: SpiHint): Promise<number>;
  addSa(sa: SaSpec): Promise<void>;
  /**
   * Change what may change on a live SA without rekeying: the peer's outer endpoint (NAT
   * rebinding, MOBIKE-style moves, RFC 7296 §2.23). Rejects with 'NO_SA' for an unknown SPI.
   */
  updateSa(dir: Direction, spi: number, change: SaUpdate): Promise<void>;
  deleteSa(dir: Direction, spi: number): Promise<void>;
  addPolicy(p: Policy): Promise<void>;
  deletePolicy(id: number): Promise<void>;
  counters(dir: Direction, spi: number): SaCounters | undefined;
  /** Drops not attributable to an SA (unknown SPI, short packet, no policy), by reason. */
  drops(): Readonly<Record<string, number>>;
  /**
   * Drivers whose counters live elsewhere (the kernel's, read through `ip -s xfrm state`) fetch
   * them here; `counters()` and `drops()` then answer from that snapshot. Absent where the
   * counters are always current (memory, userspace): `await driver.refresh?.()` before reading.
   */
  refresh?(): Promise<void>;
  onEvent(handler: DriverEventHandler): void;
  close(): Promise<void>;
}
