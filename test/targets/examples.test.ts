/**
 * The example key files and the key file the package installs: keyline's own parser accepts
 * them, the two sides of each example agree, and nothing under targets/ names an address
 * outside the documentation prefixes (RFC 5737, RFC 3849).
 */
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { BUNDLE, EXAMPLES, FILES, ROOT, run } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'keyline-examples-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

const check = (file: string) => run(process.execPath, [BUNDLE, 'check', file, '--insecure-perms']);

/** Entries of a key file as the README describes them: `local`/`peer NAME` with key=value tokens. */
function entries(text: string): Map<string, Map<string, string>> {
  const out = new Map<string, Map<string, string>>();
  let current: Map<string, string> | undefined;
  for (const line of text.split('\n')) {
    const tokens = line.split(/\s+/).filter(Boolean);
    const hash = tokens.findIndex((tok) => tok.startsWith('#'));
    if (hash >= 0) tokens.length = hash;
    if (tokens.length === 0) continue;
    if (!/^\s/.test(line)) {
      const name = tokens[0] === 'peer' ? `peer ${tokens[1]}` : tokens[0]!;
      out.set(name, (current = new Map()));
      tokens.splice(0, tokens[0] === 'peer' ? 2 : 1);
    }
    for (const tok of tokens) current?.set(tok.slice(0, tok.indexOf('=')), tok.slice(tok.indexOf('=') + 1));
  }
  return out;
}

const examples = readdirSync(EXAMPLES).sort();

t.test('every example passes keyline check', async (t) => {
  t.same(examples, ['keys.roadwarrior.gw-a', 'keys.roadwarrior.laptop', 'keys.site-to-site.gw-a', 'keys.site-to-site.gw-b']);
  for (const f of examples) {
    const r = check(join(EXAMPLES, f));
    t.equal(r.status, 0, `${f}${r.stderr ? `: ${r.stderr}` : ''}`);
    t.match(r.stdout, /^local id=/m, `${f}: local entry`);
    t.notMatch(r.stdout, /base64:|hex:/, `${f}: the check output masks the key`);
  }
});

t.test('the two sides of each example mirror each other', async (t) => {
  for (const [a, b] of [
    ['keys.site-to-site.gw-a', 'keys.site-to-site.gw-b'],
    ['keys.roadwarrior.gw-a', 'keys.roadwarrior.laptop'],
  ] as const) {
    const ea = entries(readFileSync(join(EXAMPLES, a), 'utf8'));
    const eb = entries(readFileSync(join(EXAMPLES, b), 'utf8'));
    const peersA = [...ea.keys()].filter((k) => k.startsWith('peer '));
    const peersB = [...eb.keys()].filter((k) => k.startsWith('peer '));
    t.equal(peersA.length, 1, `${a}: one peer`);
    t.equal(peersB.length, 1, `${b}: one peer`);
    const pa = ea.get(peersA[0]!)!;
    const pb = eb.get(peersB[0]!)!;
    t.equal(pa.get('id'), eb.get('local')?.get('id'), `${a} expects the identity ${b} proves`);
    t.equal(pb.get('id'), ea.get('local')?.get('id'), `${b} expects the identity ${a} proves`);
    t.equal(pa.get('psk'), pb.get('psk'), 'the same key on both sides');
    t.equal(pa.get('local-net'), pb.get('remote-net'), 'local-net of one is remote-net of the other');
    t.equal(pa.get('remote-net'), pb.get('local-net'), 'and the other way round');
    t.ok(pa.get('start') === 'wait' || pb.get('start') === 'wait' || pa.get('addr') === 'any', 'one side only initiates');
  }
});

t.test('the installed key file: comments only, and a working example once uncommented', async (t) => {
  const text = readFileSync(join(FILES, 'keys'), 'utf8');
  t.same([...entries(text).keys()], [], 'no entry: keyline is not started until the operator writes one');
  // Its example entries are the lines starting with '#' directly followed by the entry.
  const uncommented = text.replace(/^#(?=local |peer |\s{4})/gm, '');
  const e = entries(uncommented);
  t.same([...e.keys()], ['local', 'peer gw-b', 'peer laptop']);
  const keys = join(dir, 'keys');
  writeFileSync(keys, uncommented, { mode: 0o600 });
  for (const [name, peer] of e) {
    const psk = peer.get('psk');
    if (!psk) continue;
    t.match(psk, /^file:[\w.-]+\.psk$/, `${name}: a psk file next to the key file, no key in the package`);
    const p = join(dir, psk.slice(5));
    writeFileSync(p, execFileSync(process.execPath, [BUNDLE, 'genpsk'], { encoding: 'utf8' }));
    chmodSync(p, 0o600);
  }
  const r = run(process.execPath, [BUNDLE, 'check', keys]);
  t.equal(r.status, 0, r.stderr);
});

/** Every file under dir, recursively. */
const walk = (d: string): string[] => readdirSync(d).flatMap((n) => (statSync(join(d, n)).isDirectory() ? walk(join(d, n)) : [join(d, n)]));

t.test('only documentation addresses', async (t) => {
  const v4doc = /^(192\.0\.2|198\.51\.100|203\.0\.113)\.\d+$/;
  const v4ok = (a: string) => v4doc.test(a) || a === '0.0.0.0' || a === '127.0.0.1';
  // files/keyline.js, if there, is a copy of the bundle (ignored by git), not a target file.
  for (const f of walk(join(ROOT, 'targets')).filter((f) => f !== join(FILES, 'keyline.js'))) {
    const text = readFileSync(f, 'utf8');
    const v4 = [...text.matchAll(/(?<![\d.])\d{1,3}(?:\.\d{1,3}){3}(?![\d.])/g)].map((m) => m[0]);
    const v6 = [...text.matchAll(/(?<![\w:])[0-9a-f]{1,4}(?::[0-9a-f]{0,4}){2,7}(?![\w:])/gi)].map((m) => m[0]);
    t.same(v4.filter((a) => !v4ok(a)), [], `${relative(ROOT, f)}: IPv4 in 192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24`);
    t.same(v6.filter((a) => !/^2001:db8:/i.test(a)), [], `${relative(ROOT, f)}: IPv6 in 2001:db8::/32`);
  }
});
