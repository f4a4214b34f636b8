/**
 * The generic half of the key-file parser: lines, comments, folding and tokens with positions.
 * It knows nothing about directives or keys, so the schema layer can change without touching it.
 */

/** A run of non-blank characters; line and column are 1-based, columns count UTF-16 units. */
export interface Token {
  readonly text: string;
  readonly line: number;
  readonly col: number;
}

/** One directive with its continuation lines folded in: tokens[0] is the directive word. */
export interface Entry {
  readonly tokens: readonly Token[];
}

/** Problem sink: `message` gets the token as it may be shown (secret-looking text masked). */
export type Report = (at: Token, message: (shown: string) => string) => void;

const BLANKS = /[^ \t]+/g;

/** Tokens of one line, stopping at the first token that starts with '#'. */
function lineTokens(line: string, lineNo: number): Token[] {
  const out: Token[] = [];
  for (const m of line.matchAll(BLANKS)) {
    if (m[0].startsWith('#')) break;
    out.push({ text: m[0], line: lineNo, col: m.index + 1 });
  }
  return out;
}

/**
 * Split a key file into entries. A line starting at column 1 opens an entry; a line starting
 * with a space or tab continues the open one (RFC 822 folding). Blank and comment-only lines are
 * skipped wherever they are, so a comment may sit inside a folded entry. Continuation lines with
 * no entry open are reported and dropped.
 */
export function tokenize(text: string, report: Report): Entry[] {
  const entries: { tokens: Token[] }[] = [];
  let open: { tokens: Token[] } | undefined;
  const lines = text.replace(/^\uFEFF/, '').split('\n');
  lines.forEach((raw, i) => {
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    const tokens = lineTokens(line, i + 1);
    const first = tokens[0];
    if (first === undefined) return;
    if (first.col === 1) {
      open = { tokens };
      entries.push(open);
    } else if (open === undefined) {
      report(first, (t) => `indented line '${t}' continues no entry (an entry starts in column 1 with local or peer NAME)`);
    } else {
      open.tokens.push(...tokens);
    }
  });
  return entries;
}

/** A `key=value` token split at its first '='; undefined when there is no '=' or no key. */
export function splitPair(t: Token): { key: string; value: string; valueCol: number } | undefined {
  const eq = t.text.indexOf('=');
  if (eq <= 0) return undefined;
  return { key: t.text.slice(0, eq), value: t.text.slice(eq + 1), valueCol: t.col + eq + 1 };
}
