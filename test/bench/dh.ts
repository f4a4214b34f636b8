/**
 * The reference the IKE figures are set against: what node:crypto (OpenSSL) does for the one
 * Diffie-Hellman each side of an IKE_SA_INIT cannot avoid, a fresh key pair and the shared
 * secret from the peer's value. Written against node:crypto directly, not through keyline's
 * wrappers, so that their overhead shows in the IKE figures, not in the reference. MODP-2048
 * with a 256-bit private exponent, as keyline uses (src/crypto/dh/modp.ts) and as OpenSSL's own
 * named groups do; a full-length exponent costs about 8x more.
 */
import { createDiffieHellman, diffieHellman, generateKeyPairSync, randomBytes } from 'node:crypto';
import { newKeyExchange } from '../../src/crypto/dh/index.js';
import { KE } from '../../src/wire/iana.js';
import { rate } from './table.js';
import type { Group } from './ike-world.js';

const MODP2048 = Buffer.from(
  'FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74020BBEA63B139B22514A08798E3404DD' +
    'EF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED' +
    'EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF0598DA48361C55D39A69163FA8FD24CF5F' +
    '83655D23DCA3AD961C62F356208552BB9ED529077096966D670C354E4ABC9804F1746C08CA18217C32905E462E36CE3B' +
    'E39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF6955817183995497CEA956AE515D2261898FA0510' +
    '15728E5A8AACAA68FFFFFFFFFFFFFFFF',
  'hex',
);

/** One side's DH work of one IKE_SA_INIT: key pair + shared secret (the peer's key made outside). */
function pairFn(group: Group): () => void {
  if (group === 'x25519') {
    const peer = generateKeyPairSync('x25519').publicKey;
    return () => {
      const { privateKey } = generateKeyPairSync('x25519');
      diffieHellman({ privateKey, publicKey: peer });
    };
  }
  const other = createDiffieHellman(MODP2048, 2);
  other.setPrivateKey(randomBytes(32));
  const peer = other.generateKeys();
  return () => {
    const dh = createDiffieHellman(MODP2048, 2);
    dh.setPrivateKey(randomBytes(32));
    dh.generateKeys();
    dh.computeSecret(peer);
  };
}

/** Key pair + derive operations per second on one core. */
export function dhPairsPerSecond(group: Group, ms: number): number {
  return rate(pairFn(group), ms);
}

/**
 * The same work through keyline's own key exchange, called as the IKE engine calls it outside
 * tests: node backend, keys generated natively (no injected random source), raw public values
 * in and out (JWK for X25519).
 */
export function keylineDhPairsPerSecond(group: Group, ms: number): number {
  const id = group === 'x25519' ? KE.CURVE25519 : KE.MODP_2048;
  const peer = newKeyExchange(id, 'node').publicKey;
  return rate(() => newKeyExchange(id, 'node').computeShared(peer), ms);
}
