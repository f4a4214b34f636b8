import t, { type Test } from 'tap';
import { createHmac } from 'node:crypto';
import type { Backend } from '../../src/crypto/types.js';
import { fromHex, hex } from '../../src/wire/bytes.js';
import { BACKENDS, OFFSETS, at, guardsIntact } from './helpers.js';
import { CBC, CHACHA, GCM_ESP, GCM_SPEC, type AeadVector } from './vectors.js';

/**
 * Combined-mode vectors through the Aead: seal gives ciphertext || tag exactly, open gives the
 * plaintext back, with every input (key, iv, aad, plaintext or sealed) a view at offset 0..7.
 */
function combinedKat(t: Test, be: Backend, v: AeadVector): void {
  for (const k of OFFSETS) {
    const key = at(v.key, k);
    const iv = at(v.iv, k);
    const aad = at(v.aad, k);
    const plain = at(v.plain, k);
    const aead = be.aead(v.suite, key, undefined);
    const sealed = aead.seal(aad, iv, plain);
    t.equal(hex(sealed), v.sealed, `${be.name} ${v.name} seal @${k}`);
    t.equal(Object.getPrototypeOf(sealed), Uint8Array.prototype, 'seal returns a plain Uint8Array');
    const opened = aead.open(aad, iv, at(v.sealed, k));
    t.same(opened, fromHex(v.plain), `${be.name} ${v.name} open @${k}`);
    t.equal(hex(plain), v.plain, 'plaintext input untouched');
    t.ok([key, iv, aad, plain].every(guardsIntact), 'nothing written around the inputs');
  }
}

for (const [title, list] of [
  ['AES-GCM: GCM spec Test Cases 2-4, 14-16 (96-bit IVs)', GCM_SPEC],
  ['AES-GCM: RFC 4106-style ESP packets (draft-mcgrew-gcm-test-01)', GCM_ESP],
  ['ChaCha20-Poly1305: RFC 8439 §2.8.2, A.5 and RFC 7634 Appendices A, B', CHACHA],
] as const) {
  t.test(title, async (t) => {
    for (const be of BACKENDS) for (const v of list) combinedKat(t, be, v);
  });
}

t.test('RFC 8439 A.5 is a decryption example: open alone recovers the plaintext', async (t) => {
  const v = CHACHA.find((x) => x.name.includes('A.5'))!;
  for (const be of BACKENDS) {
    const aead = be.aead(v.suite, fromHex(v.key));
    t.equal(hex(aead.open(fromHex(v.aad), fromHex(v.iv), fromHex(v.sealed))!), v.plain, be.name);
  }
});

t.test('RFC 4106 usage: the key material ends in the salt, the wire IV is the last 8 nonce bytes', async (t) => {
  // GCM spec Test Case 16 as an ESP SA would hold it: 36 bytes of KEYMAT = key || salt.
  const v = GCM_SPEC.find((x) => x.name.endsWith('16'))!;
  for (const be of BACKENDS) {
    const keymat = fromHex(v.key);
    t.equal(keymat.length, 36);
    const aead = be.aead('aes256gcm16', keymat);
    t.match(aead, { combined: true, ivLen: 8, icvLen: 16, blockLen: 4 });
    const sealed = aead.seal(fromHex(v.aad), fromHex(v.iv), fromHex(v.plain));
    t.equal(sealed.length, fromHex(v.plain).length + 16, 'ciphertext is as long as the plaintext, plus the ICV');
    // A different salt with the same key and IV is a different nonce: the output must change.
    const other = keymat.slice();
    other[35]! ^= 1;
    t.not(hex(be.aead('aes256gcm16', other).seal(fromHex(v.aad), fromHex(v.iv), fromHex(v.plain))), hex(sealed), `${be.name}: salt is used`);
  }
});

/** A fixed integrity key: the CBC vectors give only the cipher side, the ICV is checked structurally. */
const INTEG = fromHex('000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f');

t.test('AES-CBC + HMAC-SHA-256-128: RFC 3602 §4 Cases 1-4 and SP 800-38A F.2.5', async (t) => {
  const aadHex = 'c0ffee0100000007';
  const tailHex = '00000001';
  for (const be of BACKENDS) {
    for (const v of CBC) {
      for (const k of OFFSETS) {
        const aead = be.aead(v.suite, at(v.key, k), at(INTEG, k));
        for (const tail of [undefined, at(tailHex, k)]) {
          const aad = at(aadHex, k);
          const iv = at(v.iv, k);
          const sealed = aead.seal(aad, iv, at(v.plain, k), tail);
          const ct = hex(sealed.subarray(0, -16));
          t.equal(ct, v.ct, `${be.name} ${v.name} ciphertext @${k}`);
          // ICV = HMAC-SHA-256(aad || iv || ct || tail)[0..16), computed independently here.
          const h = createHmac('sha256', INTEG).update(fromHex(aadHex)).update(fromHex(v.iv)).update(fromHex(v.ct));
          if (tail) h.update(fromHex(tailHex));
          t.equal(hex(sealed.subarray(-16)), h.digest('hex').slice(0, 32), `${be.name} ${v.name} ICV${tail ? ' with tail' : ''} @${k}`);
          t.equal(hex(aead.open(aad, iv, at(sealed, k), tail)!), v.plain, 'opens');
          t.ok(guardsIntact(aad) && guardsIntact(iv), 'nothing written around the inputs');
        }
      }
    }
  }
});
