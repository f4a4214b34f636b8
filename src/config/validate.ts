import { SUITES } from '../crypto/suites.js';
import type { Problems } from './errors.js';
import { showValue } from './errors.js';
import type { Built } from './build.js';
import { showSecretValue } from './secret.js';
import type { Token } from './tokenize.js';
import type { Keying, PeerConfig } from './types.js';

/**
 * Checks across keys and entries, run after every entry parsed cleanly. Kept apart from the
 * tables so that "this build cannot do X yet" and "these keys go together" live in one place.
 */

/** Keying methods this build implements; the others parse, so files can be written ahead. */
export const IMPLEMENTED_KEYING: readonly Keying[] = ['manual'];

const MANUAL_KEYS = ['esp', 'spi-in', 'spi-out', 'key-in', 'key-out'] as const;

export interface BuiltPeer extends Built<PeerConfig> {
  /** The peer's name token, where problems about the entry as a whole are reported. */
  readonly head: Token;
}

export function validatePeers(peers: readonly BuiltPeer[], p: Problems): void {
  for (const peer of peers) {
    checkKeying(peer, p);
    if (peer.value.keying === 'manual') checkManual(peer, p);
    if (peer.value.mode === 'tunnel') checkTunnel(peer, p);
  }
  uniqueSpis(peers, 'spi-in', (c) => c.spiIn, p);
  uniqueSpis(peers, 'spi-out', (c) => c.spiOut, p);
}

function report(p: Problems, at: Token, shown: string, message: string): void {
  p.add(at.line, at.col, shown, message);
}

/** One problem naming every key of `keys` the peer lacks; true if it lacks any. */
function lacks(peer: BuiltPeer, keys: readonly string[], because: string, p: Problems): boolean {
  const missing = keys.filter((k) => !peer.at.has(k));
  if (missing.length === 0) return false;
  const list = missing.length === 1 ? missing[0]! : `${missing.slice(0, -1).join(', ')} and ${missing.at(-1)!}`;
  report(p, peer.head, peer.head.text, `peer ${peer.value.name} lacks ${list}, which ${because} needs`);
  return true;
}

function checkKeying(peer: BuiltPeer, p: Problems): void {
  const k = peer.value.keying;
  if (IMPLEMENTED_KEYING.includes(k)) return;
  const available = `available: ${IMPLEMENTED_KEYING.map((m) => `keying=${m}`).join(', ')}`;
  const at = peer.at.get('keying');
  if (at) report(p, at, k, `keying=${k} in peer ${peer.value.name} is not available in this build (${available})`);
  else {
    const msg = `peer ${peer.value.name} has no keying= and the default, keying=${k}, is not available in this build (${available})`;
    report(p, peer.head, peer.head.text, msg);
  }
}

function checkManual(peer: BuiltPeer, p: Problems): void {
  const c = peer.value;
  lacks(peer, MANUAL_KEYS, 'keying=manual', p);
  const addrAt = peer.at.get('addr');
  if (c.addr === 'any' && addrAt) {
    report(p, addrAt, 'any', `addr=any cannot be used with keying=manual in peer ${c.name}: manual SAs need the peer's ADDRESS[:PORT]`);
  }
  if (c.esp === undefined) return;
  const espAt = peer.at.get('esp');
  if (SUITES[c.esp].combined && espAt) {
    // RFC 8221 §5: counter-based nonces repeat when a manually keyed sender restarts at 1 under the same key.
    const why = 'AES-GCM and ChaCha20-Poly1305 need a nonce that never repeats under one key, and a restart would repeat it (RFC 8221 §5)';
    report(p, espAt, c.esp, `esp=${c.esp} cannot be used with keying=manual in peer ${c.name}: ${why}; use aes128-sha256 or aes256-sha256`);
  }
  checkKeyLength(peer, 'key-in', c.keyIn, p);
  checkKeyLength(peer, 'key-out', c.keyOut, p);
}

/** Manual keys are the raw SA key material, so the length follows from the suite. */
function checkKeyLength(peer: BuiltPeer, key: string, bytes: Uint8Array | undefined, p: Problems): void {
  const at = peer.at.get(key);
  const suite = peer.value.esp;
  if (!bytes || !at || !suite) return;
  const s = SUITES[suite];
  const need = s.encKeyLen + s.integKeyLen;
  if (bytes.length === need) return;
  const parts = s.combined
    ? `${s.encKeyLen - 4}-byte key + 4-byte salt`
    : `${s.encKeyLen}-byte AES key + ${s.integKeyLen}-byte HMAC-SHA-256 key`;
  const shown = showSecretValue(at.text);
  report(p, at, shown, `${key} of peer ${peer.value.name} is ${bytes.length} bytes; ${suite} needs ${need} (${parts})`);
}

function checkTunnel(peer: BuiltPeer, p: Problems): void {
  const c = peer.value;
  if (lacks(peer, ['local-net', 'remote-net'], 'mode=tunnel', p) || !c.localNet || !c.remoteNet) return;
  const fams = (l: readonly { addr: Uint8Array }[]) => new Set(l.map((x) => (x.addr.length === 4 ? 4 : 6)));
  const [lf, rf] = [fams(c.localNet), fams(c.remoteNet)];
  const sides = [['local-net', 'remote-net', lf, rf], ['remote-net', 'local-net', rf, lf]] as const;
  for (const [has, lacks, mine, theirs] of sides) {
    const at = peer.at.get(has)!;
    for (const fam of mine) {
      if (theirs.has(fam)) continue;
      report(p, at, showValue(at.text), `${has} of peer ${c.name} has IPv${fam} prefixes but ${lacks} has none, so they can never match`);
    }
  }
}

/** SAs are looked up by SPI per direction, so two peers with one SPI would collide in the SAD. */
function uniqueSpis(peers: readonly BuiltPeer[], key: string, get: (c: PeerConfig) => number | undefined, p: Problems): void {
  const owner = new Map<number, string>();
  for (const peer of peers) {
    const spi = get(peer.value);
    const at = peer.at.get(key);
    if (spi === undefined || !at) continue;
    const prev = owner.get(spi);
    if (prev === undefined) owner.set(spi, peer.value.name);
    else {
      const msg = `${key} ${at.text} of peer ${peer.value.name} is already used by peer ${prev} (SPIs must be unique per direction)`;
      report(p, at, at.text, msg);
    }
  }
}
