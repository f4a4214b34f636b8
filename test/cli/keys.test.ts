/**
 * Key commands for keying=x25519-static as an operator meets them (the built bundle, run as a
 * child process; `node build.mjs` first): `keyline genkey`, `keyline genkey | keyline pubkey`, and
 * `keyline check` of a key file with privkey= and pubkey=.
 */
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { publicFromPrivate } from '../../src/inline/keys.js';

const BUNDLE = resolve('dist/keyline.js');
const keyline = (args: string[], input?: string) => spawnSync(process.execPath, [BUNDLE, ...args], { encoding: 'utf8', timeout: 20_000, input: input ?? '' });
const B64_KEY = /^[A-Za-z0-9+/]{43}=$/;

const dir = mkdtempSync(join(tmpdir(), 'keyline-keys-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, text: string, mode = 0o600): string {
  const p = join(dir, name);
  writeFileSync(p, text);
  chmodSync(p, mode);
  return p;
}

/** A private key from `keyline genkey`, and its bytes. */
function genkey(): { text: string; bytes: Uint8Array } {
  const r = keyline(['genkey']);
  if (r.status !== 0) throw new Error(`genkey: ${r.status} ${r.stderr}`);
  const text = r.stdout.trim();
  return { text, bytes: new Uint8Array(Buffer.from(text, 'base64')) };
}

/** `keyline pubkey` of a private key given on stdin. */
function pubkey(priv: string): string {
  const r = keyline(['pubkey'], priv);
  if (r.status !== 0) throw new Error(`pubkey: ${r.status} ${r.stderr}`);
  return r.stdout.trim();
}

t.test('genkey prints a new X25519 private key: 44 base64 characters, 32 bytes', async (t) => {
  const r = keyline(['genkey']);
  t.equal(r.status, 0, r.stderr);
  t.equal(r.stderr, '');
  t.match(r.stdout, /^[A-Za-z0-9+/]{43}=\n$/, 'bare base64 and a newline, like `wg genkey`');
  t.equal(Buffer.from(r.stdout.trim(), 'base64').length, 32);
  t.equal(Buffer.from(r.stdout.trim(), 'base64').toString('base64'), r.stdout.trim(), 'canonical base64');
  t.not(genkey().text, genkey().text, 'a new key every time');
});

t.test('genkey | pubkey prints the matching public key', async (t) => {
  const priv = genkey();
  const r = keyline(['pubkey'], priv.text + '\n');
  t.equal(r.status, 0, r.stderr);
  t.match(r.stdout, /^[A-Za-z0-9+/]{43}=\n$/);
  const pub = r.stdout.trim();
  t.equal(pub, Buffer.from(publicFromPrivate(priv.bytes)).toString('base64'), 'the public key of that private key');
  t.not(pub, priv.text);
  t.equal(pubkey(priv.text), pub, 'without the newline too');
  t.equal(pubkey(`base64:${priv.text}`), pub, 'base64: as in the key file');
  t.equal(pubkey(`hex:${Buffer.from(priv.bytes).toString('hex')}\n`), pub, 'hex: as in the key file');
  t.equal(pubkey(genkey().text) === pub, false, 'another private key, another public key');
});

t.test('pubkey with something else on stdin: exit 2, a message, and stdin not echoed', async (t) => {
  const PREFIX = "keyline: pubkey: stdin is not a private key from 'keyline genkey': ";
  for (const [what, input, why] of [
    ['garbage', 'this is not a key!\n', 'character 5 of the base64 text is not in the base64 alphabet (A-Z a-z 0-9 + /)'],
    ['nothing', '', 'the secret is empty'],
    ['a 16-byte key', Buffer.alloc(16, 0x5a).toString('base64'), 'an X25519 key is 32 bytes; this is 16'],
    ['a key cut short', genkey().text.slice(0, 42), 'malformed base64 (42 characters; expected padded groups of 4)'],
  ] as const) {
    const r = keyline(['pubkey'], input);
    t.equal(r.status, 2, what);
    t.equal(r.stdout, '', `${what}: nothing on stdout`);
    t.equal(r.stderr, PREFIX + why + '\n', what);
  }
  const secretish = Buffer.alloc(24, 0xa7).toString('base64'); // 24 bytes: the wrong length
  const r = keyline(['pubkey'], secretish);
  t.equal(r.status, 2);
  t.notMatch(r.stderr, secretish.slice(0, 12), 'what was on stdin is not repeated');
});

t.test('keyline check on keying=x25519-static files of two routers', async (t) => {
  const a = genkey();
  const b = genkey();
  const [pubA, pubB] = [pubkey(a.text), pubkey(b.text)];
  const aKeys = file(
    'a.keys',
    [
      `local tun-addr=198.51.100.1/24 privkey=${a.text}`,
      `peer gw-b addr=192.0.2.2 keying=x25519-static pubkey=${pubB}`,
      '    local-net=198.51.100.0/24 remote-net=203.0.113.0/24',
      '',
    ].join('\n'),
  );
  const r = keyline(['check', aKeys]);
  t.equal(r.status, 0, r.stderr);
  t.match(r.stdout, / privkey=<secret 32 bytes> /);
  t.match(r.stdout, new RegExp(`^peer gw-b addr=192\\.0\\.2\\.2:4500 keying=x25519-static esp=aes256gcm16 mode=tunnel .* pubkey=${pubB.replace(/[+/]/g, '\\$&')} inline=on inline-scope=host-pair `, 'm'));
  for (const leak of [a.text.slice(0, 12), a.text.slice(20, 32), Buffer.from(a.bytes).toString('hex').slice(0, 16)]) t.notMatch(r.stdout, leak, 'no piece of the private key');

  // B keeps its private key in a file next to the key file, owner-only like the key file.
  file('b.key', `${b.text}\n`);
  const bText = [
    'local tun-addr=203.0.113.1/24 privkey=file:b.key',
    `peer gw-a addr=192.0.2.1 keying=x25519-static pubkey=${pubA} local-net=203.0.113.0/24 remote-net=198.51.100.0/24`,
    '',
  ].join('\n');
  const bKeys = file('b.keys', bText);
  const rb = keyline(['check', bKeys]);
  t.equal(rb.status, 0, rb.stderr);
  t.match(rb.stdout, / privkey=<secret 32 bytes> /);
  t.notMatch(rb.stdout, b.text.slice(0, 12));
  chmodSync(join(dir, 'b.key'), 0o644);
  const open = keyline(['check', bKeys]);
  t.equal(open.status, 2);
  t.match(open.stderr, /b\.keys:1:39: bad value 'file:b\.key' for privkey in the local entry: .*b\.key: permissions 0644 are too open; a secret file must be readable by its owner only/);
  t.equal(keyline(['check', bKeys, '--insecure-perms']).status, 0, '--insecure-perms');
  chmodSync(join(dir, 'b.key'), 0o600);

  // A key file readable by others: refused unless --insecure-perms, as any key file.
  const wide = file('wide.keys', bText, 0o644);
  t.equal(keyline(['check', wide]).status, 2);
  t.equal(keyline(['check', wide, '--insecure-perms']).status, 0);
});

t.test('keyline check: x25519-static mistakes exit 2 with file:line:column', async (t) => {
  const a = genkey();
  const peer = (pub: string) => `peer gw-b addr=192.0.2.2 keying=x25519-static pubkey=${pub} local-net=198.51.100.0/24 remote-net=203.0.113.0/24\n`;
  const noPriv = keyline(['check', file('nopriv.keys', 'local tun-addr=198.51.100.1/24\n' + peer(pubkey(genkey().text)))]);
  t.equal(noPriv.status, 2);
  t.match(noPriv.stderr, /nopriv\.keys:1:1: keying=x25519-static in peer gw-b needs this router's private key: privkey= on the local entry/);
  const bad = keyline(['check', file('badpub.keys', `local privkey=${a.text}\n` + peer('not!base64'))]);
  t.equal(bad.status, 2);
  t.match(bad.stderr, /badpub\.keys:2:54: bad value 'not!base64' for pubkey in peer gw-b/);
  t.notMatch(bad.stderr, a.text.slice(0, 12), 'the private key is not in the message');
  const low = keyline(['check', file('low.keys', `local tun-addr=198.51.100.1/24 privkey=${a.text}\n` + peer(Buffer.alloc(32).toString('base64')))]);
  t.equal(low.status, 2);
  t.match(low.stderr, /peer gw-b: pubkey is not a usable X25519 public key \(a low-order point\)/);
  t.ok(B64_KEY.test(a.text), 'genkey keys are what the key file takes');
});
