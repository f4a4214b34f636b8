import {
  createCipheriv,
  createDecipheriv,
  createHmac,
  createSecretKey,
  getCiphers,
  getHashes,
  randomFillSync,
  type Cipher,
  type CipherGCMTypes,
  type Decipher,
  type KeyObject,
} from 'node:crypto';
import { encryptThenMac } from './etm.js';
import type { Aead, Backend, CipherSuite, Hash, Prf, SuiteInfo } from './types.js';
import { checkKeys, checkNoTail, checkSeal, SALT_LEN } from './suites.js';
import { KeylineError } from '../wire/errors.js';

/**
 * The node:crypto backend: OpenSSL underneath, so AES-NI / ARMv8 crypto extensions where the CPU
 * has them. On OpenWrt, Node is built against the system OpenSSL, which may lack a cipher
 * (chacha20-poly1305 in some builds), hence the probe behind `supports()`.
 */

const ALG: Record<CipherSuite, string> = {
  aes128gcm16: 'aes-128-gcm',
  aes256gcm16: 'aes-256-gcm',
  chacha20poly1305: 'chacha20-poly1305',
  'aes128-sha256': 'aes-128-cbc',
  'aes256-sha256': 'aes-256-cbc',
};

const HASH_LEN: Record<Hash, number> = { sha256: 32, sha384: 48, sha512: 64 };

let probed: Map<CipherSuite, boolean> | undefined;

/**
 * Probed once, on first use (not at import: importing must stay free of side effects). A name in
 * getCiphers() is not enough on OpenSSL 3, which lists ciphers its loaded providers cannot fetch
 * (FIPS mode drops ChaCha20), so each one is also instantiated once.
 */
function probe(suite: CipherSuite): boolean {
  probed ??= new Map();
  let ok = probed.get(suite);
  if (ok === undefined) {
    ok = getCiphers().includes(ALG[suite]) && tryCipher(ALG[suite]);
    if (ok && ALG[suite].endsWith('-cbc')) ok = getHashes().includes('sha256');
    probed.set(suite, ok);
  }
  return ok;
}

function tryCipher(alg: string): boolean {
  try {
    const keyLen = alg.startsWith('aes-128') ? 16 : 32;
    const ivLen = alg.endsWith('-cbc') ? 16 : 12;
    createCipheriv(alg, Buffer.alloc(keyLen), Buffer.alloc(ivLen)).final();
    return true;
  } catch {
    return false;
  }
}

/** A Buffer as a plain Uint8Array over the same memory (no copy), so callers see one type. */
const plain = (b: Buffer): Uint8Array => new Uint8Array(b.buffer, b.byteOffset, b.byteLength);

function combinedAead(info: SuiteInfo, encKey: Uint8Array): Aead {
  const keyLen = info.encKeyLen - SALT_LEN;
  // Keyed once, as a KeyObject: the key bytes live in native memory, off the JS heap. OpenSSL
  // still expands the key per cipher context (node:crypto cannot keep a context across packets);
  // measured, a KeyObject costs the same per packet as a raw Buffer key.
  const key: KeyObject = createSecretKey(encKey.subarray(0, keyLen));
  // Nonce = salt || iv (RFC 4106 §4, RFC 7634 §2). One scratch buffer per Aead: createCipheriv
  // copies the IV before returning, so reuse is safe, and seal/open are synchronous.
  const nonce = Buffer.alloc(12);
  nonce.set(encKey.subarray(keyLen), 0);
  // Typed as GCM for the overloads; ChaCha20-Poly1305 has the same setAAD/getAuthTag surface.
  const alg = ALG[info.suite] as CipherGCMTypes;
  const tagLen = info.icvLen;
  return {
    suite: info.suite,
    combined: true,
    ivLen: info.ivLen,
    icvLen: tagLen,
    blockLen: info.blockLen,
    seal(aad, iv, data, tail) {
      checkSeal(info, iv, data);
      checkNoTail(info, tail);
      nonce.set(iv, SALT_LEN);
      const c = createCipheriv(alg, key, nonce, { authTagLength: tagLen });
      c.setAAD(aad);
      const ct = c.update(data);
      c.final(); // GCM and ChaCha20-Poly1305 are stream-like: final() emits no bytes
      const out = new Uint8Array(ct.length + tagLen);
      out.set(ct, 0);
      out.set(c.getAuthTag(), ct.length);
      return out;
    },
    open(aad, iv, sealed, tail) {
      checkNoTail(info, tail);
      if (iv.length !== info.ivLen || sealed.length < tagLen) return null;
      const n = sealed.length - tagLen;
      let pt: Buffer | undefined;
      try {
        nonce.set(iv, SALT_LEN);
        const d = createDecipheriv(alg, key, nonce, { authTagLength: tagLen });
        d.setAuthTag(sealed.subarray(n));
        d.setAAD(aad);
        pt = d.update(sealed.subarray(0, n));
        d.final(); // throws when the tag does not verify
        return plain(pt);
      } catch {
        pt?.fill(0); // plaintext of a forgery: do not leave it around
        return null;
      }
    },
  };
}

function cbcHmacAead(info: SuiteInfo, encKey: Uint8Array, integKey: Uint8Array): Aead {
  const key = createSecretKey(encKey);
  const macKey = createSecretKey(integKey);
  const alg = ALG[info.suite];
  const run = (c: Cipher | Decipher, data: Uint8Array) => {
    c.setAutoPadding(false);
    const out = c.update(data);
    c.final();
    return plain(out);
  };
  return encryptThenMac(info, {
    encrypt: (iv, data) => run(createCipheriv(alg, key, iv), data),
    decrypt: (iv, ct) => run(createDecipheriv(alg, key, iv), ct),
    mac(parts) {
      const h = createHmac('sha256', macKey);
      for (const part of parts) h.update(part);
      return plain(h.digest());
    },
  });
}

const prfs = new Map<Hash, Prf>();

function prf(hash: Hash): Prf {
  let p = prfs.get(hash);
  if (!p) {
    const outLen = HASH_LEN[hash];
    if (outLen === undefined) throw new KeylineError('BAD_HASH', `unknown hash ${JSON.stringify(hash)}`);
    p = { hash, outLen, mac: (key, data) => plain(createHmac(hash, key).update(data).digest()) };
    prfs.set(hash, p);
  }
  return p;
}

export const nodeBackend: Backend = {
  name: 'node',
  supports: probe,
  aead(suite, encKey, integKey) {
    const info = checkKeys(suite, encKey, integKey);
    if (!probe(suite)) throw new KeylineError('UNSUPPORTED', `${suite}: this Node build's OpenSSL lacks ${ALG[suite]}`);
    return info.combined ? combinedAead(info, encKey) : cbcHmacAead(info, encKey, integKey!);
  },
  prf,
  randomBytes(n) {
    // A fresh Uint8Array that owns its ArrayBuffer: callers may view `.buffer` from offset 0,
    // which a pooled Buffer would break.
    const out = new Uint8Array(n);
    randomFillSync(out);
    return out;
  },
};
