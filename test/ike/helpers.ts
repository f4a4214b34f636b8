import type { Test } from 'tap';
import { MalformedError } from '../../src/wire/errors.js';
import { fromHex } from '../../src/wire/bytes.js';
import type { RawPayload } from '../../src/ike/message.js';
export { rng } from '../helpers/rng.js';

/** Run fn and check that it threw a MalformedError (not any other error); returns it. */
export function malformed(t: Test, fn: () => unknown, what?: RegExp): MalformedError | undefined {
  try {
    fn();
  } catch (e) {
    if (!(e instanceof MalformedError)) {
      t.fail(`expected MalformedError, got ${String(e)}`);
      return undefined;
    }
    if (what) t.match(e.what, what);
    else t.pass(e.message);
    return e;
  }
  t.fail('expected MalformedError, nothing thrown');
  return undefined;
}

/** A raw payload with an empty body: the rules table only looks at types and critical bits. */
export const raw = (type: number, critical = false): RawPayload => ({ type, critical, body: new Uint8Array(0) });

/** Bytes from hex with byte `at` replaced (a length field, a count, a mark). */
export function patched(hexStr: string, at: number, ...values: number[]): Uint8Array {
  const b = fromHex(hexStr);
  values.forEach((v, i) => (b[at + i] = v));
  return b;
}

