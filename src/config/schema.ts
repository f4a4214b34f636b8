import type { LocalConfig, PeerConfig } from './types.js';
import { BACKENDS, DRIVERS, KEYINGS, LOG_LEVELS, MODES } from './types.js';
import type { ValueType } from './values.js';
import { bool, cipherSuite, duration, integer, listOf, oneOf, size, spi, word } from './values.js';
import { endpoint, identity, interfaceAddress, network, orAny } from './net.js';
import { secret } from './secret.js';

/**
 * The key tables. A row names the key as written in the file, its value type, whether it is
 * required, and its default (fixed, or derived from the entry and a context). Adding a key is
 * adding a field to the config type and a row here: the mapped type below makes the compiler
 * insist on both. Row order is the order `keyline check` prints keys in. Whether a value is
 * masked comes from its type (`secret`), so a key of a secret type can never print its bytes.
 */
export interface Row<T, C, X> {
  readonly key: string;
  readonly type: ValueType<T>;
  readonly required?: boolean;
  readonly default?: T;
  /** A default computed after the entry's explicit keys are parsed (e.g. a peer inherits from local). */
  readonly derive?: (entry: Partial<C>, ctx: X) => T;
  /** One line for the README and `keyline check --help`. */
  readonly doc: string;
}

export type Schema<C, X = undefined> = { readonly [F in keyof C]-?: Row<NonNullable<C[F]>, C, X> };

/** A peer's keys: everything but the name, which is the directive's argument. */
export type PeerKeys = Omit<PeerConfig, 'name'>;

const DAY = 86400;

export const LOCAL_SCHEMA: Schema<LocalConfig> = {
  id: { key: 'id', type: identity, doc: 'IKE identity: fqdn:NAME, ipv4:ADDR, ipv6:ADDR, keyid:HEX or user-fqdn:USER@NAME' },
  listen: {
    key: 'listen',
    type: listOf(endpoint, 8),
    default: [{ addr: '0.0.0.0', port: 4500 }],
    doc: 'UDP endpoints for IKE and ESP-in-UDP, comma-separated',
  },
  driver: { key: 'driver', type: oneOf(DRIVERS), default: 'userspace', doc: 'ESP data plane: userspace, memory or xfrm' },
  tun: {
    key: 'tun',
    type: word(/^[A-Za-z0-9_-]{1,15}$/, 'an interface name of 1..15 letters, digits, _ or -'),
    default: 'kl0',
    doc: 'TUN interface name',
  },
  tunAddr: { key: 'tun-addr', type: interfaceAddress, doc: 'address/length of the TUN interface (host bits allowed)' },
  mtu: { key: 'mtu', type: integer(576, 9000), default: 1400, doc: 'TUN interface MTU' },
  logLevel: { key: 'log-level', type: oneOf(LOG_LEVELS), default: 'info', doc: 'error, warn, info or debug' },
  backend: {
    key: 'backend',
    type: oneOf(BACKENDS),
    default: 'auto',
    doc: 'crypto backend: node, noble or auto (node where it supports the suite)',
  },
  replayWindow: { key: 'replay-window', type: integer(0, 4096), default: 64, doc: 'default anti-replay window for peers (0 turns it off)' },
};

export const PEER_SCHEMA: Schema<PeerKeys, LocalConfig> = {
  addr: { key: 'addr', type: orAny(endpoint), required: true, doc: "the peer's ADDRESS[:PORT] (port 4500 by default), or any" },
  keying: { key: 'keying', type: oneOf(KEYINGS), default: 'ike', doc: 'manual, ike, psk-static or x25519-static' },
  esp: { key: 'esp', type: cipherSuite, doc: 'ESP suite: aes128gcm16, aes256gcm16, chacha20poly1305, aes128-sha256, aes256-sha256' },
  mode: { key: 'mode', type: oneOf(MODES), default: 'tunnel', doc: 'tunnel or transport' },
  localNet: { key: 'local-net', type: listOf(network), doc: 'local side of the protected traffic (required in tunnel mode)' },
  remoteNet: { key: 'remote-net', type: listOf(network), doc: 'remote side of the protected traffic (required in tunnel mode)' },
  spiIn: { key: 'spi-in', type: spi, doc: 'manual keying: SPI of the inbound SA' },
  spiOut: { key: 'spi-out', type: spi, doc: 'manual keying: SPI of the outbound SA' },
  keyIn: { key: 'key-in', type: secret, doc: 'manual keying: inbound key (hex:, base64: or file:)' },
  keyOut: { key: 'key-out', type: secret, doc: 'manual keying: outbound key (hex:, base64: or file:)' },
  esn: { key: 'esn', type: bool, default: true, doc: 'extended (64-bit) sequence numbers' },
  replayWindow: {
    key: 'replay-window',
    type: integer(0, 4096),
    // RFC 4303 §3.3.3: with manual keys the sender's counter cannot be reset, so anti-replay is
    // off unless asked for: a restarted peer starts again at 1, and a window would drop it all.
    derive: (peer, local) => (peer.keying === 'manual' ? 0 : local.replayWindow),
    doc: "anti-replay window in packets (default: local's replay-window; 0 for keying=manual)",
  },
  lifetime: { key: 'lifetime', type: duration(10, 30 * DAY), doc: 'hard SA lifetime, e.g. 1h or 2h30m' },
  lifeBytes: { key: 'life-bytes', type: size(1, 2 ** 50), doc: 'hard SA byte limit, e.g. 500M or 1G' },
  lifePackets: { key: 'life-packets', type: integer(1, Number.MAX_SAFE_INTEGER), doc: 'hard SA packet limit' },
};
