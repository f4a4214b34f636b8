import t from 'tap';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig, ConfigError } from '../../src/config/index.js';
import type { KeylineError } from '../../src/wire/errors.js';
import { GOOD, KEY_FILE, b64Of, hexOf } from './fixtures/keys.js';
import { fakeFs } from './fixtures/fs.js';

const TOO_OPEN = (path: string, mode: string, what = 'the key file') =>
  `${path}: permissions ${mode} are too open; ${what} must be readable by its owner only (chmod 600), or run with --insecure-perms`;

t.test('key file permissions: owner-only passes, anything more is refused', async (t) => {
  for (const mode of [0o600, 0o400]) t.equal(loadConfig('keys', { fs: fakeFs({ keys: [mode, GOOD] }) }).peers.length, 1);
  for (const [mode, text] of [
    [0o644, '0644'],
    [0o640, '0640'],
    [0o602, '0602'],
    [0o620, '0620'],
    [0o666, '0666'],
  ] as const) {
    const e = t.throws(() => loadConfig('keys', { fs: fakeFs({ keys: [mode, GOOD] }) })) as KeylineError;
    t.equal(e.code, 'CONFIG_PERMS');
    t.equal(e.message, TOO_OPEN('keys', text));
  }
});

t.test('--insecure-perms accepts an open key file', async (t) => {
  const c = loadConfig('keys', { insecurePerms: true, fs: fakeFs({ keys: [0o644, GOOD] }) });
  t.equal(c.file, 'keys');
});

t.test('file: secrets are read through the same fs, with the same check', async (t) => {
  const text = GOOD.replace(/key-in=\S+/, 'key-in=file:gw-b.in');
  const files = (mode: number): Record<string, [number, string]> => ({
    '/etc/keyline/keys': [0o600, text],
    '/etc/keyline/gw-b.in': [mode, `hex:${hexOf(KEY_FILE)}\n`],
  });
  const c = loadConfig('/etc/keyline/keys', { fs: fakeFs(files(0o600)) });
  t.equal(Buffer.from(c.peers[0]!.keyIn!).toString('hex'), hexOf(KEY_FILE));
  const e = t.throws(() => loadConfig('/etc/keyline/keys', { fs: fakeFs(files(0o644)) })) as ConfigError;
  t.equal(e.code, 'CONFIG');
  t.equal(
    e.message,
    "/etc/keyline/keys:6:41: bad value 'file:gw-b.in' for key-in in peer gw-b: " + TOO_OPEN('/etc/keyline/gw-b.in', '0644', 'a secret file'),
  );
  t.doesNotThrow(() => loadConfig('/etc/keyline/keys', { insecurePerms: true, fs: fakeFs(files(0o644)) }));
});

t.test('unreadable paths are CONFIG_READ', async (t) => {
  const gone = t.throws(() => loadConfig('nope', { fs: fakeFs({}) })) as KeylineError;
  t.equal(gone.code, 'CONFIG_READ');
  t.equal(gone.message, 'nope: cannot read: ENOENT');
  const dir = t.throws(() => loadConfig('d', { fs: fakeFs({ d: [0o755, ''] }) })) as KeylineError;
  t.equal(dir.message, 'd: not a regular file');
  const big = t.throws(() => loadConfig('big', { fs: fakeFs({ big: [0o600, '#'.repeat(2 << 20)] }) })) as KeylineError;
  t.equal(big.message, 'big: 2097152 bytes is too big for the key file');
});

t.test('the real file system', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'keyline-config-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const keys = join(dir, 'keys');
  writeFileSync(keys, GOOD.replace(/key-out=\S+/, 'key-out=file:out.key'));
  writeFileSync(join(dir, 'out.key'), `${b64Of(KEY_FILE)}\n`);
  chmodSync(keys, 0o644);
  chmodSync(join(dir, 'out.key'), 0o600);
  const e = t.throws(() => loadConfig(keys)) as KeylineError;
  t.equal(e.code, 'CONFIG_PERMS');
  t.equal(e.message, TOO_OPEN(keys, '0644'));
  chmodSync(keys, 0o600);
  t.equal(Buffer.from(loadConfig(keys).peers[0]!.keyOut!).toString('hex'), hexOf(KEY_FILE));
});
