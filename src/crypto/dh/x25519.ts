import { createPrivateKey, createPublicKey, diffieHellman, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { x25519 } from '@noble/curves/ed25519.js';
import { KE } from '../../wire/iana.js';
import { KeylineError } from '../../wire/errors.js';
import { badKe, isAllZero, type KeyExchange, type RandomSource } from './common.js';

/**
 * Curve25519 for IKEv2 (RFC 8031): the Key Exchange Data is the raw 32-byte X25519 public value
 * and g^ir is the raw 32-byte X25519 output. A peer value is any 32 bytes (RFC 7748 §5: the top
 * bit is masked, non-canonical u accepted), but an all-zero output, which low-order points give,
 * MUST abort the exchange (RFC 8031 §2.2, RFC 7748 §6.1). Both backends refuse those points
 * themselves (noble before the ladder, OpenSSL on the zero output); the zero check below is ours,
 * so that guarantee does not hang on a library version.
 */

export const X25519_LEN = 32;

function checkPeer(peer: Uint8Array): void {
  if (peer.length !== X25519_LEN) throw badKe(`Curve25519 public value must be ${X25519_LEN} bytes; got ${peer.length}`);
}

function checkShared(z: Uint8Array): Uint8Array {
  if (isAllZero(z)) throw badKe('Curve25519 shared secret is all zero (low-order peer value)');
  return z;
}

function privateFrom(random: RandomSource): Uint8Array {
  const sk = Uint8Array.from(random(X25519_LEN)); // a copy: the caller may reuse its buffer
  if (sk.length !== X25519_LEN) throw new KeylineError('BAD_KEY', `X25519 private key must be ${X25519_LEN} bytes; got ${sk.length}`);
  return sk;
}

// The DER wrapper around a raw X25519 private key (RFC 8410, id-X25519 = 1.3.101.110): the one
// way node:crypto imports an injected private key (createECDH does not do X25519).
const PKCS8_PREFIX = Buffer.from('302e020100300506032b656e04220420', 'hex');

/** node:crypto: the private key stays a KeyObject, in native memory, unless a test injects one. */
export function nodeX25519(random?: RandomSource): KeyExchange {
  let priv: KeyObject;
  let pub: KeyObject;
  if (random) {
    const sk = privateFrom(random);
    const der = Buffer.concat([PKCS8_PREFIX, sk]);
    priv = createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
    der.fill(0);
    sk.fill(0);
    pub = createPublicKey(priv);
  } else {
    ({ privateKey: priv, publicKey: pub } = generateKeyPairSync('x25519'));
  }
  // JWK, not DER: OpenSSL 3 parses a JWK key several times faster (measured by npm run bench).
  const publicKey = Uint8Array.from(Buffer.from(pub.export({ format: 'jwk' }).x!, 'base64url'));
  return {
    group: KE.CURVE25519,
    publicKey,
    computeShared(peer) {
      checkPeer(peer);
      let z: Buffer;
      try {
        const peerKey = createPublicKey({ key: { kty: 'OKP', crv: 'X25519', x: Buffer.from(peer).toString('base64url') }, format: 'jwk' });
        z = diffieHellman({ privateKey: priv, publicKey: peerKey });
      } catch {
        // OpenSSL fails the derivation when the output is all zero (a low-order point).
        throw badKe('Curve25519 peer value rejected (low-order point)');
      }
      return checkShared(Uint8Array.from(z));
    },
  };
}

/** @noble/curves: pure JS; the private key is a Uint8Array held by this closure. */
export function nobleX25519(random?: RandomSource): KeyExchange {
  const sk = random ? privateFrom(random) : x25519.utils.randomSecretKey();
  return {
    group: KE.CURVE25519,
    publicKey: x25519.getPublicKey(sk),
    computeShared(peer) {
      checkPeer(peer);
      let z: Uint8Array;
      try {
        z = x25519.getSharedSecret(sk, peer);
      } catch {
        // noble refuses the known low-order u values before running the ladder.
        throw badKe('Curve25519 peer value rejected (low-order point)');
      }
      return checkShared(z);
    },
  };
}
