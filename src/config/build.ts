import type { Problems } from './errors.js';
import { ValueError, showToken, showValue, suggest } from './errors.js';
import { showSecretValue } from './secret.js';
import type { Row, Schema } from './schema.js';
import type { Token } from './tokenize.js';
import { splitPair } from './tokenize.js';
import type { ValueContext } from './values.js';

/** The generic half of entry parsing: key=value tokens checked against a schema table. */

/** A parsed entry plus where each explicit key's value sits, for the validation pass to point at. */
export interface Built<C> {
  readonly value: C;
  readonly at: ReadonlyMap<string, Token>;
}

export interface EntryContext<X> {
  /** For messages: 'peer gw-b' or 'the local entry'. */
  readonly where: string;
  /** The token a missing key is reported at, and how it is shown. */
  readonly head: Token;
  readonly headShown: string;
  readonly values: ValueContext;
  readonly inherit: X;
  readonly problems: Problems;
  /** Keys of other directives, so a key on the wrong line gets a hint instead of a guess. */
  readonly elsewhere?: ReadonlyMap<string, string>;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- rows of one table hold different T
type AnyRow<C, X> = Row<any, C, X>;

/** Parse `tokens` (all key=value) against `schema`; undefined if any of them had a problem. */
export function applySchema<C, X>(schema: Schema<C, X>, tokens: readonly Token[], cx: EntryContext<X>): Built<C> | undefined {
  const rows = new Map<string, [keyof C, AnyRow<C, X>]>();
  for (const f of Object.keys(schema) as (keyof C)[]) rows.set(schema[f].key, [f, schema[f]]);
  const out: Partial<Record<keyof C, unknown>> = {};
  const at = new Map<string, Token>();
  const before = cx.problems.count;
  for (const t of tokens) setKey(t, rows, out, at, cx);
  for (const [key, [f, row]] of rows) {
    if (at.has(key)) continue;
    if (row.required) {
      const msg = `missing required key '${key}' in ${cx.where}; ${key} is ${row.doc}`;
      cx.problems.add(cx.head.line, cx.head.col, cx.headShown, msg);
    } else if (row.default !== undefined) out[f] = row.default;
  }
  for (const [key, [f, row]] of rows) {
    if (!at.has(key) && row.derive) out[f] = row.derive(out as Partial<C>, cx.inherit);
  }
  if (cx.problems.count !== before) return undefined;
  // Fields in table order, whatever the file's order: stable output for logs and tests.
  const value: Partial<Record<keyof C, unknown>> = {};
  for (const [f] of rows.values()) if (out[f] !== undefined) value[f] = out[f];
  return { value: value as C, at };
}

function setKey<C, X>(
  t: Token,
  rows: ReadonlyMap<string, [keyof C, AnyRow<C, X>]>,
  out: Partial<Record<keyof C, unknown>>,
  at: Map<string, Token>,
  cx: EntryContext<X>,
): void {
  const p = cx.problems;
  const pair = splitPair(t);
  if (!pair) {
    const shown = showToken(t.text);
    p.add(t.line, t.col, shown, `expected key=value in ${cx.where}, found '${shown}' (values cannot contain spaces)`);
    return;
  }
  const { key, value, valueCol } = pair;
  const entry = rows.get(key);
  if (!entry) {
    const shown = showToken(key);
    const other = cx.elsewhere?.get(key);
    const hint = other ? ` ('${key}' belongs in ${other})` : suggest(key, rows.keys());
    p.add(t.line, t.col, shown, `unknown key '${shown}' in ${cx.where}${hint}`);
    return;
  }
  const first = at.get(key);
  if (first) {
    p.add(t.line, t.col, key, `duplicate key '${key}' in ${cx.where} (first set on line ${first.line})`);
    return;
  }
  const [field, row] = entry;
  at.set(key, { text: value, line: t.line, col: valueCol });
  try {
    out[field] = row.type.parse(value, cx.values);
  } catch (e) {
    if (!(e instanceof ValueError)) throw e;
    const part = e.token ?? value;
    const shown = row.type.secret ? showSecretValue(part) : showValue(part);
    p.add(t.line, valueCol + e.offset, shown, `bad value '${shown}' for ${key} in ${cx.where}: ${e.message}`);
  }
}
