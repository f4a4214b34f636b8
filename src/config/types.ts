import type { StartAction } from '../ike/peer.js';
import type { EspProposal, IkeProposal } from '../ike/proposals.js';
import type { Endpoint, Mode, Prefix } from '../sa/types.js';

/**
 * The typed result of parsing a key file. Field names are the camelCase of the file's keys
 * (`local-net` -> localNet). Optional fields are absent when the file does not set them and the
 * key has no default; every other field holds its effective value, defaults applied.
 */

export const DRIVERS = ['userspace', 'memory', 'xfrm'] as const;
export const LOG_LEVELS = ['error', 'warn', 'info', 'debug'] as const;
export const BACKENDS = ['node', 'noble', 'auto'] as const;
export const KEYINGS = ['manual', 'ike', 'psk-static', 'x25519-static'] as const;
export const MODES = ['tunnel', 'transport'] as const satisfies readonly Mode[];
export const INLINE_SCOPES = ['host', 'host-pair', 'proto', 'port'] as const;
export type InlineScope = (typeof INLINE_SCOPES)[number];
export const ID_TYPES = ['fqdn', 'ipv4', 'ipv6', 'keyid', 'user-fqdn'] as const;

export type DriverName = (typeof DRIVERS)[number];
export type LogLevel = (typeof LOG_LEVELS)[number];
export type BackendChoice = (typeof BACKENDS)[number];
export type Keying = (typeof KEYINGS)[number];
export type IdType = (typeof ID_TYPES)[number];

/** An IKE identity as written: `fqdn:gw-a.example`; `value` is the part after the type. */
export interface Identity {
  readonly type: IdType;
  readonly value: string;
}

export interface LocalConfig {
  readonly id?: Identity;
  readonly listen: readonly Endpoint[];
  readonly driver: DriverName;
  readonly tun: string;
  /** The TUN interface's own address: host bits are kept (198.51.100.1/24). */
  readonly tunAddr?: Prefix;
  readonly mtu: number;
  readonly logLevel: LogLevel;
  readonly backend: BackendChoice;
  /** Default anti-replay window for peers that do not set their own. */
  readonly replayWindow: number;
  /** keying=x25519-static: this router's private key. */
  readonly privkey?: Uint8Array;
  /** Inline keying (src/inline/README.md §6.4, §7.2, §8, §9). */
  readonly inlineMaxFlows: number;
  readonly inlineMsl: number;
  readonly inlineK1: number;
  readonly inlineK2: number;
  readonly inlineSkew: number;
  readonly pathMtu: number;
}

export interface PeerConfig {
  readonly name: string;
  readonly addr: Endpoint | 'any';
  readonly keying: Keying;
  /** keying=ike: the identity the peer must prove (default: its address, when it has one). */
  readonly id?: Identity;
  /** keying=ike: this side's identity towards this peer, instead of the local entry's id. */
  readonly localId?: Identity;
  /** keying=ike: the pre-shared key, at least 16 bytes. */
  readonly psk?: Uint8Array;
  /** keying=ike: IKE SA proposals in order of preference. */
  readonly ike?: readonly IkeProposal[];
  /** ESP proposals in order of preference; keying=manual takes exactly one, without a group. */
  readonly esp?: readonly EspProposal[];
  readonly mode: Mode;
  readonly localNet?: readonly Prefix[];
  readonly remoteNet?: readonly Prefix[];
  readonly spiIn?: number;
  readonly spiOut?: number;
  /** Manual keys per direction: enc key (+ salt) for AEADs, enc || integ for CBC suites. */
  readonly keyIn?: Uint8Array;
  readonly keyOut?: Uint8Array;
  /** keying=manual only: IKE negotiates ESN per proposal (`-esn` in esp=). */
  readonly esn?: boolean;
  readonly replayWindow: number;
  /** keying=ike: what happens at start-up. */
  readonly start?: StartAction;
  /** keying=ike: seconds of silence before a liveness check; 0 is off. */
  readonly dpd?: number;
  /** keying=ike: with dpd on, seconds of unanswered silence after dpd before the peer is taken for dead. */
  readonly dpdTimeout?: number;
  /** keying=ike: seconds before the first retransmission of a request (doubling after). */
  readonly retransmitTimeout?: number;
  /** keying=ike: retransmissions before the IKE SA is given up. */
  readonly retransmitTries?: number;
  /** Hard child SA lifetime in seconds (keying=ike: 1h by default; manual: none). */
  readonly lifetime?: number;
  /** keying=ike: IKE SA lifetime, seconds. */
  readonly ikeLifetime?: number;
  /** keying=ike: rekeying starts between this and twice this before a lifetime ends, seconds. */
  readonly rekeyMargin?: number;
  /** Hard limits (keying=manual); soft limits are derived from them where SAs are installed. */
  readonly lifeBytes?: number;
  readonly lifePackets?: number;
  /** keying=x25519-static: the peer's public key. */
  readonly pubkey?: Uint8Array;
  /** Inline keying: on by default for static keyings (their only way), off for keying=ike. */
  readonly inline?: boolean;
  /** The next four are set where inline is on. */
  readonly inlineScope?: InlineScope;
  readonly inlineLifetime?: number;
  readonly inlineIdle?: number;
  readonly inlineMaxSpawn?: number;
}

export interface Config {
  readonly local: LocalConfig;
  readonly peers: readonly PeerConfig[];
  /** The key file's name as given, for messages. */
  readonly file: string;
}

/** One thing wrong with a key file, located at the token that caused it. */
export interface Problem {
  readonly file: string;
  readonly line: number;
  readonly column: number;
  /** The offending token as shown to the user (secret material masked). */
  readonly token: string;
  readonly message: string;
}
