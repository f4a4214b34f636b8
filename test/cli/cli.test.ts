/**
 * The command line as an operator meets it: the built bundle, run as a child process, with exit
 * codes and messages (README "Exit codes").
 */
import t from 'tap';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const BUNDLE = resolve('dist/keyline.js');
const keyline = (...args: string[]) => spawnSync(process.execPath, [BUNDLE, ...args], { encoding: 'utf8', timeout: 20_000 });

const dir = mkdtempSync(join(tmpdir(), 'keyline-cli-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const KEY = 'ab'.repeat(64);
const GOOD = [
  'local listen=0.0.0.0:4500 tun=kl0 tun-addr=198.51.100.1/24',
  'peer gw-b addr=192.0.2.2 keying=manual esp=aes256-sha256',
  `    local-net=198.51.100.0/24 remote-net=203.0.113.0/24 spi-in=0x1001 spi-out=0x2001 key-in=hex:${KEY} key-out=hex:${KEY.replace(/a/g, 'c')}`,
  '',
].join('\n');

function file(name: string, text: string, mode = 0o600): string {
  const p = join(dir, name);
  writeFileSync(p, text);
  chmodSync(p, mode);
  return p;
}

t.test('help, version and unknown commands', async (t) => {
  t.equal(keyline('--help').status, 0);
  t.match(keyline('help').stdout, /usage: keyline <command>/);
  t.match(keyline('version').stdout, /^\d+\.\d+\.\d+/);
  const bad = keyline('frobnicate');
  t.equal(bad.status, 2);
  t.match(bad.stderr, /unknown command 'frobnicate'/);
  t.equal(keyline().status, 2, 'no command is a usage error');
  t.equal(keyline('run', '--bogus').status, 2, 'unknown option');
});

t.test('check prints the effective configuration with secrets masked', async (t) => {
  const r = keyline('check', file('good.keys', GOOD));
  t.equal(r.status, 0, r.stderr);
  t.match(r.stdout, /peer gw-b .*spi-in=0x1001/s);
  t.match(r.stdout, /<secret 64 bytes>/);
  t.notMatch(r.stdout, /abab|cbcb/, 'no key bytes');
  t.notMatch(r.stdout, new RegExp(Buffer.from(KEY, 'hex').toString('base64').slice(0, 12)), 'not even as base64');
});

t.test('a bad key file: exit 2, file:line:column and the token, nothing else', async (t) => {
  const r = keyline('check', file('bad.keys', GOOD.replace('remote-net=', 'remote-nte=')));
  t.equal(r.status, 2);
  t.match(r.stderr, /bad\.keys:3:\d+: unknown key 'remote-nte' in peer gw-b \(did you mean 'remote-net'\?\)/);
  t.notMatch(r.stderr, /abab/);
});

t.test('a key file readable by others is refused unless --insecure-perms', async (t) => {
  const p = file('open.keys', GOOD, 0o644);
  const r = keyline('check', p);
  t.equal(r.status, 2);
  t.match(r.stderr, /permissions 0644 are too open/);
  t.equal(keyline('check', p, '--insecure-perms').status, 0);
});

t.test('run refuses what this build cannot do, naming it', async (t) => {
  const r = keyline('run', '--config', file('memory.keys', GOOD.replace('tun=kl0', 'driver=memory tun=kl0')));
  t.equal(r.status, 2);
  t.match(r.stderr, /driver=memory is not available in this build \(use driver=userspace or driver=xfrm\)/);
  const noTun = keyline('run', '--config', file('notun.keys', GOOD.replace(' tun-addr=198.51.100.1/24', '')));
  t.equal(noTun.status, 2);
  t.match(noTun.stderr, /tun-addr is required/);
  const missing = keyline('run', '--config', join(dir, 'nope.keys'));
  t.equal(missing.status, 2);
  t.match(missing.stderr, /nope\.keys/);
});

t.test('genpsk prints a 32-byte secret in key-file notation', async (t) => {
  const out = execFileSync(process.execPath, [BUNDLE, 'genpsk'], { encoding: 'utf8' }).trim();
  t.match(out, /^base64:[A-Za-z0-9+/]{43}=$/);
});

t.test('the bundle runs with no node_modules anywhere', async (t) => {
  const lone = join(dir, 'lone');
  execFileSync('mkdir', ['-p', lone]);
  execFileSync('cp', [BUNDLE, join(lone, 'keyline.js')]);
  const r = spawnSync(process.execPath, [join(lone, 'keyline.js'), '--help'], { encoding: 'utf8', cwd: lone, env: { PATH: process.env.PATH ?? '' } });
  t.equal(r.status, 0, r.stderr);
  t.match(r.stdout, /usage: keyline/);
});

t.test('manual keys with a combined-mode suite are refused (RFC 8221 §5)', async (t) => {
  const gcm = GOOD.replace('aes256-sha256', 'aes256gcm16').replace(new RegExp(KEY, 'g'), 'ab'.repeat(36));
  const r = keyline('check', file('gcm.keys', gcm));
  t.equal(r.status, 2);
  t.match(r.stderr, /gcm\.keys:2:\d+: esp=aes256gcm16 cannot be used with keying=manual/);
});

t.test('check prints a keying=ike peer with its defaults and the psk masked', async (t) => {
  const PSK = '5a'.repeat(12) + 'c3'.repeat(20);
  const ike = [
    'local id=fqdn:gw-a.example tun-addr=198.51.100.1/24',
    `peer gw-b addr=192.0.2.2 psk=hex:${PSK} local-net=198.51.100.0/24 remote-net=203.0.113.0/24`,
    `peer road addr=any id=fqdn:road.example psk=base64:${Buffer.from(PSK, 'hex').toString('base64')}`,
    '    local-net=198.51.100.0/24 remote-net=10.9.0.0/16',
    '',
  ].join('\n');
  const r = keyline('check', file('ike.keys', ike));
  t.equal(r.status, 0, r.stderr);
  t.match(r.stdout, /^local id=fqdn:gw-a\.example listen=0\.0\.0\.0:500,0\.0\.0\.0:4500 /m);
  t.match(r.stdout, /^peer gw-b addr=192\.0\.2\.2:4500 keying=ike id=ipv4:192\.0\.2\.2 psk=<secret 32 bytes> ike=aes256gcm16-prfsha256-x25519,/m);
  t.match(r.stdout, /^peer road addr=any keying=ike id=fqdn:road\.example psk=<secret 32 bytes> .* start=wait dpd=30s dpd-timeout=2m retransmit-timeout=2s retransmit-tries=5 lifetime=1h ike-lifetime=4h rekey-margin=9m inline=off$/m);
  t.notMatch(r.stdout, /5a5a|c3c3|WlpaWlpa|w8PDw8PD/, 'no psk bytes, as hex or base64');
  const short = keyline('check', file('short.keys', ike.replace(`psk=hex:${PSK}`, `psk=hex:${PSK.slice(0, 30)}`)));
  t.equal(short.status, 2);
  t.match(short.stderr, /short\.keys:2:30: psk of peer gw-b is 15 bytes; at least 16 are needed: a short PSK can be brute-forced offline/);
  t.notMatch(short.stderr, /5a5a/);
});
