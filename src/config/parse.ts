/**
 * The key file (default /etc/keyline/keys).
 *
 * Syntax
 * - The file is UTF-8 text; lines end in LF or CRLF. A leading byte-order mark is ignored.
 * - An entry starts on a line whose first character is not a space or tab, with a directive:
 *   `local` (at most once) or `peer NAME` (NAME is 1..32 of A-Z a-z 0-9 _ . -, unique), then
 *   `key=value` tokens.
 * - A line that starts with a space or tab continues the entry above it (RFC 822 folding). An
 *   indented line with no entry above it is an error.
 * - Tokens are separated by spaces and tabs. Values cannot contain spaces; there is no quoting.
 *   A token is split at its first '=': `key=value`.
 * - `#` starts a comment when it begins a token (at the start of a line or after white space);
 *   the rest of the line is ignored. Inside a token '#' is an ordinary character.
 * - Blank lines and comment-only lines are ignored everywhere, including inside a folded entry.
 * - Keys are case-sensitive and lowercase. Each key at most once per entry; order is free.
 * - Without a `local` entry every local key takes its default.
 * - Lists are comma-separated with no spaces: `local-net=10.0.0.0/8,192.168.0.0/16`.
 *
 * Values
 * - address: dotted-quad IPv4 (no leading zeros) or IPv6; host names are not resolved.
 * - endpoint: ADDRESS[:PORT] or [IPV6][:PORT]; PORT defaults to 4500. Port 500 is plain IKE;
 *   any other port carries IKE after the non-ESP marker, and ESP-in-UDP (RFC 3948).
 * - prefix: ADDRESS/LENGTH; host bits must be zero (the error names the network); a bare
 *   address is a host (/32, /128). tun-addr is an interface address: host bits allowed.
 * - duration: 90s, 10m, 1h, 2h30m, 1d (units d h m s in that order, each at most once), or a
 *   bare number of seconds.
 * - size: 1G, 500M, 64k (k, M, G, T in any case are powers of 1024), or bare bytes.
 * - boolean: on/off, yes/no, true/false.
 * - SPI: 0x hex or decimal, 256..0xffffffff (0 is invalid; 1..255 are reserved by IANA).
 * - secret: hex:DIGITS, base64:TEXT (RFC 4648, padded), or file:PATH (relative to the key
 *   file's directory). The file holds hex:DIGITS, base64:TEXT or bare base64, as text;
 *   all white space in it is ignored. Binary key files are not accepted.
 * - proposals (ike=, esp=): strongSwan notation, comma-separated, best first, parsed by
 *   src/ike/proposals.ts: aes256gcm16-prfsha256-x25519, aes128-sha256-modp2048 (IKE);
 *   aes256gcm16, chacha20poly1305-esn, aes128-sha256-x25519 (ESP; a group asks for PFS).
 * - identity: fqdn:NAME, user-fqdn:USER@NAME, ipv4:ADDR, ipv6:ADDR, keyid:HEX.
 *
 * Errors
 * - Every error names file:line:column of the offending token, the token, and what was
 *   expected. Parsing goes on after an error and reports all of them (the first 20, then a
 *   count); a file with any error yields no configuration at all.
 * - Secret material is never echoed: secret values show as `hex:…`, tokens that cannot be
 *   placed are shown only when they cannot be pieces of a key.
 *
 * The keys are the tables in schema.ts; cross-key rules are in validate.ts.
 */
import { dirname } from 'node:path';
import { Problems, showToken, suggest } from './errors.js';
import { applySchema, type Built } from './build.js';
import { LOCAL_SCHEMA, PEER_SCHEMA, type PeerKeys } from './schema.js';
import { tokenize, type Entry, type Token } from './tokenize.js';
import type { Config, LocalConfig, PeerConfig } from './types.js';
import { validatePeers, type BuiltLocal, type BuiltPeer } from './validate.js';
import type { ValueContext } from './values.js';

export interface ParseOptions {
  /** The key file's name: for messages, Config.file, and relative file: paths. Default 'keys'. */
  readonly file?: string;
  /** Reads file: secrets. Without it they are an error, which keeps parseConfig free of I/O. */
  readonly readFile?: (path: string) => string;
}

const PEER_NAME = /^[A-Za-z0-9_.-]{1,32}$/;
const DIRECTIVES = ['local', 'peer'];

interface Sorted {
  local?: { head: Token; keys: readonly Token[] };
  /** `name` is '' when missing or bad; `dup` marks a repeated name, parsed for errors only. */
  peers: { head: Token; name: string; keys: readonly Token[]; dup?: boolean }[];
}

const noFiles = (path: string): string => {
  throw new Error(`no file reader given for ${path}`);
};

/** Parse a key file's text. Pure: returns the configuration or throws a ConfigError listing every problem. */
export function parseConfig(text: string, opts: ParseOptions = {}): Config {
  const file = opts.file ?? 'keys';
  const p = new Problems(file);
  const values: ValueContext = { readFile: opts.readFile ?? noFiles, baseDir: dirname(file) };
  const entries = tokenize(text, (at, message) => {
    const shown = showToken(at.text);
    p.add(at.line, at.col, shown, message(shown));
  });
  const sorted = sortEntries(entries, p);
  const local = buildLocal(sorted.local, values, p);
  const peers: BuiltPeer[] = [];
  for (const e of sorted.peers) {
    const built = buildPeer(e, local.value, values, p);
    if (built) peers.push(built);
  }
  validatePeers(peers, local, p);
  p.throwIfAny();
  return { local: local.value, peers: peers.map((x) => x.value), file };
}

/** Route entries to directives, checking directive words, peer names and uniqueness. */
function sortEntries(entries: readonly Entry[], p: Problems): Sorted {
  const out: Sorted = { peers: [] };
  const names = new Map<string, number>();
  for (const { tokens } of entries) {
    const head = tokens[0]!;
    if (head.text === 'local') {
      const first = out.local?.head.line;
      if (first) p.add(head.line, head.col, 'local', `second local entry (the first is on line ${first}); put all local keys in one entry`);
      else out.local = { head, keys: tokens.slice(1) };
    } else if (head.text === 'peer') {
      const peer = peerHead(head, tokens, p);
      const first = names.get(peer.name);
      const at = peer.head;
      if (first !== undefined) p.add(at.line, at.col, peer.name, `duplicate peer '${peer.name}' (first defined on line ${first})`);
      else if (peer.name !== '') names.set(peer.name, peer.head.line);
      out.peers.push({ ...peer, dup: first !== undefined });
    } else {
      unknownDirective(head, p);
    }
  }
  return out;
}

/** The NAME after `peer`; on a problem the entry's keys are still parsed so their errors show too. */
function peerHead(head: Token, tokens: readonly Token[], p: Problems): Sorted['peers'][number] {
  const nameTok = tokens[1];
  if (nameTok === undefined || nameTok.text.includes('=')) {
    p.add(head.line, head.col, 'peer', "expected a name after 'peer' (1..32 of A-Z a-z 0-9 _ . -)");
    return { head, name: '', keys: tokens.slice(1) };
  }
  if (!PEER_NAME.test(nameTok.text)) {
    const shown = showToken(nameTok.text);
    p.add(nameTok.line, nameTok.col, shown, `bad peer name '${shown}': ${whyBadName(nameTok.text)}; expected 1..32 of A-Z a-z 0-9 _ . -`);
    return { head: nameTok, name: '', keys: tokens.slice(2) };
  }
  return { head: nameTok, name: nameTok.text, keys: tokens.slice(2) };
}

/** Names the fault rather than echoing the name, which might be a misplaced key. */
function whyBadName(name: string): string {
  if (name.length > 32) return `${name.length} characters`;
  const i = name.search(/[^A-Za-z0-9_.-]/);
  const c = name.charCodeAt(i);
  return `character ${i + 1} (${c > 0x20 && c < 0x7f ? `'${name[i]}'` : `U+${c.toString(16).padStart(4, '0')}`}) is not allowed`;
}

function unknownDirective(head: Token, p: Problems): void {
  const eq = head.text.indexOf('=');
  if (eq > 0) {
    const shown = showToken(head.text.slice(0, eq));
    p.add(head.line, head.col, shown, `'${shown}=...' in column 1 starts a new entry; indent continuation lines`);
    return;
  }
  const shown = showToken(head.text);
  p.add(head.line, head.col, shown, `unknown directive '${shown}'${suggest(head.text, DIRECTIVES)}; expected local or peer NAME`);
}

const keysOf = (s: object): string[] => Object.values(s).map((r: { key: string }) => r.key);
const LOCAL_ONLY = new Map(keysOf(LOCAL_SCHEMA).filter((k) => !keysOf(PEER_SCHEMA).includes(k)).map((k) => [k, 'the local entry']));
const PEER_ONLY = new Map(keysOf(PEER_SCHEMA).filter((k) => !keysOf(LOCAL_SCHEMA).includes(k)).map((k) => [k, 'a peer entry']));

function buildLocal(e: Sorted['local'], values: ValueContext, p: Problems): BuiltLocal {
  const head = e?.head ?? { text: 'local', line: 1, col: 1 };
  const cx = { where: 'the local entry', head, headShown: 'local', values, inherit: undefined, problems: p, elsewhere: PEER_ONLY };
  const built = applySchema(LOCAL_SCHEMA, e?.keys ?? [], cx);
  if (built) return { value: built.value, head: e?.head, ok: true };
  // On errors, peers inherit from the defaults: their own errors are still worth reporting.
  return { value: applySchema(LOCAL_SCHEMA, [], { ...cx, problems: new Problems('') })!.value, head: e?.head, ok: false };
}

function buildPeer(e: Sorted['peers'][number], local: LocalConfig, values: ValueContext, p: Problems): BuiltPeer | undefined {
  const where = e.name ? `peer ${e.name}` : 'this peer';
  const cx = { where, head: e.head, headShown: e.name || showToken(e.head.text), values, inherit: local, problems: p, elsewhere: LOCAL_ONLY };
  const built: Built<PeerKeys> | undefined = applySchema(PEER_SCHEMA, e.keys, cx);
  if (!built || !e.name || e.dup) return undefined;
  const value: PeerConfig = { name: e.name, ...built.value };
  return { value, at: built.at, head: e.head };
}
