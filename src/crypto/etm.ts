import type { Aead, SuiteInfo } from './types.js';
import { checkSeal } from './suites.js';
import { equalCT } from '../wire/bytes.js';

/** What a backend supplies for AES-CBC + HMAC-SHA-256: raw CBC both ways (no padding) and the MAC. */
export interface CbcHmacPrimitives {
  encrypt(iv: Uint8Array, data: Uint8Array): Uint8Array;
  decrypt(iv: Uint8Array, ct: Uint8Array): Uint8Array;
  /** Full HMAC-SHA-256 over the parts in order. */
  mac(parts: readonly Uint8Array[]): Uint8Array;
}

/**
 * Encrypt-then-MAC framing shared by both backends: ICV = HMAC(aad || iv || ct || tail)
 * truncated to icvLen (RFC 4303 §2.8, RFC 4868 §2.1, RFC 7296 §3.14), verified in constant time
 * before anything is decrypted. ESP and IKE pad themselves, so the CBC has no padding of its own.
 */
export function encryptThenMac(info: SuiteInfo, p: CbcHmacPrimitives): Aead {
  const icvLen = info.icvLen;
  const icv = (aad: Uint8Array, iv: Uint8Array, ct: Uint8Array, tail: Uint8Array | undefined) =>
    p.mac(tail ? [aad, iv, ct, tail] : [aad, iv, ct]).subarray(0, icvLen);
  return {
    suite: info.suite,
    combined: false,
    ivLen: info.ivLen,
    icvLen,
    blockLen: info.blockLen,
    seal(aad, iv, data, tail) {
      checkSeal(info, iv, data);
      const ct = p.encrypt(iv, data);
      const out = new Uint8Array(ct.length + icvLen);
      out.set(ct, 0);
      out.set(icv(aad, iv, ct, tail), ct.length);
      return out;
    },
    open(aad, iv, sealed, tail) {
      if (iv.length !== info.ivLen || sealed.length < icvLen) return null;
      const n = sealed.length - icvLen;
      if (n % info.blockLen !== 0) return null;
      try {
        const ct = sealed.subarray(0, n);
        if (!equalCT(icv(aad, iv, ct, tail), sealed.subarray(n))) return null;
        return p.decrypt(iv, ct);
      } catch {
        return null;
      }
    },
  };
}
