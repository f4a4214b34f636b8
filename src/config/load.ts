import { readFileSync, statSync } from 'node:fs';
import { KeylineError } from '../wire/errors.js';
import { parseConfig } from './parse.js';
import type { Config } from './types.js';

/** What loadConfig needs of the file system; tests pass a fake. */
export interface ConfigFs {
  readFile(path: string): string;
  stat(path: string): { readonly mode: number; readonly size: number; isFile(): boolean };
}

export interface LoadOptions {
  /** Accept key and secret files that group or others may read or write (--insecure-perms). */
  readonly insecurePerms?: boolean;
  readonly fs?: ConfigFs;
}

export const DEFAULT_KEY_FILE = '/etc/keyline/keys';
/** A key file is a few lines per peer; anything this big is a wrong path, not a config. */
const MAX_FILE = 1 << 20;

const nodeFs: ConfigFs = { readFile: (p) => readFileSync(p, 'utf8'), stat: (p) => statSync(p) };

/**
 * Read, check and parse a key file. Like ssh with private keys, a file that group or others
 * can read or write is refused (CONFIG_PERMS): it holds keys, and a writable one lets others
 * choose our keys. file: secrets get the same check, reported at their token.
 */
export function loadConfig(path: string, opts: LoadOptions = {}): Config {
  const fs = opts.fs ?? nodeFs;
  const checked = (p: string, what: string): string => {
    const st = io(p, () => fs.stat(p));
    if (!st.isFile()) throw new KeylineError('CONFIG_READ', `${p}: not a regular file`);
    if (st.size > MAX_FILE) throw new KeylineError('CONFIG_READ', `${p}: ${st.size} bytes is too big for ${what}`);
    if ((st.mode & 0o077) !== 0 && !opts.insecurePerms) throw permsError(p, st.mode, what);
    return io(p, () => fs.readFile(p));
  };
  const text = checked(path, 'the key file');
  return parseConfig(text, { file: path, readFile: (p) => checked(p, 'a secret file') });
}

function permsError(path: string, mode: number, what: string): KeylineError {
  const octal = (mode & 0o777).toString(8).padStart(4, '0');
  return new KeylineError(
    'CONFIG_PERMS',
    `${path}: permissions ${octal} are too open; ${what} must be readable by its owner only (chmod 600), or run with --insecure-perms`,
  );
}

/** File-system failures as CONFIG_READ with the errno code, e.g. "keys: cannot read: ENOENT". */
function io<T>(path: string, f: () => T): T {
  try {
    return f();
  } catch (e) {
    if (e instanceof KeylineError) throw e;
    const err = e as NodeJS.ErrnoException;
    throw new KeylineError('CONFIG_READ', `${path}: cannot read: ${err.code ?? err.message}`);
  }
}
