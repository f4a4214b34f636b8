import t from 'tap';
import { getDiffieHellman } from 'node:crypto';
import { keyExchangeLength, newKeyExchange, supportedGroups } from '../../src/crypto/dh/index.js';
import { modpGroup } from '../../src/crypto/dh/modp.js';
import { hex } from '../../src/wire/bytes.js';
import { at, beBytes, DH_BACKENDS, errorCode, fixedKey, rnd } from './helpers.js';

const GROUPS = [
  // RFC 3526 §3 and §4: p = 2^n - 2^(n-64) - 1 + 2^64 * { [2^(n-130) pi] + c }, generator 2.
  { id: 14, bits: 2048, piShift: 1918, c: 124476n, openssl: 'modp14', expLen: 32 },
  { id: 15, bits: 3072, piShift: 2942, c: 1690314n, openssl: 'modp15', expLen: 48 },
] as const;

/** floor(2^k * pi), by Machin's formula pi = 16 atan(1/5) - 4 atan(1/239) in fixed point. */
function floorPiShifted(k: number): bigint {
  const guard = 64n;
  const one = 1n << (BigInt(k) + guard);
  const atanInv = (x: bigint): bigint => {
    let sum = 0n;
    let term = one / x;
    for (let n = 1n, sign = 1n; term !== 0n; n += 2n, sign = -sign, term /= x * x) sum += (sign * term) / n;
    return sum;
  };
  return (16n * atanInv(5n) - 4n * atanInv(239n)) >> guard;
}

t.test('the MODP primes are the RFC 3526 formula, and OpenSSL has the same', async (t) => {
  for (const g of GROUPS) {
    const n = BigInt(g.bits);
    const p = 2n ** n - 2n ** (n - 64n) - 1n + 2n ** 64n * (floorPiShifted(g.piShift) + g.c);
    t.equal(modpGroup(g.id).p, p, `group ${g.id} = RFC 3526 formula`);
    t.equal(hex(beBytes(modpGroup(g.id).p, g.bits / 8)), getDiffieHellman(g.openssl).getPrime('hex'), `group ${g.id} = OpenSSL ${g.openssl}`);
    t.equal(keyExchangeLength(g.id), g.bits / 8, `group ${g.id} public value length`);
  }
});

t.test('supported groups and an unsupported one', async (t) => {
  t.same([...supportedGroups].sort(), [14, 15, 31]);
  for (const be of DH_BACKENDS) t.equal(errorCode(() => newKeyExchange(2, be)), 'BAD_GROUP', `${be}: group 2`);
  t.equal(errorCode(() => keyExchangeLength(19)), 'BAD_GROUP', 'length of group 19');
});

t.test('small exponents: public value and shared secret are zero-padded to the prime length', async (t) => {
  for (const g of GROUPS) {
    for (const be of DH_BACKENDS) {
      const len = g.bits / 8;
      const kx = newKeyExchange(g.id, be, fixedKey(beBytes(2n, g.expLen))); // 2^2 = 4
      t.equal(hex(kx.publicKey), hex(beBytes(4n, len)), `${be} ${g.id}: 2^2, ${len} bytes`);
      t.equal(hex(kx.computeShared(beBytes(4n, len))), hex(beBytes(16n, len)), `${be} ${g.id}: 4^2, ${len} bytes`);
    }
  }
});

t.test('node and noble agree: same exponent gives the same public value; shared secrets match across', async (t) => {
  for (const g of GROUPS) {
    const runs = g.id === 15 ? 2 : 3; // noble MODP-3072 costs ~18 ms a run
    for (let i = 0; i < runs; i++) {
      const x = rnd(g.expLen);
      const n = newKeyExchange(g.id, 'node', fixedKey(x));
      const b = newKeyExchange(g.id, 'noble', fixedKey(x));
      t.equal(hex(n.publicKey), hex(b.publicKey), `${g.id} run ${i}: same public value`);
      const peerNode = newKeyExchange(g.id, 'node');
      const peerNoble = newKeyExchange(g.id, 'noble');
      t.equal(hex(n.computeShared(peerNoble.publicKey)), hex(peerNoble.computeShared(n.publicKey)), `${g.id} run ${i}: node x noble`);
      t.equal(hex(b.computeShared(peerNode.publicKey)), hex(peerNode.computeShared(b.publicKey)), `${g.id} run ${i}: noble x node`);
    }
  }
});

t.test('peer values outside 1 < y < p-1, or not prime-length, are rejected with BAD_KE', async (t) => {
  for (const g of GROUPS) {
    const len = g.bits / 8;
    const p = modpGroup(g.id).p;
    const bad: [string, Uint8Array][] = [
      ['0', beBytes(0n, len)],
      ['1', beBytes(1n, len)],
      ['p-1', beBytes(p - 1n, len)],
      ['p', beBytes(p, len)],
      ['p+1', beBytes(p + 1n, len)],
      ['2^n - 1', beBytes(2n ** BigInt(g.bits) - 1n, len)],
      ['empty', new Uint8Array(0)],
      ['one byte short', rnd(len - 1)],
      ['one byte long', beBytes(2n, len + 1)],
      ['32 bytes', rnd(32)],
    ];
    for (const be of DH_BACKENDS) {
      const kx = newKeyExchange(g.id, be);
      for (const [name, y] of bad) t.equal(errorCode(() => kx.computeShared(y)), 'BAD_KE', `${be} ${g.id}: ${name}`);
      // The edges just inside the range are fine.
      t.equal(kx.computeShared(beBytes(2n, len)).length, len, `${be} ${g.id}: 2 accepted`);
      t.equal(kx.computeShared(beBytes(p - 2n, len)).length, len, `${be} ${g.id}: p-2 accepted`);
    }
  }
});

t.test('an injected exponent of 0 or 1, or of the wrong size, is a BAD_KEY', async (t) => {
  for (const g of GROUPS) {
    for (const be of DH_BACKENDS) {
      t.equal(errorCode(() => newKeyExchange(g.id, be, fixedKey(beBytes(1n, g.expLen)))), 'BAD_KEY', `${be} ${g.id}: 1`);
      t.equal(errorCode(() => newKeyExchange(g.id, be, fixedKey(beBytes(0n, g.expLen)))), 'BAD_KEY', `${be} ${g.id}: 0`);
      t.equal(errorCode(() => newKeyExchange(g.id, be, () => rnd(g.expLen - 1))), 'BAD_KEY', `${be} ${g.id}: short`);
    }
  }
});

t.test('a peer value that is a view at an odd offset works on both backends', async (t) => {
  for (const g of [14, 31]) {
    for (const be of DH_BACKENDS) {
      const a = newKeyExchange(g, be);
      const b = newKeyExchange(g, be);
      t.equal(hex(a.computeShared(at(b.publicKey, 3))), hex(b.computeShared(a.publicKey)), `${be} group ${g}`);
    }
  }
});
