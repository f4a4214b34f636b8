import { createDiffieHellman, randomBytes as nodeRandomBytes } from 'node:crypto';
import { bytesToNumberBE, numberToBytesBE } from '@noble/curves/utils.js';
import { randomBytes as nobleRandomBytes } from '@noble/hashes/utils.js';
import { KE } from '../../wire/iana.js';
import { KeylineError } from '../../wire/errors.js';
import { badKe, padLeft, type KeyExchange, type RandomSource } from './common.js';

/**
 * The RFC 3526 MODP groups 14 (2048-bit) and 15 (3072-bit), generator 2. On the wire the public
 * value is exactly as long as the prime, zero-padded in front (RFC 7296 §3.4), and so is g^ir
 * (§2.14). The primes are checked in the tests against the RFC's own formula (2^n - 2^(n-64) - 1
 * + 2^64 * (floor(2^(n-130) pi) + c)) and against OpenSSL's copies.
 */
const PRIMES: Record<number, string> = {
  [KE.MODP_2048]:
    'FFFFFFFF FFFFFFFF C90FDAA2 2168C234 C4C6628B 80DC1CD1 29024E08 8A67CC74' +
    '020BBEA6 3B139B22 514A0879 8E3404DD EF9519B3 CD3A431B 302B0A6D F25F1437' +
    '4FE1356D 6D51C245 E485B576 625E7EC6 F44C42E9 A637ED6B 0BFF5CB6 F406B7ED' +
    'EE386BFB 5A899FA5 AE9F2411 7C4B1FE6 49286651 ECE45B3D C2007CB8 A163BF05' +
    '98DA4836 1C55D39A 69163FA8 FD24CF5F 83655D23 DCA3AD96 1C62F356 208552BB' +
    '9ED52907 7096966D 670C354E 4ABC9804 F1746C08 CA18217C 32905E46 2E36CE3B' +
    'E39E772C 180E8603 9B2783A2 EC07A28F B5C55DF0 6F4C52C9 DE2BCBF6 95581718' +
    '3995497C EA956AE5 15D22618 98FA0510 15728E5A 8AACAA68 FFFFFFFF FFFFFFFF',
  [KE.MODP_3072]:
    'FFFFFFFF FFFFFFFF C90FDAA2 2168C234 C4C6628B 80DC1CD1 29024E08 8A67CC74' +
    '020BBEA6 3B139B22 514A0879 8E3404DD EF9519B3 CD3A431B 302B0A6D F25F1437' +
    '4FE1356D 6D51C245 E485B576 625E7EC6 F44C42E9 A637ED6B 0BFF5CB6 F406B7ED' +
    'EE386BFB 5A899FA5 AE9F2411 7C4B1FE6 49286651 ECE45B3D C2007CB8 A163BF05' +
    '98DA4836 1C55D39A 69163FA8 FD24CF5F 83655D23 DCA3AD96 1C62F356 208552BB' +
    '9ED52907 7096966D 670C354E 4ABC9804 F1746C08 CA18217C 32905E46 2E36CE3B' +
    'E39E772C 180E8603 9B2783A2 EC07A28F B5C55DF0 6F4C52C9 DE2BCBF6 95581718' +
    '3995497C EA956AE5 15D22618 98FA0510 15728E5A 8AAAC42D AD33170D 04507A33' +
    'A85521AB DF1CBA64 ECFB8504 58DBEF0A 8AEA7157 5D060C7D B3970F85 A6E1E4C7' +
    'ABF5AE8C DB0933D7 1E8C94E0 4A25619D CEE3D226 1AD2EE6B F12FFA06 D98A0864' +
    'D8760273 3EC86A64 521F2B18 177B200C BBE11757 7A615D6C 770988C0 BAD946E2' +
    '08E24FA0 74E5AB31 43DB5BFC E0FD108E 4B82D120 A93AD2CA FFFFFFFF FFFFFFFF',
};

/*
 * Private exponent length. Not the full prime length: NIST SP 800-56A Rev. 3 lets a safe-prime
 * group's private key be as short as twice the security strength (112 bits for 2048, 128 for
 * 3072; OpenSSL uses about that for these named groups). 256 and 384 bits keep a margin and make
 * the pure-JS exponentiation 5-8x cheaper than a full-length exponent. Both backends use the
 * same length, so an injected RandomSource gives both the same key pair.
 */
const EXP_LEN: Record<number, number> = { [KE.MODP_2048]: 32, [KE.MODP_3072]: 48 };

export interface ModpGroup {
  readonly id: number;
  /** The prime, and the length of every public value and shared secret, in bytes. */
  readonly p: bigint;
  readonly len: number;
  readonly expLen: number;
}

const cache = new Map<number, ModpGroup>();

/** The group parameters, parsed on first use (importing stays cheap). */
export function modpGroup(id: number): ModpGroup {
  let g = cache.get(id);
  if (!g) {
    const hex = PRIMES[id];
    const expLen = EXP_LEN[id];
    if (hex === undefined || expLen === undefined) throw new KeylineError('BAD_GROUP', `not a MODP group keyline has: ${id}`);
    const clean = hex.replace(/ /g, '');
    g = { id, p: BigInt('0x' + clean), len: clean.length / 2, expLen };
    cache.set(id, g);
  }
  return g;
}

/**
 * The peer's value must be prime-length (RFC 7296 §3.4) and 1 < y < p-1: 0, 1 and p-1 would pin
 * the shared secret to 0 or ±1 (SP 800-56A Rev. 3 §5.6.2.3.2, partial public-key validation).
 * The full check y^q = 1 is left out: it costs a full-length exponentiation, and with a fresh
 * exponent per exchange a value outside the order-q subgroup leaks at most one bit of a key that
 * is thrown away afterwards.
 */
export function checkModpPeer(g: ModpGroup, peer: Uint8Array): bigint {
  if (peer.length !== g.len) throw badKe(`MODP group ${g.id} public value must be ${g.len} bytes; got ${peer.length}`);
  const y = bytesToNumberBE(peer);
  if (y <= 1n || y >= g.p - 1n) throw badKe(`MODP group ${g.id} public value out of range (need 1 < y < p-1)`);
  return y;
}

/** Our exponent from `random`; 0 and 1 are refused (only an injected source could produce them). */
function exponent(g: ModpGroup, random: RandomSource): Uint8Array {
  const x = Uint8Array.from(random(g.expLen));
  if (x.length !== g.expLen || bytesToNumberBE(x) < 2n) {
    throw new KeylineError('BAD_KEY', `MODP group ${g.id} private exponent must be ${g.expLen} bytes and >= 2`);
  }
  return x;
}

/** SP 800-56A Rev. 3 §5.7.1.1: a shared secret of 1 is an error. Unreachable after checkModpPeer with x < q; kept as a guard. */
function checkShared(g: ModpGroup, z: Uint8Array): Uint8Array {
  let high = 0;
  for (let i = 0; i < z.length - 1; i++) high |= z[i]!;
  if (high === 0 && z[z.length - 1]! <= 1) throw badKe(`MODP group ${g.id} shared secret is degenerate`);
  return z;
}

/** node:crypto (OpenSSL BN): createDiffieHellman takes our exponent via setPrivateKey. */
export function nodeModp(id: number, random: RandomSource = nodeRandomBytes): KeyExchange {
  const g = modpGroup(id);
  const dh = createDiffieHellman(numberToBytesBE(g.p, g.len), 2);
  const x = exponent(g, random);
  dh.setPrivateKey(x);
  x.fill(0);
  // With a private key set, generateKeys() only computes 2^x mod p. OpenSSL drops leading zeros.
  const publicKey = padLeft(dh.generateKeys(), g.len);
  return {
    group: id,
    publicKey,
    computeShared(peer) {
      checkModpPeer(g, peer);
      let z: Buffer;
      try {
        z = dh.computeSecret(peer);
      } catch {
        throw badKe(`MODP group ${g.id} public value rejected by OpenSSL`);
      }
      return checkShared(g, padLeft(z, g.len));
    },
  };
}

/**
 * BigInt exponentiation as a Montgomery ladder over a fixed number of bits: the same sequence of
 * multiplications whatever the exponent's bits. BigInt itself is not constant-time (its cost
 * depends on operand values), which is one reason this is the fallback, not the default.
 */
function modPow(base: bigint, exp: bigint, p: bigint, bits: number): bigint {
  let r0 = 1n;
  let r1 = base % p;
  for (let i = bits - 1; i >= 0; i--) {
    if ((exp >> BigInt(i)) & 1n) {
      r0 = (r0 * r1) % p;
      r1 = (r1 * r1) % p;
    } else {
      r1 = (r0 * r1) % p;
      r0 = (r0 * r0) % p;
    }
  }
  return r0;
}

/** Pure JS: portable wherever Node runs, slower (see the costs in ./index.ts). */
export function nobleModp(id: number, random: RandomSource = nobleRandomBytes): KeyExchange {
  const g = modpGroup(id);
  const xb = exponent(g, random);
  const x = bytesToNumberBE(xb);
  xb.fill(0);
  const bits = g.expLen * 8;
  return {
    group: id,
    publicKey: numberToBytesBE(modPow(2n, x, g.p, bits), g.len),
    computeShared(peer) {
      const y = checkModpPeer(g, peer);
      return checkShared(g, numberToBytesBE(modPow(y, x, g.p, bits), g.len));
    },
  };
}
