import type { CipherSuite, Prf } from './types.js';
import { suiteInfo } from './suites.js';
import { prfPlus } from './prfplus.js';
import { concat } from '../wire/bytes.js';
import { KeylineError } from '../wire/errors.js';

/**
 * IKEv2 key derivation (RFC 7296 §2.14, §2.17, §2.18), checked in the tests against the NIST CAVS
 * IKEv2 KDF vectors (SP 800-135). `prf` is the negotiated PRF (HMAC-SHA2 here); `suite` sizes the
 * keys: for combined modes SK_e* carries the 4-byte salt at its end (RFC 5282 §7, RFC 7634 §2)
 * and there is no SK_a*. Shared secrets come from KeyExchange.computeShared, already padded to the
 * group's length as §2.14 requires. Nonce lengths are not checked here (the decoder enforces the
 * 16..256 bytes of §2.10; the CAVS vectors use 8).
 */

/** The seven IKE SA secrets. skAi/skAr are undefined for combined-mode suites. */
export interface IkeSaKeys {
  /** Keys the Child SAs (and the next IKE SA), prf.outLen bytes. */
  readonly skD: Uint8Array;
  readonly skAi: Uint8Array | undefined;
  readonly skAr: Uint8Array | undefined;
  /** Encryption key (|| salt for combined modes) protecting initiator -> responder. */
  readonly skEi: Uint8Array;
  readonly skEr: Uint8Array;
  /** Key the AUTH payload's MACedIDFor{I,R} (RFC 7296 §2.15), prf.outLen bytes. */
  readonly skPi: Uint8Array;
  readonly skPr: Uint8Array;
}

export interface DirectionKeys {
  /** Encryption key; for combined modes key || 4-byte salt, as Backend.aead takes it. */
  readonly encKey: Uint8Array;
  /** Integrity key; undefined for combined modes. */
  readonly integKey?: Uint8Array;
}

export interface ChildSaKeys {
  readonly initiatorToResponder: DirectionKeys;
  readonly responderToInitiator: DirectionKeys;
}

/** IKE SPIs are 8 octets (RFC 7296 §3.1); anything else here is a caller bug. */
function checkSpis(spii: Uint8Array, spir: Uint8Array): void {
  if (spii.length !== 8 || spir.length !== 8) {
    throw new KeylineError('BAD_LENGTH', `IKE SPIs must be 8 bytes; got ${spii.length} and ${spir.length}`);
  }
}

function checkShared(shared: Uint8Array): void {
  if (shared.length === 0) throw new KeylineError('BAD_LENGTH', 'empty Diffie-Hellman shared secret');
}

/**
 * SKEYSEED = prf(Ni | Nr, g^ir). The PRF is keyed with the nonces. (Only AES-XCBC-PRF-128 and
 * AES-CMAC-PRF-128, fixed-key-length PRFs keyline does not offer, would take just the first 64
 * bits of each nonce here; HMAC takes a key of any length.)
 */
export function ikeSkeyseed(prf: Prf, ni: Uint8Array, nr: Uint8Array, shared: Uint8Array): Uint8Array {
  checkShared(shared);
  return prf.mac(concat(ni, nr), shared);
}

/**
 * SKEYSEED for a rekeyed IKE SA = prf(SK_d (old), g^ir (new) | Ni | Nr) (§2.18). `oldPrf` is the
 * old IKE SA's PRF: "the rekeying exchange belongs to the old IKE SA".
 */
export function rekeyedSkeyseed(oldPrf: Prf, oldSkD: Uint8Array, sharedNew: Uint8Array, ni: Uint8Array, nr: Uint8Array): Uint8Array {
  checkShared(sharedNew);
  return oldPrf.mac(oldSkD, concat(sharedNew, ni, nr));
}

/** {SK_d | SK_ai | SK_ar | SK_ei | SK_er | SK_pi | SK_pr} = prf+(SKEYSEED, Ni | Nr | SPIi | SPIr). */
function expandIke(prf: Prf, suite: CipherSuite, skeyseed: Uint8Array, ni: Uint8Array, nr: Uint8Array, spii: Uint8Array, spir: Uint8Array): IkeSaKeys {
  checkSpis(spii, spir);
  const info = suiteInfo(suite);
  const d = prf.outLen; // SK_d, SK_pi, SK_pr: the PRF's preferred key length (§2.13)
  const a = info.integKeyLen;
  const e = info.encKeyLen;
  const km = prfPlus(prf, skeyseed, concat(ni, nr, spii, spir), d + 2 * a + 2 * e + 2 * d);
  skeyseed.fill(0);
  let o = 0;
  // slice() copies: each key is its own buffer, so wiping one cannot touch another.
  const take = (n: number): Uint8Array => km.slice(o, (o += n));
  const keys: IkeSaKeys = {
    skD: take(d),
    skAi: a ? take(a) : undefined,
    skAr: a ? take(a) : undefined,
    skEi: take(e),
    skEr: take(e),
    skPi: take(d),
    skPr: take(d),
  };
  km.fill(0);
  return keys;
}

/** Keys for a new IKE SA from IKE_SA_INIT (§2.14). */
export function deriveIkeKeys(
  prf: Prf,
  suite: CipherSuite,
  ni: Uint8Array,
  nr: Uint8Array,
  shared: Uint8Array,
  spii: Uint8Array,
  spir: Uint8Array,
): IkeSaKeys {
  return expandIke(prf, suite, ikeSkeyseed(prf, ni, nr, shared), ni, nr, spii, spir);
}

/**
 * Keys for the IKE SA that replaces an old one via CREATE_CHILD_SA (§2.18): SKEYSEED with the old
 * SA's PRF and SK_d, then prf+ with the new SA's PRF, the new nonces and the new SPIs.
 */
export function deriveRekeyedIkeKeys(
  oldPrf: Prf,
  oldSkD: Uint8Array,
  prf: Prf,
  suite: CipherSuite,
  ni: Uint8Array,
  nr: Uint8Array,
  sharedNew: Uint8Array,
  spii: Uint8Array,
  spir: Uint8Array,
): IkeSaKeys {
  return expandIke(prf, suite, rekeyedSkeyseed(oldPrf, oldSkD, sharedNew, ni, nr), ni, nr, spii, spir);
}

/**
 * Child SA (ESP) keys (§2.17): KEYMAT = prf+(SK_d, Ni | Nr), or prf+(SK_d, g^ir (new) | Ni | Nr)
 * when CREATE_CHILD_SA ran its own Diffie-Hellman (PFS). All initiator->responder keys come first,
 * and within a direction the encryption key precedes the integrity key (§2.17, for ESP). `suite`
 * is the ESP suite; `shared` is undefined without PFS.
 */
export function deriveChildKeys(
  prf: Prf,
  skD: Uint8Array,
  suite: CipherSuite,
  ni: Uint8Array,
  nr: Uint8Array,
  shared: Uint8Array | undefined,
): ChildSaKeys {
  if (shared !== undefined) checkShared(shared);
  const info = suiteInfo(suite);
  const e = info.encKeyLen;
  const a = info.integKeyLen;
  const seed = shared === undefined ? concat(ni, nr) : concat(shared, ni, nr);
  const km = prfPlus(prf, skD, seed, 2 * (e + a));
  seed.fill(0); // it may hold g^ir
  let o = 0;
  const take = (n: number): Uint8Array => km.slice(o, (o += n));
  const direction = (): DirectionKeys => {
    const encKey = take(e);
    return a ? { encKey, integKey: take(a) } : { encKey };
  };
  const initiatorToResponder = direction();
  const responderToInitiator = direction();
  km.fill(0);
  return { initiatorToResponder, responderToInitiator };
}
