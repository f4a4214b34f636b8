import type { Prf } from './types.js';
import { concat, equalCT } from '../wire/bytes.js';
import { KeylineError } from '../wire/errors.js';

/**
 * Shared-key AUTH payload value (RFC 7296 §2.15):
 *
 *   AUTH = prf( prf(Shared Secret, "Key Pad for IKEv2"), <SignedOctets> )
 *   InitiatorSignedOctets = RealMessage1 | NonceRData | MACedIDForI,  MACedIDForI = prf(SK_pi, IDi body)
 *   ResponderSignedOctets = RealMessage2 | NonceIData | MACedIDForR,  MACedIDForR = prf(SK_pr, IDr body)
 *
 * So for the initiator's AUTH (whether computing ours or checking theirs): realMessage = the
 * IKE_SA_INIT request as sent, peerNonce = Nr, skP = SK_pi, idBody = IDi. For the responder's:
 * the IKE_SA_INIT response, Ni, SK_pr, IDr. `idBody` is the ID payload after its generic header:
 * ID Type, 3 reserved octets, identification data. `prf` is the IKE SA's negotiated PRF.
 */

/** The 17 ASCII octets of "Key Pad for IKEv2", no terminating NUL (RFC 7296 §2.15). */
const KEY_PAD = new TextEncoder().encode('Key Pad for IKEv2');

export function pskAuth(
  prf: Prf,
  psk: Uint8Array,
  realMessage: Uint8Array,
  peerNonce: Uint8Array,
  skP: Uint8Array,
  idBody: Uint8Array,
): Uint8Array {
  // An empty key would make AUTH computable by anyone; the config layer should never let one by.
  if (psk.length === 0) throw new KeylineError('BAD_KEY', 'empty pre-shared key');
  const macedId = prf.mac(skP, idBody);
  const signed = concat(realMessage, peerNonce, macedId);
  // The padded key lets a deployment store prf(PSK, pad) instead of the PSK itself (§2.15).
  const padded = prf.mac(psk, KEY_PAD);
  const auth = prf.mac(padded, signed);
  padded.fill(0);
  return auth;
}

/** Checks a peer's AUTH value, comparing in constant time; false also for a wrong length. */
export function verifyPskAuth(
  prf: Prf,
  psk: Uint8Array,
  realMessage: Uint8Array,
  peerNonce: Uint8Array,
  skP: Uint8Array,
  idBody: Uint8Array,
  received: Uint8Array,
): boolean {
  return equalCT(pskAuth(prf, psk, realMessage, peerNonce, skP, idBody), received);
}
