import type { Endpoint, Mode, Selector } from '../sa/types.js';
import type { EspProposal, IkeProposal } from './proposals.js';

/**
 * One IKE connection as the engine sees it, independent of how the key file spells it
 * (src/cli/plan.ts maps a `peer` entry with keying=ike to this).
 */

/** An identity as it goes into an ID payload: ID Type (RFC 7296 §3.5) and its data. */
export interface IdSpec {
  readonly type: number;
  readonly data: Uint8Array;
}

/**
 * What happens when the agent starts: `initiate` brings the connection up at once and keeps it
 * up; `wait` only responds; `on-traffic` initiates when the first packet for it arrives.
 */
export const START_ACTIONS = ['initiate', 'wait', 'on-traffic'] as const;
export type StartAction = (typeof START_ACTIONS)[number];

export interface RetransmitTiming {
  readonly firstMs: number;
  readonly tries: number;
}

export interface IkePeer {
  readonly name: string;
  /** Ties the connection's child SAs to its protect policies (see SaSpec.reqid). */
  readonly reqid: number;
  /** Where to send IKE_SA_INIT; undefined for `addr=any` (responder only). */
  readonly remote: Endpoint | undefined;
  readonly localId: IdSpec;
  /** The identity the peer must prove; undefined accepts any (only with a remote address). */
  readonly remoteId: IdSpec | undefined;
  readonly psk: Uint8Array;
  /** IKE and ESP proposals, in order of preference. */
  readonly ike: readonly IkeProposal[];
  readonly esp: readonly EspProposal[];
  readonly mode: Mode;
  /** Protected traffic, local ↔ remote: local-net × remote-net (host addresses in transport mode). */
  readonly selectors: readonly Selector[];
  /** Seconds. Rekeying starts between margin and 2×margin before a lifetime ends (DESIGN.md). */
  readonly ikeLifetime: number;
  readonly childLifetime: number;
  readonly rekeyMargin: number;
  /** Seconds without an authenticated message before a liveness check; 0 turns DPD off. */
  readonly dpd: number;
  /**
   * Seconds: with DPD on, an IKE SA whose requests have gone unanswered while nothing was heard
   * for dpd + dpdTimeout is taken for dead, well before the retransmission budget runs out.
   * Undefined: only the retransmission budget.
   */
  readonly dpdTimeout?: number;
  /**
   * Our requests: the first retransmission after `firstMs`, each next one after twice the wait
   * before (at most IKE_TIMERS.retransmitMaxIntervalMs), and after `tries` retransmissions the
   * IKE SA is given up. Undefined: IKE_TIMERS' defaults.
   */
  readonly retransmit?: RetransmitTiming;
  readonly start: StartAction;
  readonly replayWindow: number;
  /** Announce inline keying in IKE_AUTH (src/inline/README.md §7.1). */
  readonly inline?: boolean;
}
