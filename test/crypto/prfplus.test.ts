import t from 'tap';
import { createHmac, randomBytes } from 'node:crypto';
import { prfPlus, PRF_PLUS_MAX_BLOCKS } from '../../src/crypto/index.js';
import type { Hash } from '../../src/crypto/types.js';
import { hex } from '../../src/wire/bytes.js';
import { BACKENDS, at } from './helpers.js';

const HASHES: readonly Hash[] = ['sha256', 'sha384', 'sha512'];

/** RFC 7296 §2.13 written out the plain way, on node's createHmac: the reference to compare with. */
function reference(hash: Hash, key: Uint8Array, seed: Uint8Array, len: number): string {
  let out = Buffer.alloc(0);
  let prev = Buffer.alloc(0);
  for (let n = 1; out.length < len; n++) {
    prev = createHmac(hash, key).update(prev).update(seed).update(Buffer.from([n])).digest();
    out = Buffer.concat([out, prev]);
  }
  return out.subarray(0, len).toString('hex');
}

t.test('prf+ matches a straightforward RFC 7296 §2.13 implementation, lengths 1..200', async (t) => {
  for (const be of BACKENDS) {
    for (const hash of HASHES) {
      const key = new Uint8Array(randomBytes(32));
      const seed = new Uint8Array(randomBytes(64)); // Ni | Nr | SPIi | SPIr sized
      const prf = be.prf(hash);
      let bad = 0;
      for (let len = 1; len <= 200; len++) {
        const k = len % 8;
        if (hex(prfPlus(prf, at(key, k), at(seed, k), len)) !== reference(hash, key, seed, len)) bad++;
      }
      t.equal(bad, 0, `${be.name} prf+ with ${hash}: all 200 lengths agree`);
    }
  }
});

t.test('prf+ T1 = prf(K, S | 0x01): the first block is the PRF of the seed and counter 1', async (t) => {
  const key = new Uint8Array(32).fill(1);
  const seed = new Uint8Array([0xaa, 0xbb]);
  for (const be of BACKENDS) {
    const t1 = createHmac('sha256', key).update(Buffer.from([0xaa, 0xbb, 0x01])).digest('hex');
    t.equal(hex(prfPlus(be.prf('sha256'), key, seed, 32)), t1, be.name);
  }
});

t.test('prf+ refuses more than 255 blocks, with a clear error', async (t) => {
  for (const be of BACKENDS) {
    for (const hash of HASHES) {
      const prf = be.prf(hash);
      const max = PRF_PLUS_MAX_BLOCKS * prf.outLen;
      const key = new Uint8Array(prf.outLen);
      const seed = new Uint8Array(8);
      const full = prfPlus(prf, key, seed, max);
      t.equal(full.length, max, `${be.name} ${hash}: exactly 255 blocks is allowed`);
      t.equal(hex(full.subarray(max - 64)), reference(hash, key, seed, max).slice(-128), 'and the 255th block is right');
      t.throws(() => prfPlus(prf, key, seed, max + 1), { code: 'PRF_PLUS_LIMIT', message: /at most \d+ bytes \(255 blocks\)/ }, `${hash}: 256 blocks refused`);
    }
  }
});

t.test('prf+ edge cases', async (t) => {
  const prf = BACKENDS[0]!.prf('sha256');
  t.equal(prfPlus(prf, new Uint8Array(32), new Uint8Array(4), 0).length, 0, 'zero bytes is an empty result');
  t.throws(() => prfPlus(prf, new Uint8Array(32), new Uint8Array(4), -1), { code: 'BAD_LENGTH' });
  t.throws(() => prfPlus(prf, new Uint8Array(32), new Uint8Array(4), 1.5), { code: 'BAD_LENGTH' });
  const seed = new Uint8Array([1, 2, 3]);
  prfPlus(prf, new Uint8Array(32), seed, 100);
  t.same(seed, new Uint8Array([1, 2, 3]), 'the seed is not modified');
});
