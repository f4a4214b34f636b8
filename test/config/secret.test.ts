import t from 'tap';
import { inspect } from 'node:util';
import { parseConfig, formatConfig, ConfigError, SecretBytes } from '../../src/config/index.js';
import { GOOD, KEY_IN, KEY_OUT, b64Of, hexOf, peer, secretPieces } from './fixtures/keys.js';

const PIECES = secretPieces(12);
const leaks = (s: string) => PIECES.filter((p) => s.includes(p));

t.test('formatConfig masks secrets', async (t) => {
  const out = formatConfig(parseConfig(GOOD));
  t.match(out, 'key-in=<secret 64 bytes> key-out=<secret 64 bytes>');
  t.same(leaks(out), []);
});

t.test('SecretBytes prints masked every usual way, and is still the bytes', async (t) => {
  const s = parseConfig(GOOD).peers[0]!.keyIn!;
  t.ok(s instanceof SecretBytes && s instanceof Uint8Array);
  t.equal(Buffer.from(s).toString('hex'), hexOf(KEY_IN));
  for (const shown of [String(s), `${s}`, JSON.stringify(s), inspect(s), inspect(parseConfig(GOOD), { depth: 9 }), JSON.stringify(parseConfig(GOOD))]) {
    t.same(leaks(shown), [], shown.slice(0, 40));
  }
  t.equal(String(s.subarray(0, 4)), '<secret 4 bytes>', 'views of a secret are secret too');
});

const H = hexOf(KEY_IN);
const B = b64Of(KEY_OUT);
const broken: [string, string][] = [
  ['wrong length', peer('').replace(/key-in=\S+/, `key-in=hex:${H.slice(0, 64)}`)],
  ['bad hex digit', peer('').replace(/key-in=\S+/, `key-in=hex:${H.slice(0, 30)}g${H.slice(31)}`)],
  ['odd-length hex', peer('').replace(/key-in=\S+/, `key-in=hex:${H.slice(1)}`)],
  ['bad base64 character', peer('').replace(/key-out=\S+/, `key-out=base64:${B.slice(0, 20)}!${B.slice(21)}`)],
  ['base64 without padding', peer('').replace(/key-out=\S+/, `key-out=base64:${B.slice(0, -1)}`)],
  ['no scheme', peer('').replace(/key-out=\S+/, `key-out=${B}`)],
  ['space inside a hex key', peer('').replace(H, `${H.slice(0, 20)} ${H.slice(20)}`)],
  ['space inside a base64 key', peer('').replace(/key-out=\S+/, `key-out=base64:${B.slice(0, 16)} ${B.slice(16)}`)],
  ['space after =', peer('').replace('key-in=', 'key-in= ')],
  ['misspelt key', peer('').replace('key-in=', 'key-n=')],
  ['= missing', peer('').replace('key-in=', 'key-in')],
  ['key in the wrong key', peer(`esp=hex:${H}`)],
  ['key at column 1', peer('') + `hex:${H}\n${B}\n`],
  ['key on an orphan line', `  ${H} ${B}\n`],
  ['key as a peer name', `peer ${H} addr=any\npeer ${B} addr=any\n`],
  ['duplicate key', peer(`key-in=base64:${B}`)],
  ['raw hex as a value', peer('').replace('key-in=hex:', 'key-in=')],
];

for (const [name, text] of broken) {
  t.test(`no secret in errors: ${name}`, async (t) => {
    const e = t.throws(() => parseConfig(text)) as ConfigError;
    t.ok(e instanceof ConfigError);
    t.same(leaks(e.message), [], e.message);
    t.same(leaks(JSON.stringify(e.problems)), []);
  });
}

t.test('secret tokens are shown by their scheme only', async (t) => {
  const e = t.throws(() => parseConfig(peer('').replace(/key-in=\S+/, `key-in=hex:${H.slice(1)}`))) as ConfigError;
  t.equal(e.message, "keys:1:138: bad value 'hex:…' for key-in in peer gw-b: odd number of hex digits (127); each byte takes two");
  t.equal(e.problems[0]!.token, 'hex:…');
});
