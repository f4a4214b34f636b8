import { isAbsolute, join } from 'node:path';
import { KeylineError } from '../wire/errors.js';
import { ValueError, showValue } from './errors.js';
import type { ValueContext, ValueType } from './values.js';

const INSPECT = Symbol.for('nodejs.util.inspect.custom');
const MAX_SECRET = 1024;

export const maskSecret = (n: number): string => `<secret ${n} bytes>`;

/**
 * Key material from the key file. It is a Uint8Array (crypto takes it as is), but printing it
 * any usual way (String(), template strings, JSON.stringify, console.log / util.inspect) shows
 * only `<secret N bytes>`, so a stray log line of a config object leaks nothing.
 */
export class SecretBytes extends Uint8Array {
  static copyOf(bytes: Uint8Array): SecretBytes {
    const s = new SecretBytes(bytes.length);
    s.set(bytes);
    return s;
  }
  override toString(): string {
    return maskSecret(this.length);
  }
  toJSON(): string {
    return maskSecret(this.length);
  }
  [INSPECT](): string {
    return maskSecret(this.length);
  }
}

/** Decode to a SecretBytes, wiping the intermediate buffer (Node may pool small Buffers). */
function own(buf: Buffer): SecretBytes {
  const s = SecretBytes.copyOf(buf);
  buf.fill(0);
  if (s.length === 0) throw new ValueError('the secret is empty');
  if (s.length > MAX_SECRET) throw new ValueError(`the secret is ${s.length} bytes; at most ${MAX_SECRET}`);
  return s;
}

function fromHex(digits: string): SecretBytes {
  const bad = digits.search(/[^0-9a-fA-F]/);
  if (bad >= 0) throw new ValueError(`character ${bad + 1} of the hex digits is not a hex digit`);
  if (digits.length % 2 !== 0) throw new ValueError(`odd number of hex digits (${digits.length}); each byte takes two`);
  return own(Buffer.from(digits, 'hex'));
}

/** Standard base64 (RFC 4648 §4) with padding, and canonical: Node's decoder silently skips junk. */
function fromBase64(text: string): SecretBytes {
  const bad = text.search(/[^A-Za-z0-9+/=]/);
  if (bad >= 0) throw new ValueError(`character ${bad + 1} of the base64 text is not in the base64 alphabet (A-Z a-z 0-9 + /)`);
  const buf = Buffer.from(text, 'base64');
  if (text.length % 4 !== 0 || !/^[^=]*={0,2}$/.test(text) || buf.toString('base64') !== text) {
    buf.fill(0);
    throw new ValueError(`malformed base64 (${text.length} characters; expected padded groups of 4)`);
  }
  return own(buf);
}

/** `hex:...` or `base64:...`; in a file, also bare base64 (what `wg genkey` and `openssl rand -base64` write). */
function decode(text: string, inFile: boolean): SecretBytes {
  if (text.startsWith('hex:')) return fromHex(text.slice(4));
  if (text.startsWith('base64:')) return fromBase64(text.slice(7));
  if (inFile) return fromBase64(text);
  throw new ValueError('expected hex:DIGITS, base64:TEXT or file:PATH');
}

function readSecretFile(path: string, ctx: ValueContext): SecretBytes {
  if (path === '') throw new ValueError('expected a path after file:');
  const full = isAbsolute(path) ? path : join(ctx.baseDir, path);
  const shown = showValue(full);
  let content: string;
  try {
    content = ctx.readFile(full);
  } catch (e) {
    // loadConfig's reader throws KeylineErrors that already say what is wrong (permissions).
    const err = e as NodeJS.ErrnoException;
    const why = e instanceof KeylineError ? e.message : `cannot read ${full}: ${err.code ?? err.message}`;
    throw new ValueError(why.split(full).join(shown));
  }
  // Whitespace anywhere is dropped: trailing newlines from echo, base64 wrapped by openssl.
  const text = content.replace(/\s+/g, '');
  if (text.startsWith('file:')) throw new ValueError(`${shown} holds a file: reference; it must hold the key itself`);
  try {
    return decode(text, true);
  } catch (e) {
    if (e instanceof ValueError) throw new ValueError(`in ${shown}: ${e.message}`);
    throw e;
  }
}

/**
 * A secret: `hex:00ff...`, `base64:AAEC...`, or `file:PATH` (relative to the key file's
 * directory) whose content is `hex:...`, `base64:...` or bare base64, whitespace ignored.
 * Binary files are not accepted: a text form is what genpsk prints and what survives copy-paste.
 */
export const secret: ValueType<Uint8Array> = {
  parse: (text, ctx) => (text.startsWith('file:') ? readSecretFile(text.slice(5), ctx) : decode(text, false)),
  format: (v) => maskSecret(v.length),
  secret: true,
};

/** How a secret value is shown in a message: file: paths are not secret, key material is. */
export function showSecretValue(text: string): string {
  if (text.startsWith('file:')) return showValue(text);
  const scheme = /^(hex|base64):/.exec(text);
  return scheme ? `${scheme[1]}:…` : `<${text.length} characters>`;
}

const X25519_KEY_LEN = 32;

/**
 * An X25519 key as `keyline genkey` / `keyline pubkey` print it: bare base64 of 32 bytes (like
 * wg), also `base64:`, `hex:` or (private keys) `file:PATH`. Private keys are masked like any
 * secret; public keys print as they are written.
 */
export function x25519Key(isPrivate: boolean): ValueType<Uint8Array> {
  return {
    parse: (text, ctx) => {
      const bytes = text.startsWith('file:') && isPrivate ? secret.parse(text, ctx) : decode(text, true);
      if (bytes.length !== X25519_KEY_LEN) throw new ValueError(`an X25519 key is ${X25519_KEY_LEN} bytes; this is ${bytes.length}`);
      return isPrivate ? bytes : Uint8Array.from(bytes);
    },
    format: (v) => (isPrivate ? maskSecret(v.length) : Buffer.from(v).toString('base64')),
    ...(isPrivate && { secret: true }),
  };
}
