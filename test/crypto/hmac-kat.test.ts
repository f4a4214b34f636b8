import t from 'tap';
import { fromHex, hex } from '../../src/wire/bytes.js';
import { BACKENDS, OFFSETS, at, guardsIntact } from './helpers.js';
import { RFC4231, RFC4868_AUTH256 } from './vectors.js';

const OUT_LEN = { sha256: 32, sha384: 48, sha512: 64 } as const;

t.test('PRF HMAC-SHA-256/384/512: RFC 4231 Test Cases 1-7', async (t) => {
  for (const be of BACKENDS) {
    for (const v of RFC4231) {
      const prf = be.prf(v.hash);
      t.equal(prf.outLen, OUT_LEN[v.hash]);
      for (const k of OFFSETS) {
        const key = at(v.key, k);
        const data = at(v.data, k);
        const out = prf.mac(key, data);
        t.equal(out.length, prf.outLen, 'full-length output');
        // Test Case 5 gives only the first 128 bits: compare the prefix the RFC gives.
        t.equal(hex(out).slice(0, v.mac.length), v.mac, `${be.name} ${v.name} @${k}`);
        t.ok(guardsIntact(key) && guardsIntact(data));
      }
    }
  }
});

t.test('PRF_HMAC_SHA2_256: RFC 4868 §2.7.2.1 AUTH256-1..4 (PRF-HMAC-SHA-256 values)', async (t) => {
  for (const be of BACKENDS) {
    for (const v of RFC4868_AUTH256) {
      for (const k of OFFSETS) t.equal(hex(be.prf('sha256').mac(at(v.key, k), at(v.data, k))), v.prf, `${be.name} ${v.name} @${k}`);
    }
  }
});

/**
 * AUTH_HMAC_SHA2_256_128 inside the CBC Aead: the ICV covers aad || iv || ct || tail, so an RFC
 * 4868 message split into those pieces, with the RFC's 128-bit value as the ICV, must verify.
 * (Any 16-byte key works for AES here; open() returns whatever the block decrypts to.)
 */
const SPLITS: Record<string, { aad: number; iv: number; ct: number; tail: number }> = {
  'AUTH256-2': { aad: 10, iv: 16, ct: 0, tail: 2 }, // 28 bytes, distinct ASCII: fixes the aad/iv/tail order
  'AUTH256-3': { aad: 0, iv: 16, ct: 32, tail: 2 },
  'AUTH256-4': { aad: 2, iv: 16, ct: 32, tail: 0 },
};

t.test('AUTH_HMAC_SHA2_256_128: RFC 4868 §2.7.2.1 truncated ICVs verify through the CBC Aead', async (t) => {
  const aesKey = new Uint8Array(16).fill(7);
  for (const be of BACKENDS) {
    for (const v of RFC4868_AUTH256) {
      const split = SPLITS[v.name];
      if (!split) continue; // AUTH256-1 ("Hi There", 8 bytes) cannot hold a 16-byte IV
      for (const k of OFFSETS) {
        const aead = be.aead('aes128-sha256', aesKey, at(v.key, k));
        const d = fromHex(v.data);
        let o = 0;
        const take = (n: number) => at(d.subarray(o, (o += n)), k);
        const aad = take(split.aad);
        const iv = take(split.iv);
        const ct = take(split.ct);
        const tail = split.tail ? take(split.tail) : undefined;
        const sealed = at(Buffer.concat([ct, fromHex(v.icv)]), k);
        t.ok(aead.open(aad, iv, sealed, tail), `${be.name} ${v.name} ICV ${v.icv} verifies @${k}`);
        const wrong = sealed.slice();
        wrong[wrong.length - 1]! ^= 0x80;
        t.equal(aead.open(aad, iv, wrong, tail), null, 'a changed ICV does not');
      }
    }
  }
});
