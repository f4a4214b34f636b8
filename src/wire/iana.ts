/**
 * IANA registries used by keyline, as const objects (not enums: they tree-shake, and a value
 * from the wire that is not listed stays a plain number). `name(reg, v)` gives the log name,
 * e.g. name(ENCR, 20) === 'ENCR_AES_GCM_16', and `UNKNOWN(99)` for unlisted values.
 */

/** IKEv2 Transform Type 1 - Encryption Algorithm Transform IDs (RFC 7296 §3.3.2). */
export const ENCR = {
  ENCR_AES_CBC: 12,
  ENCR_AES_GCM_16: 20,
  ENCR_CHACHA20_POLY1305: 28,
} as const;

/** Transform Type 2 - Pseudorandom Function Transform IDs. */
export const PRF = {
  PRF_HMAC_SHA2_256: 5,
  PRF_HMAC_SHA2_384: 6,
  PRF_HMAC_SHA2_512: 7,
} as const;

/** Transform Type 3 - Integrity Algorithm Transform IDs. */
export const INTEG = {
  NONE: 0,
  AUTH_HMAC_SHA2_256_128: 12,
  AUTH_HMAC_SHA2_384_192: 13,
  AUTH_HMAC_SHA2_512_256: 14,
} as const;

/** Transform Type 4 - Key Exchange Method Transform IDs. */
export const KE = {
  NONE: 0,
  MODP_2048: 14,
  MODP_3072: 15,
  CURVE25519: 31,
} as const;

/** Transform Type 5 - Extended Sequence Numbers. */
export const ESN = {
  NO_ESN: 0,
  ESN: 1,
} as const;

/** IP protocol numbers (the ESP trailer's Next Header uses the same registry). */
export const IPPROTO = {
  ICMP: 1,
  IPV4: 4,
  TCP: 6,
  UDP: 17,
  IPV6: 41,
  ESP: 50,
  ICMPV6: 58,
  /** "No next header": an ESP dummy packet (RFC 4303 §2.6), dropped after decryption. */
  NONE: 59,
} as const;

export type Registry = Readonly<Record<string, number>>;

const reverse = new WeakMap<Registry, Map<number, string>>();

export function name(reg: Registry, v: number): string {
  let m = reverse.get(reg);
  if (!m) {
    m = new Map(Object.entries(reg).map(([k, n]) => [n, k]));
    reverse.set(reg, m);
  }
  return m.get(v) ?? `UNKNOWN(${v})`;
}
