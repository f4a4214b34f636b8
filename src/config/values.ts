import { ValueError, suggest } from './errors.js';

/**
 * Value types for schema rows: each parses the text after `key=` and formats a value back in
 * the same syntax (what `keyline check` prints). Parsers throw ValueError with a reason that
 * says what was expected; they never echo secret input.
 */
export interface ValueType<T> {
  readonly parse: (text: string, ctx: ValueContext) => T;
  readonly format: (v: T) => string;
  /** Values of this type are key material: masked in messages and in formatConfig. */
  readonly secret?: boolean;
}

/** What value parsers may reach outside the text: only file: secrets use it. */
export interface ValueContext {
  readFile(path: string): string;
  /** Directory of the key file, for relative file: paths. */
  readonly baseDir: string;
}

const DECIMAL = /^(0|[1-9][0-9]{0,15})$/;

function decimal(text: string, what: string): number {
  if (!DECIMAL.test(text) || !Number.isSafeInteger(Number(text))) throw new ValueError(`expected ${what}`);
  return Number(text);
}

export function integer(min: number, max: number): ValueType<number> {
  const what = `a decimal integer ${min}..${max}`;
  return {
    parse: (text) => {
      const n = decimal(text, what);
      if (n < min || n > max) throw new ValueError(`${n} is out of range; expected ${min}..${max}`);
      return n;
    },
    format: String,
  };
}

const DURATION = /^(?:(\d{1,9})d)?(?:(\d{1,9})h)?(?:(\d{1,9})m)?(?:(\d{1,9})s)?$/;
const UNIT_SECONDS = [86400, 3600, 60, 1] as const;
const UNIT_NAMES = ['d', 'h', 'm', 's'] as const;

/** Seconds, written `90s`, `10m`, `2h30m`, `1d` (units in that order, each once) or bare seconds. */
export function duration(min: number, max: number): ValueType<number> {
  const what = `a duration ${fmtDuration(min)}..${fmtDuration(max)} like 90s, 10m, 2h30m or 1d (a bare number is seconds)`;
  return {
    parse: (text) => {
      const n = /^\d+$/.test(text) ? decimal(text, what) : unitSeconds(text, what);
      if (n < min || n > max) throw new ValueError(`${fmtDuration(n)} is out of range; expected ${fmtDuration(min)}..${fmtDuration(max)}`);
      return n;
    },
    format: fmtDuration,
  };
}

function unitSeconds(text: string, what: string): number {
  const m = DURATION.exec(text);
  if (!m || text === '') throw new ValueError(`expected ${what}`);
  return m.slice(1).reduce((sum, g, i) => sum + Number(g ?? 0) * UNIT_SECONDS[i]!, 0);
}

export function fmtDuration(n: number): string {
  if (n === 0) return '0s';
  let rest = n;
  return UNIT_SECONDS.map((u, i) => {
    const q = Math.floor(rest / u);
    rest -= q * u;
    return q ? `${q}${UNIT_NAMES[i]}` : '';
  }).join('');
}

const SIZE = /^(\d{1,15})([kKmMgGtT]?)$/;
const SIZE_UNITS = ['', 'k', 'M', 'G', 'T'] as const;

/** Bytes, with binary suffixes k, M, G, T (any case: 64k = 65536). */
export function size(min: number, max: number): ValueType<number> {
  const what = `a size ${min}..${fmtSize(max)} like 64k, 500M or 1G (k, M, G, T are powers of 1024; a bare number is bytes)`;
  return {
    parse: (text) => {
      const m = SIZE.exec(text);
      if (!m || (m[1]!.length > 1 && m[1]!.startsWith('0'))) throw new ValueError(`expected ${what}`);
      const unit = SIZE_UNITS.findIndex((u) => u.toLowerCase() === m[2]!.toLowerCase());
      const n = Number(m[1]) * 1024 ** unit;
      if (!Number.isSafeInteger(n) || n < min || n > max) throw new ValueError(`${text} is out of range; expected ${min}..${fmtSize(max)}`);
      return n;
    },
    format: fmtSize,
  };
}

function fmtSize(n: number): string {
  for (let u = SIZE_UNITS.length - 1; u > 0; u--) {
    if (n !== 0 && n % 1024 ** u === 0) return `${n / 1024 ** u}${SIZE_UNITS[u]}`;
  }
  return String(n);
}

const TRUE_WORDS = ['on', 'yes', 'true'];
const FALSE_WORDS = ['off', 'no', 'false'];

export const bool: ValueType<boolean> = {
  parse: (text) => {
    if (TRUE_WORDS.includes(text)) return true;
    if (FALSE_WORDS.includes(text)) return false;
    throw new ValueError(`expected on/off, yes/no or true/false${suggest(text, [...TRUE_WORDS, ...FALSE_WORDS])}`);
  },
  format: (v) => (v ? 'on' : 'off'),
};

/** One of a fixed set of words; `aliases` map extra spellings onto them. */
export function oneOf<const V extends readonly string[]>(
  values: V,
  aliases: Readonly<Record<string, V[number]>> = {},
): ValueType<V[number]> {
  return {
    parse: (text) => {
      if (values.includes(text)) return text as V[number];
      if (Object.hasOwn(aliases, text)) return aliases[text]!;
      throw new ValueError(`expected one of ${values.join(', ')}${suggest(text, values)}`);
    },
    format: (v) => v,
  };
}

/** A word matching `re`; `what` describes it for the error. */
export function word(re: RegExp, what: string): ValueType<string> {
  return {
    parse: (text) => {
      if (!re.test(text)) throw new ValueError(`expected ${what}`);
      return text;
    },
    format: (v) => v,
  };
}

const SPI_MIN = 256;
const SPI_RANGE = 'expected 256..0xffffffff, in hex (0x...) or decimal';

/** An ESP SPI. 0 is never sent and 1..255 are reserved by IANA (RFC 4303 §2.1). */
export const spi: ValueType<number> = {
  parse: (text) => {
    const n = /^0[xX][0-9a-fA-F]{1,8}$/.test(text) ? parseInt(text.slice(2), 16) : decimal(text, `an SPI: ${SPI_RANGE}`);
    if (n === 0) throw new ValueError(`SPI 0 is never valid (RFC 4303 §2.1); ${SPI_RANGE}`);
    if (n < SPI_MIN) throw new ValueError(`SPI ${n} is reserved (1..255 are reserved by IANA); ${SPI_RANGE}`);
    if (n > 0xffffffff) throw new ValueError(`SPI ${n} does not fit in 32 bits; ${SPI_RANGE}`);
    return n;
  },
  format: (v) => '0x' + v.toString(16),
};

/** A duration where 0 or the word `off` turns the thing off; printed as `off`. */
export function durationOrOff(max: number): ValueType<number> {
  const d = duration(0, max);
  return {
    parse: (text, ctx) => {
      if (text === 'off') return 0;
      try {
        return d.parse(text, ctx);
      } catch (e) {
        throw e instanceof ValueError ? new ValueError(`${e.message}, or off`) : e;
      }
    },
    format: (v) => (v === 0 ? 'off' : d.format(v)),
  };
}

/**
 * A comma-separated list (no spaces, no empty elements, no duplicates, at most `max`). Errors
 * point at the offending element.
 */
export function listOf<T>(item: ValueType<T>, max = 32): ValueType<readonly T[]> {
  return {
    parse: (text, ctx) => {
      const parts = text.split(',');
      if (parts.length > max) throw new ValueError(`too many elements (${parts.length}); at most ${max}`);
      const seen = new Set<string>();
      let at = 0;
      return parts.map((part) => {
        const start = at;
        at += part.length + 1;
        if (part === '') throw new ValueError('empty list element; expected elements separated by single commas, no spaces', start, part);
        const v = withOffset(() => item.parse(part, ctx), start, part);
        const key = item.format(v);
        if (seen.has(key)) throw new ValueError(`${key} is listed twice`, start, part);
        seen.add(key);
        return v;
      });
    },
    format: (vs) => vs.map(item.format).join(','),
    secret: item.secret,
  };
}

/** Run a parser on a part of a value, moving its error to that part. */
export function withOffset<T>(f: () => T, offset: number, part: string): T {
  try {
    return f();
  } catch (e) {
    if (e instanceof ValueError) throw new ValueError(e.message, offset + e.offset, e.token ?? part);
    throw e;
  }
}
