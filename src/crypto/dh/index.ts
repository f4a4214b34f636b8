import { KE } from '../../wire/iana.js';
import { KeylineError } from '../../wire/errors.js';
import type { BackendName, KeyExchange, RandomSource } from './common.js';
import { nobleX25519, nodeX25519, X25519_LEN } from './x25519.js';
import { modpGroup, nobleModp, nodeModp } from './modp.js';

export type { BackendName, KeyExchange, RandomSource } from './common.js';

/*
 * Cost of one ephemeral exchange (key pair + computeShared), measured on the development machine
 * (AMD EPYC, 2 vCPU, Node 20.20 / OpenSSL 3), median of 50 runs:
 *
 *   group              node:crypto   noble / BigInt
 *   31 Curve25519         0.33 ms        1.9 ms
 *   14 MODP-2048          0.7-0.9 ms     6.0 ms   (256-bit exponent; ~28 ms per exponentiation at full length)
 *   15 MODP-3072          2.0 ms        18   ms   (384-bit exponent; ~75 ms per exponentiation at full length)
 *
 * MODP splits about evenly between key pair and computeShared; X25519 key pairs are the cheaper
 * part (fixed base). Not measured on a router: guessing an ARM core 5-20x slower still leaves noble
 * MODP-3072 far below the IKE retransmission timer, and this runs once per SA setup or rekey,
 * never per packet.
 */

/** What keyline offers, in order of preference: Curve25519 is the fastest on both backends. */
export const supportedGroups: readonly number[] = [KE.CURVE25519, KE.MODP_3072, KE.MODP_2048];

export function isSupportedGroup(group: number): boolean {
  return supportedGroups.includes(group);
}

/** Bytes of Key Exchange Data for the group (what a KE payload must carry). */
export function keyExchangeLength(group: number): number {
  if (group === KE.CURVE25519) return X25519_LEN;
  if (!isSupportedGroup(group)) throw unsupported(group);
  return modpGroup(group).len;
}

/**
 * A fresh key pair for `group`. `random` supplies the private key (32 bytes for Curve25519, the
 * MODP exponent otherwise) and exists for tests: with the same source both backends derive the
 * same key pair. Without it, node:crypto generates the X25519 key natively and the rest comes from
 * the backend's CSPRNG.
 */
export function newKeyExchange(group: number, backend: BackendName, random?: RandomSource): KeyExchange {
  if (!isSupportedGroup(group)) throw unsupported(group);
  if (group === KE.CURVE25519) return backend === 'node' ? nodeX25519(random) : nobleX25519(random);
  return backend === 'node' ? nodeModp(group, random) : nobleModp(group, random);
}

function unsupported(group: number): KeylineError {
  return new KeylineError('BAD_GROUP', `key exchange method ${group} is not supported (have ${supportedGroups.join(', ')})`);
}
