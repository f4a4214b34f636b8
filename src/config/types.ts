import type { CipherSuite } from '../crypto/types.js';
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
}

export interface PeerConfig {
  readonly name: string;
  readonly addr: Endpoint | 'any';
  readonly keying: Keying;
  readonly esp?: CipherSuite;
  readonly mode: Mode;
  readonly localNet?: readonly Prefix[];
  readonly remoteNet?: readonly Prefix[];
  readonly spiIn?: number;
  readonly spiOut?: number;
  /** Manual keys per direction: enc key (+ salt) for AEADs, enc || integ for CBC suites. */
  readonly keyIn?: Uint8Array;
  readonly keyOut?: Uint8Array;
  readonly esn: boolean;
  readonly replayWindow: number;
  /** Hard limits; soft limits are derived from them where SAs are installed. */
  readonly lifetime?: number;
  readonly lifeBytes?: number;
  readonly lifePackets?: number;
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
