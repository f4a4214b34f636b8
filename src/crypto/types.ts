/**
 * The crypto seam. Everything above (ESP, IKE, inline keying) talks to these interfaces only; a
 * Backend (node:crypto, or @noble for portability and cross-checks) supplies them. Both backends
 * pass the same known-answer tests.
 */

/** The ciphers keyline speaks, named as strongSwan proposals name them. */
export type CipherSuite = 'aes128gcm16' | 'aes256gcm16' | 'chacha20poly1305' | 'aes128-sha256' | 'aes256-sha256';

export type Hash = 'sha256' | 'sha384' | 'sha512';

/**
 * One interface for combined-mode AEADs (AES-GCM per RFC 4106/5282, ChaCha20-Poly1305 per RFC
 * 7634) and for AES-CBC + HMAC-SHA2 truncated (RFC 3602 + RFC 4868), so ESP and the IKE SK
 * payload seal and open without caring which one they hold.
 *
 * Layout both ways: the caller passes `aad` (what precedes the IV on the wire: the ESP header, or
 * the IKE header plus SK payload header), the `iv` as sent, and gets ciphertext || ICV back.
 * - combined mode: nonce = salt (from the key material) || iv; AAD = aad.
 * - CBC + HMAC:    ICV = HMAC(aad || iv || ciphertext || icvTail)[0..icvLen).
 * `icvTail` exists for ESP's extended sequence numbers: with CBC+HMAC the high 32 bits are
 * appended to the ICV input (RFC 4303 §3.3.2.1), while combined modes put them inside the AAD
 * (RFC 4106 §5), which the ESP layer builds itself. `plain` must be a multiple of `blockLen` for
 * CBC (the ESP/IKE layer pads); combined modes take any length.
 */
export interface Aead {
  readonly suite: CipherSuite;
  readonly combined: boolean;
  /** Bytes of IV on the wire. */
  readonly ivLen: number;
  readonly icvLen: number;
  /** Padding alignment the caller must produce: 16 for CBC, 4 for combined modes (ESP's minimum). */
  readonly blockLen: number;
  seal(aad: Uint8Array, iv: Uint8Array, plain: Uint8Array, icvTail?: Uint8Array): Uint8Array;
  /** null when the ICV does not verify (or the input is shorter than the ICV); never throws on peer input. */
  open(aad: Uint8Array, iv: Uint8Array, sealed: Uint8Array, icvTail?: Uint8Array): Uint8Array | null;
}

/** Key material sizes per suite: encryption key (+ 4-byte salt for combined modes) and integrity key. */
export interface SuiteInfo {
  readonly suite: CipherSuite;
  readonly combined: boolean;
  /** Bytes of encryption keying material, including the salt for combined modes. */
  readonly encKeyLen: number;
  /** Bytes of integrity key (0 for combined modes). */
  readonly integKeyLen: number;
  readonly ivLen: number;
  readonly icvLen: number;
  readonly blockLen: number;
  /** IKEv2 transform numbers, for proposals and logs. */
  readonly encrId: number;
  readonly keyBits: number;
  readonly integId: number;
}

/** A pseudorandom function bound to a hash (PRF_HMAC_SHA2_*). */
export interface Prf {
  readonly hash: Hash;
  /** Output length in bytes (also the preferred key length). */
  readonly outLen: number;
  mac(key: Uint8Array, data: Uint8Array): Uint8Array;
}

export interface Backend {
  readonly name: 'node' | 'noble';
  /** Whether this backend can do the suite on this Node build (node:crypto is probed at start-up). */
  supports(suite: CipherSuite): boolean;
  /**
   * An Aead for the suite. `encKey` includes the 4-byte salt at its end for combined modes;
   * `integKey` is required for CBC suites and must be absent for combined ones.
   */
  aead(suite: CipherSuite, encKey: Uint8Array, integKey?: Uint8Array): Aead;
  prf(hash: Hash): Prf;
  randomBytes(n: number): Uint8Array;
}
