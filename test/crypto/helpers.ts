import { nodeBackend, nobleBackend } from '../../src/crypto/index.js';
import type { Backend } from '../../src/crypto/types.js';
import { fromHex } from '../../src/wire/bytes.js';

/** Every test runs against both backends. */
export const BACKENDS: readonly Backend[] = [nodeBackend, nobleBackend];

/** Byte offsets at which inputs are placed, to catch code that assumes byteOffset 0 or alignment. */
export const OFFSETS = [0, 1, 2, 3, 4, 5, 6, 7] as const;

const GUARD = 0xa5;

/**
 * A copy of `bytes` as a view starting `k` bytes into a larger ArrayBuffer, with guard bytes
 * around it: reading from `.buffer` at 0, or writing past the view, shows up.
 */
export function at(bytes: Uint8Array | string, k: number): Uint8Array {
  const src = typeof bytes === 'string' ? fromHex(bytes) : bytes;
  const whole = new Uint8Array(k + src.length + 8).fill(GUARD);
  const view = whole.subarray(k, k + src.length);
  view.set(src);
  return view;
}

/** Whether the bytes around a view made by `at` are still the guard pattern. */
export function guardsIntact(view: Uint8Array): boolean {
  const whole = new Uint8Array(view.buffer);
  for (let i = 0; i < whole.length; i++) {
    if ((i < view.byteOffset || i >= view.byteOffset + view.length) && whole[i] !== GUARD) return false;
  }
  return true;
}

/** A plain Uint8Array copy, so t.same compares contents and never Buffer-vs-Uint8Array shapes. */
export const u8 = (b: Uint8Array): Uint8Array => Uint8Array.from(b);
