/**
 * The key file parser (src/config): random edits of valid files must only ever give a Config or a
 * ConfigError: never another exception, never a malformed problem, never a piece of a secret in a
 * message.
 */
import t from 'tap';
import { parseConfig, formatConfig, ConfigError, MAX_PROBLEMS } from '../../src/config/index.js';
import { GOOD, IKE_LOCAL, ikePeer, peer, secretPieces } from '../config/fixtures/keys.js';
import { fuzz } from './harness.js';
import { mutateText, pick } from './mutate.js';

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
const ALPHABET = [' ', '\t', '\n', '\r', '#', '=', ',', ':', '/', '[', ']', '.', '0', 'f', 'x', 'Z', '-', '%', 'é', '\u0000', 'hex:', 'base64:', 'file:', 'peer ', 'local ', 'inline=on ', 'keying=manual ', '9'.repeat(40)];
const PIECES = secretPieces(16);

t.test('random edits of key files give a Config or a ConfigError', async (t) => {
  let configs = 0;
  await fuzz(t, 'config', {
    make: (r) => mutateText(r, pick(r, BASES), ALPHABET),
    show: (text) => JSON.stringify(text),
    run: (text) => {
      try {
        formatConfig(parseConfig(text));
        configs++;
        return undefined;
      } catch (e) {
        return checkError(e, text);
      }
    },
  });
  t.ok(configs > 0, `${configs} edits were still valid`);
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
