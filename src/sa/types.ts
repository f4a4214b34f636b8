import type { CipherSuite } from '../crypto/types.js';

/** An address prefix: 4-byte (IPv4) or 16-byte (IPv6) address and a length in bits. */
export interface Prefix {
  readonly addr: Uint8Array;
  readonly len: number;
}

/**
 * A traffic selector as the SPD and IKEv2 TS payloads see it: local and remote prefixes, an IP
 * protocol (0 = any) and inclusive port ranges (0..65535 = any).
 */
export interface Selector {
  readonly local: Prefix;
  readonly remote: Prefix;
  readonly proto: number;
  readonly localPorts: readonly [number, number];
  readonly remotePorts: readonly [number, number];
}

/** A UDP endpoint: textual address (v4 dotted or v6) and port. */
export interface Endpoint {
  readonly addr: string;
  readonly port: number;
}

/** Soft or hard limits; absent fields mean no limit of that kind. */
export interface Limits {
  readonly seconds?: number;
  readonly bytes?: number;
  readonly packets?: number;
}

export type Mode = 'tunnel' | 'transport';
export type Direction = 'in' | 'out';

/**
 * Everything a driver needs to install one ESP SA. `reqid` ties SAs to their policy (as in
 * XFRM): outbound traffic matching a policy goes out on the newest outbound SA with the policy's
 * reqid, which is how make-before-break rekeying needs no policy change.
 */
export interface SaSpec {
  readonly spi: number;
  readonly dir: Direction;
  readonly reqid: number;
  readonly suite: CipherSuite;
  /** Encryption key, with the 4-byte salt at the end for combined-mode suites. */
  readonly encKey: Uint8Array;
  /** Integrity key for CBC suites. */
  readonly integKey?: Uint8Array;
  readonly mode: Mode;
  readonly esn: boolean;
  /** Anti-replay window in packets (inbound); 0 turns replay checks off. */
  readonly replayWindow: number;
  /** Outer endpoints: where ESP-in-UDP goes to (out) or comes from (in). */
  readonly local: Endpoint;
  readonly remote: Endpoint;
  /** Inner traffic this SA may carry; inbound packets outside it are dropped (RFC 4301 §5.2). */
  readonly selectors: readonly Selector[];
  readonly soft: Limits;
  readonly hard: Limits;
  /** For logs and status: the peer (connection) name. */
  readonly peer: string;
}

export type PolicyAction = 'protect' | 'bypass' | 'discard';

export interface Policy {
  readonly id: number;
  readonly selector: Selector;
  readonly action: PolicyAction;
  /** For 'protect': the reqid of the outbound SAs that carry matching traffic. */
  readonly reqid: number;
  /** Lower wins among overlapping policies; ties go to the more specific selector. */
  readonly priority: number;
  readonly peer: string;
}

export interface SaCounters {
  packets: number;
  bytes: number;
  /** Inbound only: drops attributed to this SA, by reason. */
  drops: Record<string, number>;
}
