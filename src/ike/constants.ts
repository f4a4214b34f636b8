/**
 * IKEv2 wire registries (RFC 7296 §3 and the IANA "IKEv2 Parameters" registry) as const objects,
 * in the style of src/wire/iana.ts: log names come from `name(REG, v)`, values from the wire that
 * are not listed stay plain numbers. The algorithm registries (ENCR, PRF, INTEG, KE, ESN) live in
 * iana.ts; this file holds what only the IKE layer needs, plus the IKE codec limits.
 */

/** Exchange Types (RFC 7296 §3.1). */
export const EXCHANGE = {
  IKE_SA_INIT: 34,
  IKE_AUTH: 35,
  CREATE_CHILD_SA: 36,
  INFORMATIONAL: 37,
} as const;

/** Header flags (RFC 7296 §3.1). Other bits are sent as zero and ignored on receipt. */
export const FLAG = {
  /** Initiator: set by the original initiator of the IKE SA. */
  I: 0x08,
  /** Version: the sender can speak a higher major version. */
  V: 0x10,
  /** Response. */
  R: 0x20,
} as const;

/** Payload Types (RFC 7296 §3.2; SKF from RFC 7383). */
export const PAYLOAD = {
  NONE: 0,
  SA: 33,
  KE: 34,
  IDi: 35,
  IDr: 36,
  CERT: 37,
  CERTREQ: 38,
  AUTH: 39,
  /** Ni or Nr. */
  NONCE: 40,
  N: 41,
  D: 42,
  V: 43,
  TSi: 44,
  TSr: 45,
  SK: 46,
  /** Configuration: defined by RFC 7296 but not implemented by keyline (treated as unknown). */
  CP: 47,
  /** EAP: defined by RFC 7296 but not implemented by keyline (treated as unknown). */
  EAP: 48,
  SKF: 53,
} as const;

/** Security Protocol Identifiers (RFC 7296 §3.3.1). */
export const PROTO = {
  IKE: 1,
  AH: 2,
  ESP: 3,
} as const;

/** Transform Types (RFC 7296 §3.3.2). Type 4 is "Key Exchange Method" since RFC 9370. */
export const TRANSFORM = {
  ENCR: 1,
  PRF: 2,
  INTEG: 3,
  KE: 4,
  ESN: 5,
} as const;

/** Transform Attribute Types (RFC 7296 §3.3.5). */
export const ATTR = {
  /** Always TV format (AF bit set). */
  KEY_LENGTH: 14,
} as const;

/** Identification Types (RFC 7296 §3.5). */
export const ID_TYPE = {
  ID_IPV4_ADDR: 1,
  ID_FQDN: 2,
  ID_RFC822_ADDR: 3,
  ID_IPV6_ADDR: 5,
  ID_DER_ASN1_DN: 9,
  ID_DER_ASN1_GN: 10,
  ID_KEY_ID: 11,
} as const;

/** Authentication Methods (RFC 7296 §3.8; 14 from RFC 7427). */
export const AUTH_METHOD = {
  RSA_DIGITAL_SIGNATURE: 1,
  PSK: 2,
  DSS_DIGITAL_SIGNATURE: 3,
  DIGITAL_SIGNATURE: 14,
} as const;

/**
 * Notify Message Types (RFC 7296 §3.10.1; MOBIKE RFC 4555, MULTIPLE_AUTH RFC 4739, childless
 * RFC 6023, fragmentation RFC 7383, signature hashes RFC 7427). 0..16383 are errors.
 */
export const NOTIFY = {
  UNSUPPORTED_CRITICAL_PAYLOAD: 1,
  INVALID_IKE_SPI: 4,
  INVALID_MAJOR_VERSION: 5,
  INVALID_SYNTAX: 7,
  INVALID_MESSAGE_ID: 9,
  INVALID_SPI: 11,
  NO_PROPOSAL_CHOSEN: 14,
  INVALID_KE_PAYLOAD: 17,
  AUTHENTICATION_FAILED: 24,
  SINGLE_PAIR_REQUIRED: 34,
  NO_ADDITIONAL_SAS: 35,
  INTERNAL_ADDRESS_FAILURE: 36,
  FAILED_CP_REQUIRED: 37,
  TS_UNACCEPTABLE: 38,
  INVALID_SELECTORS: 39,
  TEMPORARY_FAILURE: 43,
  CHILD_SA_NOT_FOUND: 44,
  INITIAL_CONTACT: 16384,
  SET_WINDOW_SIZE: 16385,
  ADDITIONAL_TS_POSSIBLE: 16386,
  IPCOMP_SUPPORTED: 16387,
  NAT_DETECTION_SOURCE_IP: 16388,
  NAT_DETECTION_DESTINATION_IP: 16389,
  COOKIE: 16390,
  USE_TRANSPORT_MODE: 16391,
  HTTP_CERT_LOOKUP_SUPPORTED: 16392,
  REKEY_SA: 16393,
  ESP_TFC_PADDING_NOT_SUPPORTED: 16394,
  NON_FIRST_FRAGMENTS_ALSO: 16395,
  MOBIKE_SUPPORTED: 16396,
  MULTIPLE_AUTH_SUPPORTED: 16404,
  CHILDLESS_IKEV2_SUPPORTED: 16418,
  IKEV2_FRAGMENTATION_SUPPORTED: 16430,
  SIGNATURE_HASH_ALGORITHMS: 16431,
  /** keyline's inline keying (src/inline/README.md §7.1), from the private-use range (§3.10.1). */
  INLINE_KEYING_SUPPORTED: 60236,
} as const;

/** Data of INLINE_KEYING_SUPPORTED: the inline keying version. */
export const INLINE_KEYING_VERSION = 1;

/** Notify types below this are errors (RFC 7296 §3.10.1). */
export const NOTIFY_STATUS_MIN = 16384;

/** The IKE port (RFC 7296 §2); NAT-T moves to 4500 (RFC 3948), where a non-ESP marker precedes IKE. */
export const IKE_PORT = 500;
export const NAT_T_PORT = 4500;

/** Traffic Selector Types (RFC 7296 §3.13.1). */
export const TS_TYPE = {
  TS_IPV4_ADDR_RANGE: 7,
  TS_IPV6_ADDR_RANGE: 8,
} as const;

/** Fixed sizes and the caps of the IKE codecs (STYLE.md §11: every growing thing has a cap). */
export const IKE = {
  /** The fixed IKE header (RFC 7296 §3.1). */
  headerLen: 28,
  /** The generic payload header (RFC 7296 §3.2). */
  genericLen: 4,
  /** The only major version keyline speaks. */
  majorVersion: 2,
  /**
   * Most payloads one message (or one decrypted SK chain) may carry. A full IKE_AUTH with
   * certificates and a dozen notifies stays under 30; a 4-byte empty payload is the smallest, so
   * without a cap a 64 KiB datagram could make us allocate 16k payload records.
   */
  maxPayloads: 64,
  /** Nonce data length bounds (RFC 7296 §3.9). */
  nonceMin: 16,
  nonceMax: 256,
} as const;
