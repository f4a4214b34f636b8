import { SUITES } from '../crypto/suites.js';
import type { Prefix } from '../sa/types.js';
import type { Problems } from './errors.js';
import { showValue } from './errors.js';
import type { Built } from './build.js';
import { formatEspProposal } from './proposals.js';
import { showSecretValue } from './secret.js';
import type { Token } from './tokenize.js';
import type { Keying, LocalConfig, PeerConfig } from './types.js';
import { fmtDuration } from './values.js';

/**
 * Checks across keys and entries, run after every entry parsed cleanly. Kept apart from the
 * tables so that "this build cannot do X yet" and "these keys go together" live in one place.
 */

/** Keying methods this build implements; the others parse, so files can be written ahead. */
export const IMPLEMENTED_KEYING: readonly Keying[] = ['manual', 'ike', 'psk-static', 'x25519-static'];

/**
 * A pre-shared key shorter than this is refused: anyone who captures one IKE_AUTH exchange can
 * test guesses offline, as fast as they can compute the AUTH payload (RFC 7296 §2.15).
 */
export const PSK_MIN = 16;

const MANUAL_KEYS = ['esp', 'spi-in', 'spi-out', 'key-in', 'key-out'] as const;

/** Keys that only one keying method uses, and why the other one has no use for them. */
const ONLY_FOR: ReadonlyMap<string, 'manual' | 'ike'> = new Map([
  ['spi-in', 'manual'],
  ['spi-out', 'manual'],
  ['key-in', 'manual'],
  ['key-out', 'manual'],
  ['life-bytes', 'manual'],
  ['life-packets', 'manual'],
  ['id', 'ike'],
  ['local-id', 'ike'],
  ['psk', 'ike'],
  ['ike', 'ike'],
  ['start', 'ike'],
  ['dpd', 'ike'],
  ['dpd-timeout', 'ike'],
  ['retransmit-timeout', 'ike'],
  ['retransmit-tries', 'ike'],
  ['ike-lifetime', 'ike'],
  ['rekey-margin', 'ike'],
]);

const NOT_FOR = {
  ike: (key: string) =>
    key.startsWith('life-')
      ? "this build's IKE replaces child SAs on time only: lifetime= and rekey-margin="
      : 'IKE negotiates SPIs and keys',
  manual: () => 'manually keyed SAs have no IKE: no authentication, identities, proposals, rekeying or liveness checks',
} as const;

export interface BuiltPeer extends Built<PeerConfig> {
  /** The peer's name token, where problems about the entry as a whole are reported. */
  readonly head: Token;
}

/** The local entry as the checks see it: its head token when the file has one, and whether it parsed. */
export interface BuiltLocal {
  readonly value: LocalConfig;
  readonly head?: Token;
  readonly ok: boolean;
}

export function validatePeers(peers: readonly BuiltPeer[], local: BuiltLocal, p: Problems): void {
  for (const peer of peers) {
    if (!checkKeying(peer, p)) continue;
    onlyFor(peer, p);
    if (peer.value.keying === 'manual') checkManual(peer, p);
    if (peer.value.keying === 'ike') checkIke(peer, p);
    if (peer.value.keying === 'psk-static' || peer.value.keying === 'x25519-static') checkStatic(peer, local, p);
    checkInline(peer, p);
    if (peer.value.mode === 'tunnel') checkNets(peer, 'mode=tunnel', p);
  }
  localId(peers, local, p);
  uniqueSpis(peers, 'spi-in', (c) => c.spiIn, p);
  uniqueSpis(peers, 'spi-out', (c) => c.spiOut, p);
}

function report(p: Problems, at: Token, shown: string, message: string): void {
  p.add(at.line, at.col, shown, message);
}

/** Where the key of an explicit `key=value` sits (the table records the value's position). */
function keyToken(peer: BuiltPeer, key: string): Token | undefined {
  const at = peer.at.get(key);
  return at && { text: key, line: at.line, col: at.col - key.length - 1 };
}

/** One problem naming every key of `keys` the peer lacks; true if it lacks any. */
function lacks(peer: BuiltPeer, keys: readonly string[], because: string, p: Problems): boolean {
  const missing = keys.filter((k) => !peer.at.has(k));
  if (missing.length === 0) return false;
  const list = missing.length === 1 ? missing[0]! : `${missing.slice(0, -1).join(', ')} and ${missing.at(-1)!}`;
  report(p, peer.head, peer.head.text, `peer ${peer.value.name} lacks ${list}, which ${because} needs`);
  return true;
}

/** False if the peer's keying method is not in this build (and nothing else is checked). */
function checkKeying(peer: BuiltPeer, p: Problems): boolean {
  const k = peer.value.keying;
  if (IMPLEMENTED_KEYING.includes(k)) return true;
  const available = `available: ${IMPLEMENTED_KEYING.map((m) => `keying=${m}`).join(', ')}`;
  const at = peer.at.get('keying');
  if (at) report(p, at, k, `keying=${k} in peer ${peer.value.name} is not available in this build (${available})`);
  else {
    const msg = `peer ${peer.value.name} has no keying= and the default, keying=${k}, is not available in this build (${available})`;
    report(p, peer.head, peer.head.text, msg);
  }
  return false;
}

/** Keys of the other keying method are mistakes (often a forgotten keying=manual), never ignored. */
function onlyFor(peer: BuiltPeer, p: Problems): void {
  const k = peer.value.keying;
  if (k !== 'manual' && k !== 'ike') return;
  const keying = peer.at.has('keying') ? `keying=${k}` : `keying=${k} (the default, as no keying= is given)`;
  for (const key of peer.at.keys()) {
    const at = keyToken(peer, key)!;
    if (key === 'esn' && k === 'ike') {
      const msg = `esn= applies to keying=manual only; with keying=ike in peer ${peer.value.name}, ESN is negotiated: add -esn to the esp= proposals instead (e.g. esp=aes256gcm16-esn)`;
      report(p, at, key, msg);
      continue;
    }
    if (key === 'pubkey') {
      report(p, at, key, `pubkey is for keying=x25519-static; peer ${peer.value.name} has ${keying}; remove it`);
      continue;
    }
    const owner = ONLY_FOR.get(key);
    if (owner === undefined || owner === k) continue;
    report(p, at, key, `${key} is not used with ${keying} in peer ${peer.value.name} (${NOT_FOR[k](key)}); remove it`);
  }
}

function checkManual(peer: BuiltPeer, p: Problems): void {
  const c = peer.value;
  lacks(peer, MANUAL_KEYS, 'keying=manual', p);
  const addrAt = peer.at.get('addr');
  if (c.addr === 'any' && addrAt) {
    report(p, addrAt, 'any', `addr=any cannot be used with keying=manual in peer ${c.name}: manual SAs need the peer's ADDRESS[:PORT]`);
  }
  const espAt = peer.at.get('esp');
  const first = c.esp?.[0];
  if (!espAt || !first) return;
  if (c.esp!.length > 1) {
    const second = { ...espAt, col: espAt.col + espAt.text.indexOf(',') + 1 };
    const msg = `keying=manual takes exactly one ESP suite, but esp= of peer ${c.name} lists ${c.esp!.length} proposals (manual keys leave nothing to negotiate)`;
    report(p, second, showValue(formatEspProposal(c.esp![1]!)), msg);
  }
  const shown = formatEspProposal(first);
  if (first.group !== undefined) {
    const msg = `esp=${shown} of peer ${c.name} asks for a key exchange (PFS), which keying=manual cannot do: its keys come from the file; write esp=${first.suite}`;
    report(p, espAt, shown, msg);
  }
  if (first.esn) {
    const msg = `esp=${shown} of peer ${c.name}: -esn is negotiated by keying=ike; with keying=manual write esp=${first.suite} and esn=on (the default)`;
    report(p, espAt, shown, msg);
  }
  if (SUITES[first.suite].combined) {
    // RFC 8221 §5: counter-based nonces repeat when a manually keyed sender restarts at 1 under the same key.
    const why = 'AES-GCM and ChaCha20-Poly1305 need a nonce that never repeats under one key, and a restart would repeat it (RFC 8221 §5)';
    report(p, espAt, first.suite, `esp=${first.suite} cannot be used with keying=manual in peer ${c.name}: ${why}; use aes128-sha256 or aes256-sha256`);
  }
  checkKeyLength(peer, 'key-in', c.keyIn, p);
  checkKeyLength(peer, 'key-out', c.keyOut, p);
}

/** Manual keys are the raw SA key material, so the length follows from the suite. */
function checkKeyLength(peer: BuiltPeer, key: string, bytes: Uint8Array | undefined, p: Problems): void {
  const at = peer.at.get(key);
  const suite = peer.value.esp?.[0]?.suite;
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

function checkIke(peer: BuiltPeer, p: Problems): void {
  const c = peer.value;
  lacks(peer, ['psk'], 'keying=ike', p);
  const pskAt = peer.at.get('psk');
  if (c.psk && pskAt && c.psk.length < PSK_MIN) {
    const why = 'a short PSK can be brute-forced offline from one captured IKE_AUTH exchange; `keyline genpsk` prints 32 random bytes';
    report(p, pskAt, showSecretValue(pskAt.text), `psk of peer ${c.name} is ${c.psk.length} bytes; at least ${PSK_MIN} are needed: ${why}`);
  }
  const addrAt = peer.at.get('addr');
  if (c.addr === 'any' && addrAt) {
    if (!peer.at.has('id')) {
      const msg = `peer ${c.name} has addr=any and no id=: a keying=ike peer that may come from any address must name the identity it proves (e.g. id=fqdn:gw-b.example)`;
      report(p, addrAt, 'any', msg);
    }
    const startAt = peer.at.get('start');
    if (startAt && c.start !== 'wait') {
      const msg = `start=${c.start} cannot be used with addr=any in peer ${c.name}: there is no address to send IKE_SA_INIT to; use start=wait or give addr=ADDRESS[:PORT]`;
      report(p, startAt, startAt.text, msg);
    }
  }
  if (c.mode === 'transport' && checkNets(peer, 'keying=ike', p)) {
    hostsOnly(peer, 'local-net', c.localNet!, p);
    hostsOnly(peer, 'remote-net', c.remoteNet!, p);
  }
  checkMargin(peer, p);
}

/** Keys a static keying has no use for: it has no IKE and no manual SAs. */
const NOT_STATIC = ['spi-in', 'spi-out', 'key-in', 'key-out', 'life-bytes', 'life-packets', 'id', 'local-id', 'ike', 'start', 'dpd', 'dpd-timeout', 'retransmit-timeout', 'retransmit-tries', 'ike-lifetime', 'rekey-margin', 'lifetime', 'esn'];

/** keying=psk-static and x25519-static: inline keying from a static parent (src/inline/README.md §7.2, §7.3). */
function checkStatic(peer: BuiltPeer, local: BuiltLocal, p: Problems): void {
  const c = peer.value;
  const k = c.keying;
  for (const key of NOT_STATIC) {
    const at = keyToken(peer, key);
    if (at) report(p, at, key, `${key} is not used with keying=${k} in peer ${c.name} (a static parent has no IKE and no manual SAs: new SAs are keyed inline); remove it`);
  }
  if (k === 'psk-static') {
    if (!lacks(peer, ['psk'], 'keying=psk-static', p)) {
      const at = peer.at.get('psk')!;
      if (c.psk && c.psk.length < 32) report(p, at, showSecretValue(at.text), `psk of peer ${c.name} is ${c.psk.length} bytes; keying=psk-static needs at least 32 random bytes (\`keyline genpsk\` prints them)`);
    }
    const pk = keyToken(peer, 'pubkey');
    if (pk) report(p, pk, 'pubkey', `pubkey is for keying=x25519-static; peer ${c.name} has keying=psk-static`);
  } else {
    lacks(peer, ['pubkey'], 'keying=x25519-static', p);
    const ps = keyToken(peer, 'psk');
    if (ps) report(p, ps, 'psk', `psk is for keying=psk-static or ike; peer ${c.name} has keying=x25519-static`);
    if (local.ok && !local.value.privkey) {
      const msg = `keying=x25519-static in peer ${c.name} needs this router's private key: privkey= on the local entry (\`keyline genkey\` makes one)`;
      report(p, local.head ?? peer.head, local.head ? 'local' : peer.head.text, msg);
    }
  }
  const addrAt = peer.at.get('addr');
  if (c.addr === 'any' && addrAt) report(p, addrAt, 'any', `addr=any cannot be used with keying=${k} in peer ${c.name}: a static parent sends the first packet, so it needs the peer's ADDRESS[:PORT]`);
  const modeAt = peer.at.get('mode');
  if (c.mode !== 'tunnel' && modeAt) report(p, modeAt, c.mode, `keying=${k} in peer ${c.name} works in mode=tunnel only`);
  const espAt = peer.at.get('esp');
  const first = c.esp?.[0];
  if (espAt && first && (c.esp!.length > 1 || first.group !== undefined || first.esn || !SUITES[first.suite].combined)) {
    report(p, espAt, showValue(espAt.text), `esp= of peer ${c.name} must be one AEAD suite without options for keying=${k}: aes128gcm16, aes256gcm16 or chacha20poly1305`);
  }
  const inlineAt = peer.at.get('inline');
  if (inlineAt && !c.inline) report(p, inlineAt, inlineAt.text, `inline=off cannot be used with keying=${k} in peer ${c.name}: a static parent makes SAs only inline`);
}

const INLINE_KEYS = ['inline-scope', 'inline-lifetime', 'inline-idle', 'inline-max-spawn'];

/** Inline keying's keys go with inline=on; it rides on tunnel-mode data packets only. */
function checkInline(peer: BuiltPeer, p: Problems): void {
  const c = peer.value;
  if (c.keying === 'manual') {
    for (const key of ['inline', ...INLINE_KEYS]) {
      const at = keyToken(peer, key);
      if (at) report(p, at, key, `${key} is not used with keying=manual in peer ${c.name}: inline keying needs a parent secret (keying=ike, psk-static or x25519-static)`);
    }
    return;
  }
  if (!c.inline) {
    for (const key of INLINE_KEYS) {
      const at = keyToken(peer, key);
      if (at) report(p, at, key, `${key} of peer ${c.name} has no effect without inline=on; add inline=on or remove it`);
    }
    return;
  }
  const modeAt = peer.at.get('mode');
  if (c.keying === 'ike' && c.mode !== 'tunnel' && modeAt) report(p, modeAt, c.mode, `inline=on in peer ${c.name} works in mode=tunnel only`);
}

/** In transport mode the protected traffic is between the two hosts themselves: /32 or /128. */
function hostsOnly(peer: BuiltPeer, key: string, list: readonly Prefix[], p: Problems): void {
  const at = peer.at.get(key)!;
  let col = at.col;
  const parts = at.text.split(',');
  list.forEach((x, i) => {
    const part = parts[i] ?? '';
    if (x.len !== x.addr.length * 8) {
      const msg = `${key} of peer ${peer.value.name} must list single hosts in mode=transport (/32 or /128), but ${showValue(part)} is a network`;
      report(p, { ...at, col }, showValue(part), msg);
    }
    col += part.length + 1;
  });
}

/**
 * Rekeying starts between margin and 2×margin before a lifetime ends (src/sa/rekey.ts), so
 * 2×margin must fit in the shorter lifetime, with room to spare.
 */
function checkMargin(peer: BuiltPeer, p: Problems): void {
  const { rekeyMargin: margin, lifetime, ikeLifetime, name } = peer.value;
  if (margin === undefined || lifetime === undefined || ikeLifetime === undefined) return;
  const [key, shorter] = lifetime <= ikeLifetime ? ['lifetime', lifetime] : ['ike-lifetime', ikeLifetime];
  if (2 * margin < shorter) return;
  const explicit = (k: string) => (peer.at.has(k) ? '' : ' (the default)');
  const at = keyToken(peer, 'rekey-margin') ?? keyToken(peer, key) ?? peer.head;
  const msg =
    `rekey-margin ${fmtDuration(margin)}${explicit('rekey-margin')} of peer ${name} must be less than half of the shorter lifetime, ` +
    `${key} ${fmtDuration(shorter)}${explicit(key)}: rekeying starts between the margin and twice the margin before a lifetime ends`;
  report(p, at, at.text, msg);
}

/** Both nets present, and every address family on one side also on the other; true if so. */
function checkNets(peer: BuiltPeer, because: string, p: Problems): boolean {
  const c = peer.value;
  if (lacks(peer, ['local-net', 'remote-net'], because, p) || !c.localNet || !c.remoteNet) return false;
  const fams = (l: readonly { addr: Uint8Array }[]) => new Set(l.map((x) => (x.addr.length === 4 ? 4 : 6)));
  const [lf, rf] = [fams(c.localNet), fams(c.remoteNet)];
  const sides = [['local-net', 'remote-net', lf, rf], ['remote-net', 'local-net', rf, lf]] as const;
  let ok = true;
  for (const [has, lacks, mine, theirs] of sides) {
    const at = peer.at.get(has)!;
    for (const fam of mine) {
      if (theirs.has(fam)) continue;
      report(p, at, showValue(at.text), `${has} of peer ${c.name} has IPv${fam} prefixes but ${lacks} has none, so they can never match`);
      ok = false;
    }
  }
  return ok;
}

/** keying=ike needs an identity for this side: the local entry's id, or the peer's local-id. */
function localId(peers: readonly BuiltPeer[], local: BuiltLocal, p: Problems): void {
  if (!local.ok || local.value.id) return;
  const needy = peers.filter((x) => x.value.keying === 'ike' && !x.value.localId);
  const first = needy[0];
  if (!first) return;
  const who = needy.length === 1 ? `peer ${first.value.name}` : `peers ${needy.map((x) => x.value.name).join(', ')}`;
  const how = "set id= (the identity this side proves, e.g. id=fqdn:gw-a.example), or local-id= in each keying=ike peer";
  if (local.head) report(p, local.head, 'local', `the local entry lacks id, which keying=ike in ${who} needs: ${how}`);
  else report(p, first.head, first.head.text, `keying=ike in ${who} needs this side's identity, and there is no local entry: add one with id=, e.g. 'local id=fqdn:gw-a.example', or set local-id= in each keying=ike peer`);
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
