import { KeylineError } from '../wire/errors.js';
import type { Problem } from './types.js';

/** At most this many problems are kept; one typo must not bury the terminal. */
export const MAX_PROBLEMS = 20;

/**
 * A key file that cannot be used. `problems` holds every error found (up to MAX_PROBLEMS,
 * `more` counts the rest); the message lists them one per line as `file:line:column: text`.
 */
export class ConfigError extends KeylineError {
  constructor(
    readonly problems: readonly Problem[],
    readonly more = 0,
  ) {
    const lines = problems.map((p) => `${p.file}:${p.line}:${p.column}: ${p.message}`);
    if (more > 0) lines.push(`(${more} more error${more === 1 ? '' : 's'} not shown)`);
    super('CONFIG', lines.join('\n'));
    this.name = 'ConfigError';
  }
}

/** A value parser's complaint; `offset`/`token` narrow it to a part of the value (a list element). */
export class ValueError extends Error {
  constructor(
    message: string,
    readonly offset = 0,
    readonly token?: string,
  ) {
    super(message);
    this.name = 'ValueError';
  }
}

/** Collects problems up to the cap, then only counts them. */
export class Problems {
  private readonly kept: Problem[] = [];
  private dropped = 0;

  constructor(
    readonly file: string,
    readonly cap = MAX_PROBLEMS,
  ) {}

  add(line: number, column: number, token: string, message: string): void {
    if (this.kept.length < this.cap) this.kept.push({ file: this.file, line, column, token, message });
    else this.dropped++;
  }

  get count(): number {
    return this.kept.length + this.dropped;
  }

  /** Throw the collected problems, sorted by position, if there are any. */
  throwIfAny(): void {
    if (this.count === 0) return;
    const sorted = [...this.kept].sort((a, b) => a.line - b.line || a.column - b.column);
    throw new ConfigError(sorted, this.dropped);
  }
}

/** Levenshtein distance, bounded: long inputs are never near a key name anyway. */
export function editDistance(a: string, b: string): number {
  if (Math.abs(a.length - b.length) > 2 || a.length > 40) return Infinity;
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      cur.push(Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + cost));
    }
    prev = cur;
  }
  return prev[b.length]!;
}

/** The closest candidate within edit distance 2 (less for words under 3 characters), as ` (did you mean 'x'?)`, or ''. */
export function suggest(word: string, candidates: Iterable<string>): string {
  let best: string | undefined;
  let bestD = Math.min(3, word.length);
  for (const c of candidates) {
    const d = editDistance(word, c);
    if (d < bestD) [best, bestD] = [c, d];
  }
  return best === undefined ? '' : ` (did you mean '${best}'?)`;
}

const SECRET_PREFIX = /(hex|base64):\S*/g;
const WORD = /^[a-z][a-z0-9_.-]{0,31}$/;
/** Addresses, prefixes and endpoints: always contain '.' or ':', which hex and base64 never do. */
const ADDRESS_LIKE = /^[0-9A-Fa-f.:/[\]]{1,50}$/;

/**
 * Whether text holds a run that could be key material: 12+ hex digits mixing digits and
 * letters, or 12+ base64 characters mixing cases. No address, SPI, number or key name does.
 */
export function looksSecret(text: string): boolean {
  for (const [run] of text.matchAll(/[0-9a-fA-F]{12,}/g)) if (/\d/.test(run) && /[a-fA-F]/.test(run)) return true;
  for (const [run] of text.matchAll(/[A-Za-z0-9+/]{12,}/g)) if (/[a-z]/.test(run) && /[A-Z]/.test(run)) return true;
  return false;
}

/**
 * How a token we could not place is shown in a message. It may be a piece of a secret (a key
 * split by a stray space, a misspelt `key-in=`), so only shapes that cannot be secret material
 * are echoed: lowercase words (every key, directive and enum value is one) and address-like
 * text, neither looking like key material. Anything else is described by its length.
 */
export function showToken(t: string): string {
  if (/^(hex|base64|file):/.test(t)) return showValue(t);
  if (looksSecret(t)) return `<${t.length} characters>`;
  if (WORD.test(t)) return t;
  if (ADDRESS_LIKE.test(t) && /[.:]/.test(t)) return t;
  return `<${t.length} characters>`;
}

/**
 * How a value of a known, non-secret key is shown: verbatim but clipped and escaped, unless a
 * key seems to have strayed into it; `hex:`/`base64:` parts are cut after the prefix.
 */
export function showValue(v: string): string {
  if (looksSecret(v)) return `<${v.length} characters>`;
  return clip(v).replace(SECRET_PREFIX, '$1:…');
}

function clip(s: string, max = 64): string {
  const printable = s.replace(/[^\x20-\x7e]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  return printable.length > max ? printable.slice(0, max) + '…' : printable;
}
