import { randomBytes } from 'node:crypto';
import type { BackendName, RandomSource } from '../../src/crypto/dh/index.js';
import { fromHex } from '../../src/wire/bytes.js';

export const DH_BACKENDS: readonly BackendName[] = ['node', 'noble'];

/** Random test inputs straight from node:crypto, not from the code under test. */
export const rnd = (n: number): Uint8Array => new Uint8Array(randomBytes(n));

/** A RandomSource that hands out exactly `key` (hex or bytes), as a deterministic private key. */
export function fixedKey(key: Uint8Array | string): RandomSource {
  const k = typeof key === 'string' ? fromHex(key) : key;
  return (n) => {
    if (n !== k.length) throw new Error(`test key is ${k.length} bytes; ${n} asked for`);
    return k.slice();
  };
}

/** The KeylineError code `fn` throws, or 'no error'. */
export function errorCode(fn: () => unknown): string {
  try {
    fn();
    return 'no error';
  } catch (e) {
    return (e as { code?: string }).code ?? String(e);
  }
}

/** `n` as `len` big-endian bytes. */
export function beBytes(n: bigint, len: number): Uint8Array {
  return fromHex(n.toString(16).padStart(len * 2, '0'));
}

/** `n` as `len` little-endian bytes (X25519 encoding). */
export function leBytes(n: bigint, len: number): Uint8Array {
  return beBytes(n, len).reverse();
}

/** One bit flipped at `bit`, as a copy. */
export function flip(b: Uint8Array, bit: number): Uint8Array {
  const c = b.slice();
  c[bit >> 3]! ^= 1 << (bit & 7);
  return c;
}

/** A copy of `b` as a view `k` bytes into a larger buffer, to catch code that assumes byteOffset 0. */
export function at(b: Uint8Array, k: number): Uint8Array {
  const whole = new Uint8Array(k + b.length + 8).fill(0xa5);
  whole.set(b, k);
  return whole.subarray(k, k + b.length);
}
