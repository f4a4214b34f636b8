import { cbc, gcm } from '@noble/ciphers/aes.js';
import { chacha20poly1305 } from '@noble/ciphers/chacha.js';
import { hmac } from '@noble/hashes/hmac.js';
import { sha256, sha384, sha512 } from '@noble/hashes/sha2.js';
import { encryptThenMac } from './etm.js';
import type { Aead, Backend, Hash, Prf, SuiteInfo } from './types.js';
import { checkKeys, checkNoTail, checkSeal, SALT_LEN } from './suites.js';
import { KeylineError } from '../wire/errors.js';

/**
 * The @noble backend: pure JS, audited, no native code. It runs wherever Node runs (whatever
 * OpenSSL the router's Node was built against), and it is the independent implementation the
 * tests cross-check node:crypto against. Slower: noble expands the AES key on every call, and
 * there is no API to keep the schedule, so each packet pays for it.
 */

const HASHES = { sha256, sha384, sha512 } as const;

function combinedAead(info: SuiteInfo, encKey: Uint8Array): Aead {
  const keyLen = info.encKeyLen - SALT_LEN;
  // Copies: the caller may reuse or wipe its buffers after keying the SA.
  const key = encKey.slice(0, keyLen);
  const salt = encKey.slice(keyLen);
  const make = info.suite === 'chacha20poly1305' ? chacha20poly1305 : gcm;
  const nonceFor = (iv: Uint8Array): Uint8Array => {
    // Fresh per call: noble's cipher objects are single-use and may hold on to the nonce.
    const nonce = new Uint8Array(12);
    nonce.set(salt, 0);
    nonce.set(iv, SALT_LEN);
    return nonce;
  };
  return {
    suite: info.suite,
    combined: true,
    ivLen: info.ivLen,
    icvLen: info.icvLen,
    blockLen: info.blockLen,
    seal(aad, iv, data, tail) {
      checkSeal(info, iv, data);
      checkNoTail(info, tail);
      return make(key, nonceFor(iv), aad).encrypt(data);
    },
    open(aad, iv, sealed, tail) {
      checkNoTail(info, tail);
      if (iv.length !== info.ivLen || sealed.length < info.icvLen) return null;
      try {
        return make(key, nonceFor(iv), aad).decrypt(sealed); // throws on a bad tag
      } catch {
        return null;
      }
    },
  };
}

function cbcHmacAead(info: SuiteInfo, encKey: Uint8Array, integKey: Uint8Array): Aead {
  const key = encKey.slice();
  // HMAC keyed once; each packet clones the keyed state instead of re-hashing the key pads.
  const keyed = hmac.create(sha256, integKey);
  return encryptThenMac(info, {
    encrypt: (iv, data) => cbc(key, iv, { disablePadding: true }).encrypt(data),
    decrypt: (iv, ct) => cbc(key, iv, { disablePadding: true }).decrypt(ct),
    mac(parts) {
      const h = keyed.clone();
      for (const part of parts) h.update(part);
      return h.digest();
    },
  });
}

const prfs = new Map<Hash, Prf>();

function prf(hash: Hash): Prf {
  let p = prfs.get(hash);
  if (!p) {
    const h = HASHES[hash];
    if (h === undefined) throw new KeylineError('BAD_HASH', `unknown hash ${JSON.stringify(hash)}`);
    p = { hash, outLen: h.outputLen, mac: (key, data) => hmac(h, key, data) };
    prfs.set(hash, p);
  }
  return p;
}

/** WebCrypto's getRandomValues (a global in Node 20) fills at most 65536 bytes per call. */
function randomBytes(n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let o = 0; o < n; o += 65536) globalThis.crypto.getRandomValues(out.subarray(o, Math.min(n, o + 65536)));
  return out;
}

export const nobleBackend: Backend = {
  name: 'noble',
  supports: () => true,
  aead(suite, encKey, integKey) {
    const info = checkKeys(suite, encKey, integKey);
    return info.combined ? combinedAead(info, encKey) : cbcHmacAead(info, encKey, integKey!);
  },
  prf,
  randomBytes,
};
