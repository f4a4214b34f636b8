import type { CipherSuite, SuiteInfo } from './types.js';
import { ENCR, INTEG } from '../wire/iana.js';
import { KeylineError } from '../wire/errors.js';

/**
 * Sizes and IKEv2 transform numbers per suite. Combined modes carry a 4-byte salt at the end of
 * the encryption key material (RFC 4106 §8.1, RFC 7634 §2): the nonce is salt || the 8-byte IV
 * sent on the wire. CBC suites send a full 16-byte IV (RFC 3602 §3) and add an HMAC-SHA-256
 * truncated to 128 bits, keyed with 32 bytes (RFC 4868 §2.1, key length = the hash output).
 */
export const SUITES: Readonly<Record<CipherSuite, SuiteInfo>> = {
  aes128gcm16: {
    suite: 'aes128gcm16',
    combined: true,
    encKeyLen: 16 + 4,
    integKeyLen: 0,
    ivLen: 8,
    icvLen: 16,
    blockLen: 4,
    encrId: ENCR.ENCR_AES_GCM_16,
    keyBits: 128,
    integId: INTEG.NONE,
  },
  aes256gcm16: {
    suite: 'aes256gcm16',
    combined: true,
    encKeyLen: 32 + 4,
    integKeyLen: 0,
    ivLen: 8,
    icvLen: 16,
    blockLen: 4,
    encrId: ENCR.ENCR_AES_GCM_16,
    keyBits: 256,
    integId: INTEG.NONE,
  },
  chacha20poly1305: {
    suite: 'chacha20poly1305',
    combined: true,
    encKeyLen: 32 + 4,
    integKeyLen: 0,
    ivLen: 8,
    icvLen: 16,
    blockLen: 4,
    encrId: ENCR.ENCR_CHACHA20_POLY1305,
    keyBits: 256,
    integId: INTEG.NONE,
  },
  'aes128-sha256': {
    suite: 'aes128-sha256',
    combined: false,
    encKeyLen: 16,
    integKeyLen: 32,
    ivLen: 16,
    icvLen: 16,
    blockLen: 16,
    encrId: ENCR.ENCR_AES_CBC,
    keyBits: 128,
    integId: INTEG.AUTH_HMAC_SHA2_256_128,
  },
  'aes256-sha256': {
    suite: 'aes256-sha256',
    combined: false,
    encKeyLen: 32,
    integKeyLen: 32,
    ivLen: 16,
    icvLen: 16,
    blockLen: 16,
    encrId: ENCR.ENCR_AES_CBC,
    keyBits: 256,
    integId: INTEG.AUTH_HMAC_SHA2_256_128,
  },
};

export const SUITE_NAMES: readonly CipherSuite[] = Object.keys(SUITES) as CipherSuite[];

/** Bytes of salt at the end of a combined-mode key (RFC 4106 §8.1, RFC 7634 §2); CBC keys have none. */
export const SALT_LEN = 4;

export function isSuite(s: string): s is CipherSuite {
  return Object.prototype.hasOwnProperty.call(SUITES, s);
}

/** The SuiteInfo for a suite; throws on a name that is not one (a config or programming error). */
export function suiteInfo(s: CipherSuite): SuiteInfo {
  if (!isSuite(s)) throw new KeylineError('BAD_SUITE', `unknown cipher suite ${JSON.stringify(s)}`);
  return SUITES[s];
}

/**
 * Validate key material for `Backend.aead` (both backends share it, so they reject the same
 * inputs the same way). Wrong sizes are configuration or programming errors: they throw.
 */
export function checkKeys(suite: CipherSuite, encKey: Uint8Array, integKey: Uint8Array | undefined): SuiteInfo {
  const info = suiteInfo(suite);
  if (encKey.length !== info.encKeyLen) {
    const salt = info.combined ? `, including the ${SALT_LEN}-byte salt` : '';
    throw new KeylineError('BAD_KEY', `${suite} needs ${info.encKeyLen} bytes of encryption key${salt}; got ${encKey.length}`);
  }
  if (info.combined) {
    if (integKey !== undefined && integKey.length !== 0) {
      throw new KeylineError('BAD_KEY', `${suite} is a combined mode and takes no integrity key; got ${integKey.length} bytes`);
    }
  } else if (integKey === undefined || integKey.length !== info.integKeyLen) {
    throw new KeylineError('BAD_KEY', `${suite} needs a ${info.integKeyLen}-byte integrity key; got ${integKey === undefined ? 'none' : integKey.length}`);
  }
  return info;
}

/** Caller errors on the sealing side (our own packets): a wrong IV size or unpadded CBC input. */
export function checkSeal(info: SuiteInfo, iv: Uint8Array, plain: Uint8Array): void {
  if (iv.length !== info.ivLen) throw new KeylineError('BAD_IV', `${info.suite} needs a ${info.ivLen}-byte IV; got ${iv.length}`);
  if (!info.combined && plain.length % info.blockLen !== 0) {
    throw new KeylineError('BAD_LENGTH', `${info.suite} plaintext must be padded to ${info.blockLen} bytes; got ${plain.length}`);
  }
}

/**
 * Combined modes authenticate the ESN high bits inside the AAD (RFC 4106 §5, RFC 7634 §2.1), never
 * as an ICV tail. A tail handed to one is a caller bug that would leave those bits unprotected, so
 * it throws instead of being ignored. (Not peer input: the ESP layer builds the tail itself.)
 */
export function checkNoTail(info: SuiteInfo, tail: Uint8Array | undefined): void {
  if (tail !== undefined && tail.length !== 0) {
    throw new KeylineError('BAD_TAIL', `${info.suite} is a combined mode: put the ESN high bits in the AAD, not in icvTail`);
  }
}
