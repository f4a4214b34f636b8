/**
 * IKE and ESP proposals in strongSwan's notation, so that a configuration moved over from
 * strongSwan reads the same: algorithms joined by '-', proposals separated by ',' in order of
 * preference.
 *
 *   ike: aes256gcm16-prfsha256-x25519, chacha20poly1305-prfsha256-x25519, aes128-sha256-modp2048
 *   esp: aes256gcm16, aes256gcm16-x25519 (PFS), aes128-sha256-esn
 *
 * As in strongSwan: a CBC cipher needs an integrity algorithm, and an IKE proposal without a PRF
 * takes the PRF of its integrity algorithm (sha256 -> prfsha256); a combined mode has no integrity
 * algorithm, so its IKE proposals must name the PRF. An IKE proposal needs a key exchange; for
 * ESP one asks for PFS. ESP defaults to noesn, like strongSwan. Unlike strongSwan, a proposal
 * holds one algorithm of each kind: alternatives are separate proposals, which keeps our own
 * preference order explicit.
 */
import type { CipherSuite, Hash } from '../crypto/types.js';
import { KeylineError } from '../wire/errors.js';
import { KE } from '../wire/iana.js';
import type { Sa } from './payloads/sa.js';
import { PROTOCOL_ID, transformsOf } from './proposal-wire.js';
import type { EspProposal, IkeProposal, Protocol, ProposalFor } from './proposal-wire.js';

export type { EspProposal, IkeProposal, Protocol, ProposalFor } from './proposal-wire.js';
export { fromTransforms } from './proposal-wire.js';
export { checkChosen, selectProposal } from './proposal-select.js';
export type { CheckResult, Chosen, SelectOptions } from './proposal-select.js';

/** Most proposals in one list: the Proposal Num field is one byte, and nobody needs more. */
export const MAX_PROPOSALS = 32;

type Token =
  | { kind: 'encr'; cipher: 'aes128gcm16' | 'aes256gcm16' | 'chacha20poly1305' | 'aes128' | 'aes256' }
  | { kind: 'integ'; hash: 'sha256' }
  | { kind: 'prf'; hash: Hash }
  | { kind: 'ke'; group: number }
  | { kind: 'esn'; esn: boolean };

/** Every keyword accepted, strongSwan's spelling (a Map: a token like "constructor" must not resolve). */
const TOKENS = /* @__PURE__ */ new Map<string, Token>([
  ['aes128gcm16', { kind: 'encr', cipher: 'aes128gcm16' }],
  ['aes256gcm16', { kind: 'encr', cipher: 'aes256gcm16' }],
  ['chacha20poly1305', { kind: 'encr', cipher: 'chacha20poly1305' }],
  ['aes128', { kind: 'encr', cipher: 'aes128' }],
  ['aes256', { kind: 'encr', cipher: 'aes256' }],
  ['sha256', { kind: 'integ', hash: 'sha256' }],
  ['sha2_256', { kind: 'integ', hash: 'sha256' }],
  ['prfsha256', { kind: 'prf', hash: 'sha256' }],
  ['prfsha384', { kind: 'prf', hash: 'sha384' }],
  ['prfsha512', { kind: 'prf', hash: 'sha512' }],
  ['x25519', { kind: 'ke', group: KE.CURVE25519 }],
  ['curve25519', { kind: 'ke', group: KE.CURVE25519 }],
  ['modp2048', { kind: 'ke', group: KE.MODP_2048 }],
  ['modp3072', { kind: 'ke', group: KE.MODP_3072 }],
  ['esn', { kind: 'esn', esn: true }],
  ['noesn', { kind: 'esn', esn: false }],
]);

const ACCEPTED =
  'encryption aes128gcm16, aes256gcm16, chacha20poly1305, aes128, aes256; integrity sha256 (sha2_256); ' +
  'prf prfsha256, prfsha384, prfsha512; key exchange x25519 (curve25519), modp2048, modp3072; esn, noesn (ESP)';

const KIND_NAME: Readonly<Record<Token['kind'], string>> = { encr: 'encryption', integ: 'integrity', prf: 'PRF', ke: 'key exchange', esn: 'ESN' };

const bad = (protocol: Protocol, text: string, why: string): KeylineError =>
  new KeylineError('BAD_PROPOSAL', `${protocol.toUpperCase()} proposal "${text}": ${why}`);

type Parts = { [K in Token['kind']]?: Extract<Token, { kind: K }> };

/** Tokens of one proposal, at most one per kind. */
function tokenize(protocol: Protocol, text: string): Parts {
  const parts: Record<string, Token> = {};
  for (const raw of text.split('-')) {
    const word = raw.trim().toLowerCase();
    const tok = TOKENS.get(word);
    if (tok === undefined) throw bad(protocol, text, `unknown algorithm "${word}"; accepted: ${ACCEPTED}`);
    const prev = parts[tok.kind];
    if (prev) throw bad(protocol, text, `"${word}": one ${KIND_NAME[tok.kind]} algorithm per proposal; list alternatives as separate proposals, separated by commas`);
    parts[tok.kind] = tok;
  }
  return parts as Parts;
}

/** The cipher suite from the cipher and integrity keywords. */
function suiteOf(protocol: Protocol, text: string, parts: Parts): CipherSuite {
  const cipher = parts.encr?.cipher;
  if (cipher === undefined) throw bad(protocol, text, 'no encryption algorithm');
  if (cipher === 'aes128' || cipher === 'aes256') {
    if (!parts.integ) throw bad(protocol, text, `${cipher} (CBC) needs an integrity algorithm: ${cipher}-sha256`);
    return `${cipher}-sha256`;
  }
  if (parts.integ) throw bad(protocol, text, `${cipher} is a combined mode and takes no integrity algorithm`);
  return cipher;
}

export function parseIkeProposal(text: string): IkeProposal {
  const parts = tokenize('ike', text);
  const suite = suiteOf('ike', text, parts);
  if (parts.esn) throw bad('ike', text, 'esn/noesn apply to ESP proposals only');
  // strongSwan's rule: without a PRF, the one matching the integrity algorithm.
  const prf = parts.prf?.hash ?? parts.integ?.hash;
  if (prf === undefined) throw bad('ike', text, `a combined-mode cipher needs a PRF, e.g. ${parts.encr?.cipher}-prfsha256-x25519`);
  if (!parts.ke) throw bad('ike', text, 'no key exchange method (x25519, modp2048, modp3072)');
  return { suite, prf, group: parts.ke.group };
}

export function parseEspProposal(text: string): EspProposal {
  const parts = tokenize('esp', text);
  const suite = suiteOf('esp', text, parts);
  if (parts.prf) throw bad('esp', text, 'ESP takes no PRF');
  const esn = parts.esn?.esn ?? false;
  return parts.ke ? { suite, esn, group: parts.ke.group } : { suite, esn };
}

function parseList<T>(protocol: Protocol, list: string, one: (s: string) => T): T[] {
  const items = list.split(',').map((s) => s.trim());
  if (items.some((s) => s === '')) throw bad(protocol, list, 'empty proposal in the list');
  if (items.length > MAX_PROPOSALS) throw bad(protocol, list, `${items.length} proposals, at most ${MAX_PROPOSALS}`);
  return items.map(one);
}

/** "p1, p2, ...": proposals in order of preference. */
export const parseIkeProposals = (list: string): IkeProposal[] => parseList('ike', list, parseIkeProposal);
export const parseEspProposals = (list: string): EspProposal[] => parseList('esp', list, parseEspProposal);

/**
 * The SA payload offering `proposals`, numbered from 1 in order. `spi`: none for IKE_SA_INIT, the
 * new 8-byte IKE SPI when rekeying the IKE SA, our 4-byte inbound SPI for ESP.
 */
export function toSaPayload<P extends Protocol>(proposals: readonly ProposalFor<P>[], protocol: P, spi: Uint8Array = new Uint8Array(0)): Sa {
  if (proposals.length === 0 || proposals.length > MAX_PROPOSALS) {
    throw new KeylineError('BAD_PROPOSAL', `${proposals.length} proposals; need 1..${MAX_PROPOSALS}`);
  }
  const spiOk = protocol === 'esp' ? spi.length === 4 : spi.length === 0 || spi.length === 8;
  if (!spiOk) throw new KeylineError('BAD_SPI', `${protocol.toUpperCase()} proposal SPI of ${spi.length} bytes`);
  return {
    proposals: proposals.map((p, i) => ({ num: i + 1, protocol: PROTOCOL_ID[protocol], spi, transforms: transformsOf(p) })),
  };
}

/** Whether any of our proposals uses `group`: a peer's INVALID_KE_PAYLOAD may only ask for one of those. */
export function offersGroup(proposals: readonly (IkeProposal | EspProposal)[], group: number): boolean {
  return group !== KE.NONE && proposals.some((p) => p.group === group);
}
