/**
 * When to rekey, and who wins when both sides do (DESIGN.md; the FreeS/WAN experience;
 * RFC 7296 §2.8.1).
 *
 * Rekeys start before expiry at a margin with random jitter, somewhere between `margin` and
 * `2 × margin` before the hard lifetime, so that many SAs with one lifetime (a convoy) do not all
 * rekey in the same second. The side that initiated the SA leads; the other side only takes over
 * at half the margin, when the leader evidently failed. So in the normal case exactly one side
 * rekeys and there is no collision to resolve.
 */
export interface RekeyPlan {
  /** Milliseconds after installation at which this side starts the rekey. */
  readonly startMs: number;
  /** Milliseconds after installation at which the SA is gone (hard limit). */
  readonly hardMs: number;
}

export function planRekey(lifetimeS: number, marginS: number, weInitiated: boolean, rand01: number): RekeyPlan {
  const margin = Math.min(marginS, lifetimeS / 2) * 1000; // a margin longer than half the life makes no sense
  const hardMs = lifetimeS * 1000;
  const before = weInitiated ? margin * (1 + clamp01(rand01)) : margin / 2;
  return { startMs: Math.max(0, hardMs - before), hardMs };
}

const clamp01 = (x: number) => Math.min(1, Math.max(0, x));

/**
 * Simultaneous rekey (RFC 7296 §2.8.1): both sides created a new SA for the same old one. The
 * exchange that used the lowest of the four nonces produced the redundant SA, and its initiator
 * deletes it. Returns which of the two exchanges lost: 'ours' (the one we initiated) or 'theirs'.
 */
export function collisionLoser(
  ours: { readonly ni: Uint8Array; readonly nr: Uint8Array },
  theirs: { readonly ni: Uint8Array; readonly nr: Uint8Array },
): 'ours' | 'theirs' {
  const lowestOurs = lower(ours.ni, ours.nr);
  const lowestTheirs = lower(theirs.ni, theirs.nr);
  return compare(lowestOurs, lowestTheirs) < 0 ? 'ours' : 'theirs';
}

const lower = (a: Uint8Array, b: Uint8Array) => (compare(a, b) <= 0 ? a : b);

/** Nonces compare as big-endian numbers, byte by byte; a shorter prefix is lower. */
export function compare(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return a.length - b.length;
}
