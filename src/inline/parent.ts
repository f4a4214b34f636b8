import type { Aead, Backend, CipherSuite, Prf } from '../crypto/types.js';
import { suiteInfo } from '../crypto/suites.js';
import { ReplayWindow } from '../esp/replay.js';
import type { RecvState } from '../esp/esp.js';
import type { Endpoint, Selector } from '../sa/types.js';
import { INLINE_LIMITS } from '../limits.js';
import { carrierKey, carrierSpi, epochSecret, headerKey } from './keys.js';
import { SCOPE, type ScopeName } from './header.js';
import { ExpiringSet } from './tables.js';

/**
 * A parent (README.md §1): the secret new SAs derive from, and what they are made like. IKE
 * parents get their secret from the engine on every IKE SA (re)key; static parents derive one
 * per day from a long-lived root.
 */
export interface ParentSpec {
  /** The connection's policy reqid: outbound packets of its policies may spawn flows. */
  readonly reqid: number;
  readonly peer: string;
  readonly scope: ScopeName;
  /** Suite of new SAs (an AEAD). */
  readonly suite: CipherSuite;
  /** Seconds. */
  readonly lifetime: number;
  readonly idle: number;
  readonly maxSpawn: number;
  /** The carrier's traffic selectors (our view): flows must fall inside one. */
  readonly selectors: readonly Selector[];
  readonly replayWindow: number;
  readonly pathMtu: number;
  readonly static?: StaticSpec;
}

export interface StaticSpec {
  /** How S0 came about (the key file's keying), for `keyline show`. */
  readonly keying: 'psk-static' | 'x25519-static';
  /** S0 of README.md §7.2/§7.3. */
  readonly root: Uint8Array;
  readonly local: Endpoint;
  readonly remote: Endpoint;
  /** Seconds of clock difference accepted. */
  readonly skew: number;
}

/** One parent secret with what is counted against it. */
export interface Secret {
  readonly s: Uint8Array;
  readonly kHdr: Uint8Array;
  spawned: number;
  /** N1s seen under this secret (README.md §6.2): ours (reflection check) and the peer's. */
  readonly nonces: Map<string, 'own' | 'peer'>;
  /** Static parents: the day this secret is for, and its carrier. */
  readonly day?: number;
  readonly carrier?: { readonly aead: Aead; readonly recv: RecvState };
}

/** What inline keying did, per connection (Parent.counters) and in all (InlineEngine.counters). */
export interface InlineCounters {
  spawned: number;
  answered: number;
  acknowledged: number;
  expired: number;
  idled: number;
  evicted: number;
  refused: number;
  retired: number;
  collisions: number;
}

export const zeroCounters = (): InlineCounters => ({ spawned: 0, answered: 0, acknowledged: 0, expired: 0, idled: 0, evicted: 0, refused: 0, retired: 0, collisions: 0 });

export interface Parent {
  readonly spec: ParentSpec;
  readonly counters: InlineCounters;
  readonly prf: Prf;
  readonly scope: number;
  /** Suite of new SAs: the configured one, or (IKE) the carrier child's. */
  suite: CipherSuite;
  /** IKE: current first, then the previous one while it lingers. Static: by day. */
  secrets: Secret[];
  /** Static: the carrier SPI (both ways), the peer's last authenticated address, replay cache, start. */
  readonly carrierSpi?: number;
  remote?: Endpoint;
  readonly ivs?: ExpiringSet;
  readonly startSec?: number;
  spawnCapLogged?: boolean;
}

export function newSecret(prf: Prf, s: Uint8Array): Secret {
  return { s, kHdr: headerKey(prf, s), spawned: 0, nonces: new Map() };
}

export function makeParent(spec: ParentSpec, backend: Backend, nowSec: number): Parent {
  const prf = backend.prf('sha256');
  const st = spec.static;
  return {
    spec,
    prf,
    scope: SCOPE[spec.scope],
    suite: spec.suite,
    secrets: [],
    counters: zeroCounters(),
    ...(st && {
      carrierSpi: carrierSpi(prf, st.root),
      remote: st.remote,
      ivs: new ExpiringSet(INLINE_LIMITS.replayCacheMax),
      startSec: nowSec,
    }),
  };
}

export const dayOf = (sec: number): number => Math.floor(sec / 86_400);

/** Static parents: the secret (and carrier) of a day, derived once and kept for three days. */
export function staticSecret(p: Parent, backend: Backend, day: number): Secret {
  const found = p.secrets.find((x) => x.day === day);
  if (found) return found;
  const s = epochSecret(p.prf, p.spec.static!.root, day);
  const aead = backend.aead(p.suite, carrierKey(p.prf, s, p.suite));
  const secret: Secret = { ...newSecret(p.prf, s), day, carrier: { aead, recv: { aead, esn: false, replay: new ReplayWindow(0) } } };
  p.secrets = [secret, ...p.secrets].sort((a, b) => b.day! - a.day!).slice(0, INLINE_LIMITS.staticDays);
  return secret;
}

/** The IKEv2 transform numbers of a suite, as the header carries them. */
export function suiteIds(suite: CipherSuite): { encrId: number; keyBits: number } {
  const i = suiteInfo(suite);
  return { encrId: i.encrId, keyBits: suite === 'chacha20poly1305' ? 0 : i.keyBits };
}
