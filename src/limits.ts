/**
 * Every cap and default timer in one place (STYLE.md §4, §11). Each cap has a test that pushes
 * past it.
 */
export const LIMITS = {
  /** Largest anti-replay window (packets) an SA may ask for. */
  replayWindowMax: 4096,
  /** Default anti-replay window. */
  replayWindowDefault: 64,
  /** SAD entries (inbound + outbound ESP SAs) per agent. */
  sadMax: 16_384,
  /** SPD entries per agent. */
  spdMax: 4_096,
  /**
   * Sequence-number limits. Without ESN the 32-bit counter must never cycle (RFC 4303 §3.3.3):
   * hard stop at 2^32-1, ask for a rekey at 2^31 so IKE has a whole half of the space to do it.
   * With ESN the counter is 64-bit; JS numbers are exact to 2^53, a limit no SA reaches (285
   * years at a million packets per second), so that is the hard stop.
   */
  seqHardNoEsn: 0xffff_ffff,
  seqSoftNoEsn: 0x8000_0000,
  seqHardEsn: Number.MAX_SAFE_INTEGER,
  seqSoftEsn: 2 ** 52,
  /** Send a NAT keepalive when nothing was sent to a peer for this long (RFC 3948 §4: 20 s). */
  natKeepaliveMs: 20_000,
  /** How often the userspace driver checks time-based SA lifetimes. */
  lifetimeTickMs: 1_000,
} as const;

/**
 * IKE exchange reliability (RFC 7296 §2.1, §2.4). Retransmit only on timeout, with doubling
 * back-off: retransmissions at 2, 6, 14, 30 and 62 s after the first send, give up at 126 s
 * (strongSwan's defaults give up after ~165 s). A lossy uplink loses a whole exchange only if
 * six sends in a row are lost.
 */
export const IKE_TIMERS = {
  /** Defaults of the peer keys retransmit-timeout and retransmit-tries: 2, 4, 8, 16, 32 s, give up after 126 s. */
  retransmitBaseMs: 2_000,
  retransmitTries: 5,
  /** No wait between two transmissions of a request is longer, whatever the peer's settings double to. */
  retransmitMaxIntervalMs: 64_000,
  /** Requests waiting for the window (size 1) per IKE SA; more is a local bug or a storm. */
  pendingRequestsMax: 32,
  /** A responder's half-open IKE SA is dropped when IKE_AUTH has not completed by then. */
  halfOpenMs: 30_000,
  /** A connection with start=initiate that failed is tried again after this long. */
  reinitiateMs: 10_000,
  /** An old child or IKE SA replaced by a rekey goes this long after the peer's DELETE was due. */
  rekeyLingerMs: 30_000,
  /**
   * Attempts at a new child SA on a live IKE SA (the old one expired or the peer deleted it) are
   * at least this far apart, so a peer that refuses or deletes it at once is not asked in a loop.
   */
  newChildSpacingMs: 10_000,
  /** Retry delay after the peer answered TEMPORARY_FAILURE (RFC 7296 §2.25). */
  temporaryFailureMs: 3_000,
  /** IKE_SA_INIT restarts (COOKIE, INVALID_KE_PAYLOAD) per attempt. */
  initRestartsMax: 3,
  /** A log line unauthenticated requests can cause (no acceptable proposal) at most this often. */
  unauthenticatedLogMs: 1_000,
  /**
   * After an unusable (unauthenticated) answer to IKE_SA_INIT, how long a usable one may still
   * arrive before the attempt fails. Under the first retransmission time, so a real refusal costs
   * no extra message.
   */
  initErrorWaitMs: 1_500,
} as const;

/** DoS limits of the IKE responder (RFC 7296 §2.6). */
export const IKE_LIMITS = {
  /** Half-open IKE SAs (IKE_SA_INIT answered, IKE_AUTH not yet) before cookies are demanded. */
  cookieThreshold: 16,
  /** Hard cap on half-open IKE SAs; beyond it new IKE_SA_INIT requests are dropped. */
  halfOpenMax: 1_024,
  /** Hard cap on IKE SAs of all states. */
  ikeSaMax: 4_096,
  /** Cookie secrets rotate this often; a cookie made with the previous secret is still accepted. */
  cookieSecretMs: 120_000,
} as const;

/**
 * Inline keying (src/inline/README.md §6.4, §9). The defaults of the per-peer settings, and the
 * caps that are not settings.
 */
export const INLINE_DEFAULTS = {
  /** Seconds an inline SA pair is used for. */
  lifetime: 600,
  /** Seconds without a packet either way before a flow is removed. */
  idle: 120,
  /** Flows spawned per parent secret before the parent is rekeyed (IKE) or spawning stops (static). */
  maxSpawn: 10_000,
  /** Flows (with their two SAs) per agent. */
  maxFlows: 4_096,
  /** Grace period of inbound SAs past their lifetime: K1·MSL + K2·lifetime. */
  mslSeconds: 120,
  k1: 2,
  k2: 1 / 32,
  /** Static parents: how far the peer's clock may be from ours, seconds. */
  skewSeconds: 120,
  /** Outer path MTU for the header-alone decision (§8). */
  pathMtu: 1500,
} as const;

export const INLINE_LIMITS = {
  /** Offer lifetimes accepted on the wire, seconds. */
  lifetimeMin: 10,
  lifetimeMax: 86_400,
  /** An unanswered offer stops riding after this long (IKE parents fall back to the carrier). */
  offerMs: 30_000,
  /** The least recently used flow may be evicted for a new one only when idle this long. */
  evictIdleMs: 5_000,
  /** Static carrier: IVs remembered per parent (replay cache). */
  replayCacheMax: 65_536,
  tombstonesMax: 8_192,
  /** RETIRE at most this often per SPI. */
  retireIntervalMs: 1_000,
  /** Static parents keep the secrets of this many days (yesterday, today, tomorrow). */
  staticDays: 3,
  /** How often flows are checked for expiry and idleness. */
  sweepMs: 1_000,
} as const;

/** README.md §6.4: how long an inbound inline SA is accepted after its lifetime, ms. */
export function inlineGraceMs(lifetimeS: number, msl: number = INLINE_DEFAULTS.mslSeconds, k1: number = INLINE_DEFAULTS.k1, k2: number = INLINE_DEFAULTS.k2): number {
  return Math.round((k1 * msl + k2 * lifetimeS) * 1000);
}
