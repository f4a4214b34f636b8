import { LOCAL_SCHEMA } from './schema.js';
import type { Config, LocalConfig, PeerConfig } from './types.js';

/**
 * What a reload changes: two parsed key files compared entry by entry. A peer is `unchanged` only
 * when every one of its parsed keys (defaults and inherited values included, secrets by content)
 * is equal, so an unchanged peer can keep its SAs; any difference makes it `changed`, to be
 * re-established. Names are the identity: a renamed peer is one removed and one added.
 */
export interface PeerDiff {
  readonly added: readonly string[];
  readonly removed: readonly string[];
  readonly changed: readonly string[];
  readonly unchanged: readonly string[];
}

/**
 * Local keys a running agent takes over on reload: `id` and `replay-window` through the peers
 * that inherit them (an IKE peer without local-id proves the new id, so it counts as changed),
 * `log-level` directly. Every other local key (listen, driver, tun, tun-addr, mtu, backend, and
 * any key added later until someone teaches reload about it) needs a restart.
 */
export const LIVE_LOCAL_KEYS: readonly string[] = ['id', 'log-level', 'replay-window'];

export interface ConfigDiff {
  readonly peers: PeerDiff;
  /** Local keys (as spelled in the file) whose effective value differs. */
  readonly local: readonly string[];
  /** The subset of `local` that only a restart can apply. */
  readonly restart: readonly string[];
}

/** Peers by name, in the order of the new file (removed ones in the order of the old). */
export function diffPeers(before: readonly PeerConfig[], after: readonly PeerConfig[], inherited?: { before?: LocalConfig; after?: LocalConfig }): PeerDiff {
  const old = new Map(before.map((p) => [p.name, p]));
  const now = new Set(after.map((p) => p.name));
  const added: string[] = [];
  const changed: string[] = [];
  const unchanged: string[] = [];
  for (const p of after) {
    const q = old.get(p.name);
    if (!q) added.push(p.name);
    else if (sameValue(effective(q, inherited?.before), effective(p, inherited?.after))) unchanged.push(p.name);
    else changed.push(p.name);
  }
  const removed = before.filter((p) => !now.has(p.name)).map((p) => p.name);
  return { added, removed, changed, unchanged };
}

/** Local keys whose value differs, in table order. */
export function diffLocal(before: LocalConfig, after: LocalConfig): string[] {
  const out: string[] = [];
  for (const f of Object.keys(LOCAL_SCHEMA) as (keyof LocalConfig)[]) {
    if (!sameValue(before[f], after[f])) out.push(LOCAL_SCHEMA[f].key);
  }
  return out;
}

export function diffConfigs(before: Config, after: Config): ConfigDiff {
  const local = diffLocal(before.local, after.local);
  return {
    peers: diffPeers(before.peers, after.peers, { before: before.local, after: after.local }),
    local,
    restart: local.filter((k) => !LIVE_LOCAL_KEYS.includes(k)),
  };
}

/**
 * A peer entry with what it takes from the local entry at plan time: an IKE peer without its
 * own local-id proves the local entry's id, so a new local id changes that peer. (The local
 * replay-window is already resolved into each peer's replayWindow by the parser.)
 */
function effective(p: PeerConfig, local: LocalConfig | undefined): unknown {
  if (p.keying !== 'ike' || p.localId !== undefined || !local) return p;
  return { ...p, localId: local.id };
}

/**
 * Structural equality over what the parser produces: primitives, arrays, byte arrays (compared
 * by content, SecretBytes included) and plain objects (same keys, undefined counting as absent).
 */
export function sameValue(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (a instanceof Uint8Array || b instanceof Uint8Array) {
    if (!(a instanceof Uint8Array && b instanceof Uint8Array) || a.length !== b.length) return false;
    let diff = 0;
    for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!;
    return diff === 0;
  }
  if (Array.isArray(a) || Array.isArray(b)) {
    if (!(Array.isArray(a) && Array.isArray(b)) || a.length !== b.length) return false;
    return a.every((x, i) => sameValue(x, b[i]));
  }
  const ra = a as Record<string, unknown>;
  const rb = b as Record<string, unknown>;
  const keys = new Set([...Object.keys(ra), ...Object.keys(rb)]);
  for (const k of keys) if (!sameValue(ra[k], rb[k])) return false;
  return true;
}
