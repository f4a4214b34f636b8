import type { Prf } from './types.js';
import { KeylineError } from '../wire/errors.js';

/** prf+ stops at 255 blocks: the counter is a single octet (RFC 7296 §2.13). */
export const PRF_PLUS_MAX_BLOCKS = 255;

/**
 * prf+ (RFC 7296 §2.13), the IKEv2 key expansion:
 *
 *   prf+ (K,S) = T1 | T2 | T3 | ...
 *   T1 = prf (K, S | 0x01)
 *   Tn = prf (K, Tn-1 | S | n)
 *
 * Returns the first `len` bytes. More than 255 blocks would need the counter to wrap, which the
 * RFC forbids, so that is refused instead of silently repeating key material.
 */
export function prfPlus(prf: Prf, key: Uint8Array, seed: Uint8Array, len: number): Uint8Array {
  if (!Number.isSafeInteger(len) || len < 0) throw new KeylineError('BAD_LENGTH', `prf+ length must be a non-negative integer; got ${len}`);
  const blocks = Math.ceil(len / prf.outLen);
  if (blocks > PRF_PLUS_MAX_BLOCKS) {
    throw new KeylineError(
      'PRF_PLUS_LIMIT',
      `prf+ with ${prf.hash} yields at most ${PRF_PLUS_MAX_BLOCKS * prf.outLen} bytes (255 blocks); asked for ${len}`,
    );
  }
  const out = new Uint8Array(len);
  // One input buffer, reused: [T(n-1)] | S | n. The first round has no previous block.
  const input = new Uint8Array(prf.outLen + seed.length + 1);
  input.set(seed, prf.outLen);
  let t: Uint8Array | undefined;
  for (let n = 1, o = 0; n <= blocks; n++, o += prf.outLen) {
    input[input.length - 1] = n;
    t = prf.mac(key, t ? input : input.subarray(prf.outLen));
    out.set(t.length > len - o ? t.subarray(0, len - o) : t, o);
    input.set(t, 0);
  }
  input.fill(0); // the last block is key material
  return out;
}
