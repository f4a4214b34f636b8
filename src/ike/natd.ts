import { createHash } from 'node:crypto';
import { addrBytes } from '../sa/selector.js';
import type { Endpoint } from '../sa/types.js';
import { equalCT } from '../wire/bytes.js';

/**
 * NAT detection (RFC 7296 §2.23): each side sends SHA-1(SPIi | SPIr | IP | port) of the source
 * and destination it believes in; the other recomputes from what it actually saw. A mismatch on
 * the peer's source means the peer is behind a NAT, on our address that we are; either way both
 * float to port 4500 and ESP goes in UDP. SHA-1 here is an identifier, not a security property.
 * In IKE_SA_INIT requests SPIr is zero.
 */
export function natHash(spiI: bigint, spiR: bigint, at: Endpoint): Uint8Array {
  const buf = Buffer.alloc(16);
  buf.writeBigUInt64BE(spiI, 0);
  buf.writeBigUInt64BE(spiR, 8);
  const port = Buffer.alloc(2);
  port.writeUInt16BE(at.port);
  return new Uint8Array(createHash('sha1').update(buf).update(addrBytes(at.addr)).update(port).digest());
}

export interface NatState {
  /** The peer's source did not match: it is behind a NAT. */
  readonly peerBehindNat: boolean;
  /** Our address as the peer saw it did not match: we are behind a NAT. */
  readonly selfBehindNat: boolean;
}

/**
 * Compare the peer's NAT_DETECTION notifies with what we saw. `sourceHashes` may hold several
 * (a multihomed peer sends one per address); any match counts as "no NAT" for that side.
 */
export function detectNat(
  spiI: bigint,
  spiR: bigint,
  sourceHashes: readonly Uint8Array[],
  destinationHash: Uint8Array | undefined,
  peerSeenFrom: Endpoint,
  ourAddress: Endpoint,
): NatState {
  const peer = natHash(spiI, spiR, peerSeenFrom);
  const self = natHash(spiI, spiR, ourAddress);
  return {
    peerBehindNat: sourceHashes.length > 0 && !sourceHashes.some((h) => equalCT(h, peer)),
    selfBehindNat: destinationHash !== undefined && !equalCT(destinationHash, self),
  };
}
