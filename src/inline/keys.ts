import type { CipherSuite, Prf } from '../crypto/types.js';
import { prfPlus } from '../crypto/prfplus.js';
import { suiteInfo } from '../crypto/suites.js';
import { concat, equalCT, readU32, u32be } from '../wire/bytes.js';
import { NONCE_LEN, TAG_LEN } from './header.js';
import { x25519 } from '@noble/curves/ed25519.js';

/**
 * Key derivation of inline keying (README.md §5, §7). Every key is a prf output under its own
 * ASCII label, so the carrier keys, the header key and the keys of new SAs are independent.
 */

const label = (s: string): Uint8Array => new TextEncoder().encode(s);
const L_PARENT = label('keyline inline parent');
const L_PSK = label('keyline inline psk-static');
const L_X25519 = label('keyline inline x25519-static');
const L_EPOCH = label('keyline inline epoch');
const L_CARRIER_SPI = label('keyline inline carrier spi');
const L_CARRIER = label('keyline inline carrier');
const L_HEADER = label('keyline inline header');
const L_SA = label('keyline inline sa');
const ZERO_NONCE = new Uint8Array(NONCE_LEN);

/** §7.1: the parent secret of an IKE SA. */
export function ikeParentSecret(prf: Prf, skD: Uint8Array, ni: Uint8Array, nr: Uint8Array): Uint8Array {
  return prf.mac(skD, concat(L_PARENT, ni, nr));
}

/** §7.2: the long-lived secret of a psk-static parent. */
export function pskRoot(prf: Prf, psk: Uint8Array): Uint8Array {
  return prf.mac(psk, L_PSK);
}

/** §7.3: the long-lived secret of an x25519-static parent (static-static Diffie-Hellman). */
export function x25519Root(prf: Prf, privateKey: Uint8Array, peerPublic: Uint8Array): Uint8Array {
  const own = x25519.getPublicKey(privateKey);
  const shared = x25519.getSharedSecret(privateKey, peerPublic); // throws on a low-order point
  const [lo, hi] = compareBytes(own, peerPublic) <= 0 ? [own, peerPublic] : [peerPublic, own];
  const root = prf.mac(shared, concat(L_X25519, lo, hi));
  shared.fill(0);
  return root;
}

export const publicFromPrivate = (privateKey: Uint8Array): Uint8Array => x25519.getPublicKey(privateKey);
export const newPrivateKey = (): Uint8Array => x25519.utils.randomSecretKey();

/** §7.2: the secret of one day of a static parent. */
export const epochSecret = (prf: Prf, root: Uint8Array, day: number): Uint8Array => prf.mac(root, concat(L_EPOCH, u32be(day)));

/** §7.2: the static carrier's SPI, the same both ways, outside the reserved 0..255. */
export function carrierSpi(prf: Prf, root: Uint8Array): number {
  const v = readU32(prf.mac(root, L_CARRIER_SPI), 0);
  return 256 + (v % (0x1_0000_0000 - 256));
}

export const carrierKey = (prf: Prf, s: Uint8Array, suite: CipherSuite): Uint8Array =>
  prfPlus(prf, s, L_CARRIER, suiteInfo(suite).encKeyLen);

export const headerKey = (prf: Prf, s: Uint8Array): Uint8Array => prf.mac(s, L_HEADER);

/**
 * The key of a new SA (with its salt): the OFFER's reply SPI takes a zero peer nonce and N1, the
 * ANSWER's takes N1 and N2 (§5).
 */
export function saKey(prf: Prf, s: Uint8Array, suite: CipherSuite, peerNonce: Uint8Array | undefined, replyNonce: Uint8Array, spi: number): Uint8Array {
  return prfPlus(prf, s, concat(L_SA, peerNonce ?? ZERO_NONCE, replyNonce, u32be(spi)), suiteInfo(suite).encKeyLen);
}

/** Fill in the tag of an encoded header (its last TAG_LEN octets) for the flow it rides with. */
export function tagHeader(prf: Prf, kHdr: Uint8Array, encoded: Uint8Array, flow: Uint8Array): void {
  encoded.set(computeTag(prf, kHdr, encoded, flow), encoded.length - TAG_LEN);
}

export function tagOk(prf: Prf, kHdr: Uint8Array, encoded: Uint8Array, flow: Uint8Array): boolean {
  return equalCT(computeTag(prf, kHdr, encoded, flow), encoded.subarray(encoded.length - TAG_LEN));
}

function computeTag(prf: Prf, kHdr: Uint8Array, encoded: Uint8Array, flow: Uint8Array): Uint8Array {
  return prf.mac(kHdr, concat(encoded.subarray(0, encoded.length - TAG_LEN), flow)).subarray(0, TAG_LEN);
}

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return 0;
}
