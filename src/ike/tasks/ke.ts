/**
 * The key exchange bits every exchange shares: g^ir from the peer's KE value without throwing on
 * peer input, and the 2-byte group of INVALID_KE_PAYLOAD (RFC 7296 §3.10.1) both ways.
 */
import type { KeyExchange } from '../../crypto/dh/index.js';
import { KeylineError } from '../../wire/errors.js';

/** g^ir, or why the peer's value cannot be used (wrong length, out of range, low order). */
export function sharedSecret(kex: KeyExchange, peerValue: Uint8Array): Uint8Array | string {
  try {
    return kex.computeShared(peerValue);
  } catch (e) {
    if (e instanceof KeylineError) return `bad KE: ${e.message}`;
    throw e;
  }
}

/** The Notification Data of INVALID_KE_PAYLOAD: the group the responder wants. */
export const groupData = (group: number): Uint8Array => Uint8Array.of(group >> 8, group & 0xff);

/** The group an INVALID_KE_PAYLOAD asks for; undefined when its data is not 2 bytes. */
export const wantedGroup = (data: Uint8Array): number | undefined => (data.length === 2 ? (data[0]! << 8) | data[1]! : undefined);
