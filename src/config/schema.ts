import { START_ACTIONS } from '../ike/peer.js';
import { parseEspProposals, parseIkeProposals } from '../ike/proposals.js';
import type { Identity, LocalConfig, PeerConfig } from './types.js';
import { BACKENDS, DRIVERS, INLINE_SCOPES, KEYINGS, LOG_LEVELS, MODES } from './types.js';
import { INLINE_DEFAULTS } from '../limits.js';
import type { ValueType } from './values.js';
import { ValueError } from './errors.js';
import { bool, duration, durationOrOff, integer, listOf, oneOf, size, spi, word } from './values.js';
import { DEFAULT_PORT, IKE_PORT, endpoint, identity, interfaceAddress, network, orAny } from './net.js';
import { espProposals, ikeProposals } from './proposals.js';
import { secret, x25519Key } from './secret.js';

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
  /**
   * A default computed after the entry's explicit keys are parsed (e.g. a peer inherits from
   * local, or a keying=ike default); undefined leaves the key unset.
   */
  readonly derive?: (entry: Partial<C>, ctx: X) => T | undefined;
  /** One line for the README and `keyline check --help`. */
  readonly doc: string;
}

export type Schema<C, X = undefined> = { readonly [F in keyof C]-?: Row<NonNullable<C[F]>, C, X> };

/** A peer's keys: everything but the name, which is the directive's argument. */
export type PeerKeys = Omit<PeerConfig, 'name'>;

/** A fraction 0..1 as a/b or a decimal. */
const fraction: ValueType<number> = {
  parse: (text) => {
    const m = /^(\d+)\/(\d+)$/.exec(text);
    const v = m ? Number(m[1]) / Number(m[2]) : /^\d*\.?\d+$/.test(text) ? Number(text) : NaN;
    if (!(v >= 0 && v <= 1)) throw new ValueError('expected a fraction 0..1, e.g. 1/32 or 0.05');
    return v;
  },
  // Decimal without exponent (String(3e-7) would not parse back).
  format: (v) => (v > 0 && Number.isInteger(1 / v) ? `1/${1 / v}` : v.toFixed(20).replace(/\.?0+$/, '')),
};

const MINUTE = 60;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

/** keying=ike defaults: AEADs with Curve25519 first, then a CBC suite with MODP-2048 for old peers. */
export const DEFAULT_IKE = 'aes256gcm16-prfsha256-x25519,chacha20poly1305-prfsha256-x25519,aes128-sha256-modp2048';
export const DEFAULT_ESP = 'aes256gcm16,chacha20poly1305,aes128-sha256';
const IKE_DEFAULTS = /* @__PURE__ */ parseIkeProposals(DEFAULT_IKE);
const ESP_DEFAULTS = /* @__PURE__ */ parseEspProposals(DEFAULT_ESP);
/** Static keyings: the suite of the carrier and of spawned SAs (an AEAD, README of src/inline §3). */
const STATIC_ESP = /* @__PURE__ */ parseEspProposals('aes256gcm16');

/** keying=ike defaults for the SA lifetimes, the rekey margin and dead peer detection, in seconds. */
export const IKE_TIMES = { lifetime: HOUR, ikeLifetime: 4 * HOUR, rekeyMargin: 9 * MINUTE, dpd: 30, dpdTimeout: 2 * MINUTE, retransmitTimeout: 2, retransmitTries: 5 } as const;

/** Inline keying's settings get their defaults only where inline keying is on. */
const withInline = <T>(value: T) => (peer: Partial<PeerKeys>): T | undefined => (peer.inline ? value : undefined);

/** Only keying=ike peers get IKE defaults; `value` is computed only for them. */
const forIke = <T>(value: (peer: Partial<PeerKeys>) => T) => (peer: Partial<PeerKeys>): T | undefined =>
  peer.keying === 'ike' ? value(peer) : undefined;

/** The identity a peer with a known address proves by default: that address. */
const addressIdentity = (addr: string): Identity => ({ type: addr.includes(':') ? 'ipv6' : 'ipv4', value: addr });

export const LOCAL_SCHEMA: Schema<LocalConfig> = {
  id: {
    key: 'id',
    type: identity,
    doc: 'IKE identity: fqdn:NAME, ipv4:ADDR, ipv6:ADDR, keyid:HEX or user-fqdn:USER@NAME (required for keying=ike peers without local-id)',
  },
  listen: {
    key: 'listen',
    type: listOf(endpoint, 8),
    default: [
      { addr: '0.0.0.0', port: IKE_PORT },
      { addr: '0.0.0.0', port: DEFAULT_PORT },
    ],
    doc: `UDP endpoints, comma-separated: port ${IKE_PORT} is plain IKE; any other port carries IKE after the RFC 3948 non-ESP marker, and ESP-in-UDP`,
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
  privkey: { key: 'privkey', type: x25519Key(true), doc: 'keying=x25519-static: this router\'s private key as `keyline genkey` prints it (or file:PATH)' },
  inlineMaxFlows: {
    key: 'inline-max-flows',
    type: integer(16, 1_000_000),
    default: INLINE_DEFAULTS.maxFlows,
    doc: 'inline keying: flows (SA pairs) kept at most; past it the least recently used idle flow goes, or the new one is refused',
  },
  inlineMsl: { key: 'inline-msl', type: duration(1, 3600), default: INLINE_DEFAULTS.mslSeconds, doc: 'inline keying: MSL of the grace period K1·MSL + K2·lifetime (default 2m)' },
  inlineK1: { key: 'inline-k1', type: integer(0, 16), default: INLINE_DEFAULTS.k1, doc: 'inline keying: K1 of the grace period (default 2)' },
  inlineK2: { key: 'inline-k2', type: fraction, default: INLINE_DEFAULTS.k2, doc: 'inline keying: K2 of the grace period, e.g. 1/32 (the default) or 0.05' },
  inlineSkew: {
    key: 'inline-skew',
    type: duration(10, 3600),
    default: INLINE_DEFAULTS.skewSeconds,
    doc: 'static inline keying: clock difference accepted between the two routers (default 2m; run NTP)',
  },
  pathMtu: {
    key: 'path-mtu',
    type: integer(576, 9000),
    default: INLINE_DEFAULTS.pathMtu,
    doc: 'outer path MTU: a first packet that would not fit with an inline header sends the header alone first',
  },
};

export const PEER_SCHEMA: Schema<PeerKeys, LocalConfig> = {
  addr: {
    key: 'addr',
    type: orAny(endpoint),
    required: true,
    doc: `the peer's ADDRESS[:PORT] (port ${DEFAULT_PORT} by default; :${IKE_PORT} starts IKE on the plain IKE port), or any (keying=ike: wait for the peer)`,
  },
  keying: { key: 'keying', type: oneOf(KEYINGS), default: 'ike', doc: 'manual, ike, psk-static or x25519-static' },
  id: {
    key: 'id',
    type: identity,
    derive: forIke((peer) => (peer.addr && peer.addr !== 'any' ? addressIdentity(peer.addr.addr) : undefined)),
    doc: 'keying=ike: the identity the peer must prove, TYPE:VALUE as for the local id (default: ipv4:/ipv6: of addr; required with addr=any)',
  },
  localId: { key: 'local-id', type: identity, doc: "keying=ike: this side's identity towards this peer (default: the local entry's id)" },
  psk: { key: 'psk', type: secret, doc: 'keying=ike: pre-shared key of at least 16 bytes (hex:, base64: or file:; keyline genpsk makes one)' },
  ike: {
    key: 'ike',
    type: ikeProposals,
    derive: forIke(() => IKE_DEFAULTS),
    doc: `keying=ike: IKE SA proposals in strongSwan notation, best first (default ${DEFAULT_IKE})`,
  },
  esp: {
    key: 'esp',
    type: espProposals,
    derive: (peer) => (peer.keying === 'ike' ? ESP_DEFAULTS : peer.keying === 'psk-static' || peer.keying === 'x25519-static' ? STATIC_ESP : undefined),
    doc:
      `ESP proposals in strongSwan notation, best first: -esn asks for ESN, a group (-x25519) for PFS (keying=ike default ${DEFAULT_ESP}); ` +
      'keying=manual: exactly one, aes128-sha256 or aes256-sha256',
  },
  mode: { key: 'mode', type: oneOf(MODES), default: 'tunnel', doc: 'tunnel or transport' },
  localNet: { key: 'local-net', type: listOf(network), doc: 'local side of the protected traffic (required in tunnel mode and with keying=ike)' },
  remoteNet: { key: 'remote-net', type: listOf(network), doc: 'remote side of the protected traffic (required in tunnel mode and with keying=ike)' },
  spiIn: { key: 'spi-in', type: spi, doc: 'keying=manual: SPI of the inbound SA' },
  spiOut: { key: 'spi-out', type: spi, doc: 'keying=manual: SPI of the outbound SA' },
  keyIn: { key: 'key-in', type: secret, doc: 'keying=manual: inbound key (hex:, base64: or file:)' },
  keyOut: { key: 'key-out', type: secret, doc: 'keying=manual: outbound key (hex:, base64: or file:)' },
  esn: {
    key: 'esn',
    type: bool,
    derive: (peer) => (peer.keying === 'manual' ? true : undefined),
    doc: 'keying=manual: extended (64-bit) sequence numbers, on by default (keying=ike: -esn in esp=)',
  },
  replayWindow: {
    key: 'replay-window',
    type: integer(0, 4096),
    // RFC 4303 §3.3.3: with manual keys the sender's counter cannot be reset, so anti-replay is
    // off unless asked for: a restarted peer starts again at 1, and a window would drop it all.
    derive: (peer, local) => (peer.keying === 'manual' ? 0 : local.replayWindow),
    doc: "anti-replay window in packets (default: local's replay-window; 0 for keying=manual)",
  },
  start: {
    key: 'start',
    type: oneOf(START_ACTIONS),
    derive: forIke((peer) => (peer.addr === 'any' ? 'wait' : 'initiate')),
    doc: 'keying=ike: initiate (bring up at start and keep up), wait (respond only) or on-traffic (default: initiate; wait with addr=any)',
  },
  dpd: {
    key: 'dpd',
    type: durationOrOff(DAY),
    derive: forIke(() => IKE_TIMES.dpd),
    doc: 'keying=ike: silence before a liveness check (dead peer detection); 0 or off turns it off (default 30s)',
  },
  dpdTimeout: {
    key: 'dpd-timeout',
    type: duration(2, DAY),
    derive: forIke(() => IKE_TIMES.dpdTimeout),
    doc: 'keying=ike, with dpd on: a peer that answered nothing for dpd + this is taken for dead, its SAs removed and, with start=initiate, set up again (default 2m)',
  },
  retransmitTimeout: {
    key: 'retransmit-timeout',
    type: duration(1, 60),
    derive: forIke(() => IKE_TIMES.retransmitTimeout),
    doc: 'keying=ike: an unanswered request is sent again after this, then after twice the wait before each time, each wait at most 64s (default 2s)',
  },
  retransmitTries: {
    key: 'retransmit-tries',
    type: integer(0, 10),
    derive: forIke(() => IKE_TIMES.retransmitTries),
    doc: 'keying=ike: retransmissions of a request before the IKE SA is given up and, with start=initiate, set up again (default 5: 126s with the default timeout)',
  },
  lifetime: {
    key: 'lifetime',
    type: duration(10, 30 * DAY),
    derive: forIke(() => IKE_TIMES.lifetime),
    doc: 'hard child SA lifetime, e.g. 1h or 2h30m (keying=ike: default 1h, rekeyed before; manual: none)',
  },
  ikeLifetime: {
    key: 'ike-lifetime',
    type: duration(10, 30 * DAY),
    derive: forIke(() => IKE_TIMES.ikeLifetime),
    doc: 'keying=ike: IKE SA lifetime, rekeyed before it ends (default 4h)',
  },
  rekeyMargin: {
    key: 'rekey-margin',
    type: duration(1, DAY),
    derive: forIke(() => IKE_TIMES.rekeyMargin),
    doc: 'keying=ike: rekeying starts between this and twice this before a lifetime ends; less than half the shorter lifetime (default 9m)',
  },
  pubkey: { key: 'pubkey', type: x25519Key(false), doc: "keying=x25519-static: the peer's public key as `keyline pubkey` prints it" },
  inline: {
    key: 'inline',
    type: bool,
    derive: (peer) => (peer.keying === 'manual' ? undefined : peer.keying === 'psk-static' || peer.keying === 'x25519-static'),
    doc: 'inline keying (new SAs riding on first packets): keying=ike offers it in IKE_AUTH (default off); static keyings always use it',
  },
  inlineScope: {
    key: 'inline-scope',
    type: oneOf(INLINE_SCOPES),
    derive: withInline('host-pair'),
    doc: 'inline keying: one SA pair per host, host-pair (the default), proto (addresses and protocol) or port (addresses, protocol, ports)',
  },
  inlineLifetime: { key: 'inline-lifetime', type: duration(10, DAY), derive: withInline(INLINE_DEFAULTS.lifetime), doc: 'inline keying: lifetime of a spawned SA pair (default 10m)' },
  inlineIdle: { key: 'inline-idle', type: duration(5, DAY), derive: withInline(INLINE_DEFAULTS.idle), doc: 'inline keying: a flow idle this long is removed (default 2m)' },
  inlineMaxSpawn: {
    key: 'inline-max-spawn',
    type: integer(1, 10_000_000),
    derive: withInline(INLINE_DEFAULTS.maxSpawn),
    doc: 'inline keying: SA pairs spawned from one parent secret; then keying=ike rekeys the IKE SA, static keyings wait for the next day',
  },
  lifeBytes: { key: 'life-bytes', type: size(1, 2 ** 50), doc: 'keying=manual: hard SA byte limit, e.g. 500M or 1G' },
  lifePackets: { key: 'life-packets', type: integer(1, Number.MAX_SAFE_INTEGER), doc: 'keying=manual: hard SA packet limit' },
};
