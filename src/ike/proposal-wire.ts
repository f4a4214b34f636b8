/**
 * Typed proposals and their transforms on the wire (RFC 7296 §3.3.2, §3.3.3). One proposal here
 * is one transform per type; proposals.ts parses them from strongSwan notation and
 * proposal-select.ts negotiates them. Transform IDs:
 *
 *   ENCR   ENCR_AES_CBC 12 (KEY_LENGTH 128/256), ENCR_AES_GCM_16 20 (KEY_LENGTH 128/256),
 *          ENCR_CHACHA20_POLY1305 28 (no KEY_LENGTH, RFC 7634 §2)
 *   PRF    PRF_HMAC_SHA2_256 5, _384 6, _512 7
 *   INTEG  AUTH_HMAC_SHA2_256_128 12 (CBC only; combined modes send none, RFC 5282 §8)
 *   KE     Curve25519 31, MODP-2048 14, MODP-3072 15
 *   ESN    0 no, 1 yes (ESP only)
 */
import type { CipherSuite, Hash } from '../crypto/types.js';
import { SUITES, SUITE_NAMES } from '../crypto/suites.js';
import { ESN, INTEG, KE, PRF } from '../wire/iana.js';
import { PROTO, TRANSFORM } from './constants.js';
import { keyLength, transform } from './payloads/sa.js';
import type { Transform } from './payloads/sa.js';

export interface IkeProposal {
  readonly suite: CipherSuite;
  readonly prf: Hash;
  /** Key exchange method (Transform Type 4), e.g. 31 for Curve25519. */
  readonly group: number;
}

export interface EspProposal {
  readonly suite: CipherSuite;
  readonly esn: boolean;
  /** Key exchange for PFS in CREATE_CHILD_SA; absent: no PFS. */
  readonly group?: number;
}

export type Protocol = 'ike' | 'esp';
export type ProposalFor<P extends Protocol> = P extends 'ike' ? IkeProposal : EspProposal;

export const PROTOCOL_ID: Readonly<Record<Protocol, number>> = { ike: PROTO.IKE, esp: PROTO.ESP };

export const PRF_ID: Readonly<Record<Hash, number>> = {
  sha256: PRF.PRF_HMAC_SHA2_256,
  sha384: PRF.PRF_HMAC_SHA2_384,
  sha512: PRF.PRF_HMAC_SHA2_512,
};

/** Transform types each protocol may carry (§3.3.3); any other type makes a proposal unacceptable. */
export const ALLOWED_TYPES: Readonly<Record<Protocol, readonly number[]>> = {
  ike: [TRANSFORM.ENCR, TRANSFORM.PRF, TRANSFORM.INTEG, TRANSFORM.KE],
  esp: [TRANSFORM.ENCR, TRANSFORM.INTEG, TRANSFORM.KE, TRANSFORM.ESN],
};

const isIke = (p: IkeProposal | EspProposal): p is IkeProposal => 'prf' in p;

function encrOf(suite: CipherSuite): Transform {
  const s = SUITES[suite];
  // ChaCha20-Poly1305 has one key size and must not carry KEY_LENGTH (RFC 7634 §2).
  return transform(TRANSFORM.ENCR, s.encrId, suite === 'chacha20poly1305' ? undefined : s.keyBits);
}

/** The transforms of one proposal, in transform type order, one per type. */
export function transformsOf(p: IkeProposal | EspProposal): Transform[] {
  const info = SUITES[p.suite];
  const out = [encrOf(p.suite)];
  if (isIke(p)) out.push(transform(TRANSFORM.PRF, PRF_ID[p.prf]));
  if (!info.combined) out.push(transform(TRANSFORM.INTEG, info.integId));
  if (p.group !== undefined) out.push(transform(TRANSFORM.KE, p.group));
  if (!isIke(p)) out.push(transform(TRANSFORM.ESN, p.esn ? ESN.ESN : ESN.NO_ESN));
  return out;
}

function suiteOf(encr: Transform, integ: number): CipherSuite | undefined {
  const bits = keyLength(encr);
  return SUITE_NAMES.find((name) => {
    const want = encrOf(name);
    return want.id === encr.id && keyLength(want) === bits && SUITES[name].integId === integ;
  });
}

/**
 * Read back a proposal that has exactly one transform per type (a response's chosen proposal).
 * undefined if it is not something keyline negotiates. INTEG NONE and KE NONE read as absent.
 */
export function fromTransforms<P extends Protocol>(protocol: P, ts: readonly Transform[]): ProposalFor<P> | undefined {
  const one = (type: number): Transform | undefined => ts.find((t) => t.type === type);
  const encr = one(TRANSFORM.ENCR);
  if (encr === undefined || encr.attributes.length > (keyLength(encr) === undefined ? 0 : 1)) return undefined;
  const suite = suiteOf(encr, one(TRANSFORM.INTEG)?.id ?? INTEG.NONE);
  const ke = one(TRANSFORM.KE)?.id;
  const group = ke === KE.NONE ? undefined : ke;
  if (suite === undefined) return undefined;
  if (protocol === 'ike') {
    const prfId = one(TRANSFORM.PRF)?.id;
    const prf = (Object.keys(PRF_ID) as Hash[]).find((h) => PRF_ID[h] === prfId);
    if (prf === undefined || group === undefined) return undefined;
    return { suite, prf, group } satisfies IkeProposal as ProposalFor<P>;
  }
  const esn = one(TRANSFORM.ESN)?.id;
  if (esn !== ESN.ESN && esn !== ESN.NO_ESN) return undefined;
  const p: EspProposal = group === undefined ? { suite, esn: esn === ESN.ESN } : { suite, esn: esn === ESN.ESN, group };
  return p as ProposalFor<P>;
}

/** Same type, ID and attributes (in order: a chosen transform is a copy of an offered one). */
export function sameTransform(a: Transform, b: Transform): boolean {
  if (a.type !== b.type || a.id !== b.id || a.attributes.length !== b.attributes.length) return false;
  return a.attributes.every((x, i) => {
    const y = b.attributes[i]!;
    if (x.type !== y.type || x.tv !== y.tv) return false;
    if (x.tv && y.tv) return x.value === y.value;
    return !x.tv && !y.tv && x.value.length === y.value.length && x.value.every((v, j) => v === y.value[j]);
  });
}
