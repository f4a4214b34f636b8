import t from 'tap';
import { parseConfig, formatConfig, ConfigError, MAX_PROBLEMS } from '../../src/config/index.js';
import { GOOD, IKE_LOCAL, ikePeer, peer, secretPieces } from './fixtures/keys.js';
import { rng } from '../helpers/rng.js';

/**
 * Random edits of valid files must only ever give a Config or a ConfigError: never another
 * exception, never a malformed problem, never a piece of a secret in a message. Seeded, so a
 * failure reproduces; bounded by time so the suite stays fast.
 */
const BUDGET_MS = 2000;
const BASES = [
  GOOD,
  'local listen=0.0.0.0:4500,[::1]:4501 mtu=1400 tun-addr=2001:db8::1/64 id=keyid:0a0b\n' +
    peer('lifetime=1h life-bytes=1G esn=off').replace(/\s(remote-net)/, '\n\t$1') +
    '# end\n',
  IKE_LOCAL +
    ikePeer('ike=aes256gcm16-prfsha256-x25519,aes128-sha256-modp2048 esp=aes256gcm16-esn,aes128-sha256-x25519 dpd=off')
      .replace(' remote-net', '\n  remote-net') +
    ikePeer('id=fqdn:road.example start=wait rekey-margin=5m', 'road').replace('addr=192.0.2.2', 'addr=any'),
];
const ALPHABET = [' ', '\t', '\n', '\r', '#', '=', ',', ':', '/', '[', ']', '.', '0', 'f', 'x', 'Z', '-', '%', 'é', '\u0000', 'hex:', 'base64:', 'file:', 'peer ', 'local '];
const PIECES = secretPieces(16);


function mutate(s: string, r: () => number): string {
  const pick = <T>(a: readonly T[]): T => a[Math.floor(r() * a.length)]!;
  const at = Math.floor(r() * (s.length + 1));
  const lines = s.split('\n');
  switch (Math.floor(r() * 7)) {
    case 0:
      return s.slice(0, at) + s.slice(at + 1 + Math.floor(r() * 4));
    case 1:
      return s.slice(0, at) + pick(ALPHABET) + s.slice(at);
    case 2:
      return s.slice(0, at) + pick(ALPHABET) + s.slice(at + 1);
    case 3:
      return lines.filter((_, i) => i !== Math.floor(r() * lines.length)).join('\n');
    case 4: {
      const i = Math.floor(r() * lines.length);
      return [...lines.slice(0, i), lines[i]!, ...lines.slice(i)].join('\n');
    }
    case 5:
      return s.slice(0, at);
    default: {
      const from = Math.floor(r() * s.length);
      return s.slice(0, at) + s.slice(from, from + Math.floor(r() * 12)) + s.slice(at);
    }
  }
}

t.test('random edits give a Config or a ConfigError', async (t) => {
  const r = rng(0x6b65796c);
  const end = Date.now() + BUDGET_MS;
  let runs = 0;
  let configs = 0;
  const failures: string[] = [];
  while (Date.now() < end && failures.length < 5) {
    let text = BASES[runs % BASES.length]!;
    for (let n = 1 + Math.floor(r() * 3); n > 0; n--) text = mutate(text, r);
    runs++;
    try {
      formatConfig(parseConfig(text));
      configs++;
    } catch (e) {
      const why = checkError(e, text);
      if (why) failures.push(`${why}\n--- input ${JSON.stringify(text)}`);
    }
  }
  t.same(failures, [], `${runs} runs, ${configs} still valid`);
  t.ok(runs > 100, `enough runs (${runs})`);
});

/** What is wrong with an error thrown by parseConfig, or undefined if it is a proper ConfigError. */
function checkError(e: unknown, text: string): string | undefined {
  if (!(e instanceof ConfigError)) return `not a ConfigError: ${(e as Error)?.stack ?? String(e)}`;
  if (e.problems.length === 0 || e.problems.length > MAX_PROBLEMS) return `${e.problems.length} problems`;
  for (const p of e.problems) {
    if (!(p.line >= 1 && p.column >= 1) || p.message === '') return `bad problem ${JSON.stringify(p)}`;
  }
  // Peer names are shown as written: a name that passes the name check is an identifier, not a key.
  const names = [...text.matchAll(/^peer[ \t]+([A-Za-z0-9_.-]{1,32})(?=[ \t\r\n]|$)/gm)].map((m) => m[1]!);
  const shown = (piece: string) => !names.some((n) => n.includes(piece));
  const leaked = PIECES.filter(shown).find((piece) => e.message.includes(piece) || e.problems.some((p) => p.token.includes(piece)));
  return leaked ? `secret piece ${leaked} in: ${e.message}` : undefined;
}
