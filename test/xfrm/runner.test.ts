/**
 * The real runner with a stand-in `ip` (a shell script that prints its argv and stdin): keys go
 * on stdin through `ip -batch -`, never on the command line; failures carry ip's stderr and
 * name the command without its keys; a missing `ip` says what to install.
 */
import t from 'tap';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ipMonitor, ipRunner } from '../../src/drivers/xfrm/runner.js';

const dir = mkdtempSync(join(tmpdir(), 'keyline-ip-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const fakeIp = join(dir, 'ip');
writeFileSync(
  fakeIp,
  '#!/bin/sh\necho "argv: $*"\nin=""\nif [ "$1 $2" = "-batch -" ] || [ "$3 $4" = "-batch -" ]; then in=$(cat); echo "stdin: $in"; fi\n' +
    'case "$* $in" in *fail*) echo "RTNETLINK answers: File exists" >&2; exit 2;; esac\n' +
    'case "$*" in *monitor*) echo "Expired src 192.0.2.1 dst 192.0.2.2"; exit 0;; esac\n',
);
chmodSync(fakeIp, 0o755);

t.test('secret commands: argv is only -batch -, the command (keys included) on stdin', async (t) => {
  const out = await ipRunner(fakeIp)({ args: ['xfrm', 'state', 'add', 'aead', 'rfc4106(gcm(aes))', '0xsecret', '128'], secret: true });
  t.match(out, /^argv: -batch -\n/);
  t.match(out, /stdin: xfrm state add aead rfc4106\(gcm\(aes\)\) 0xsecret 128/);
  t.notMatch(out.split('\n')[0]!, /0xsecret/);
});

t.test('plain commands on argv; global options (ip -n NETNS) in front', async (t) => {
  t.equal(await ipRunner(fakeIp, ['-n', 'ns1'])({ args: ['xfrm', 'policy', 'list'] }), 'argv: -n ns1 xfrm policy list\n');
  t.match(await ipRunner(fakeIp, ['-n', 'ns1'])({ args: ['x'], secret: true }), /^argv: -n ns1 -batch -\n/);
});

t.test("failures carry ip's stderr; a secret command is named without its keys", async (t) => {
  await t.rejects(ipRunner(fakeIp)({ args: ['xfrm', 'policy', 'fail'] }), { message: 'ip xfrm policy fail: RTNETLINK answers: File exists' });
  const e = await ipRunner(fakeIp)({ args: ['xfrm', 'state', 'add', 'fail', '0xsecret'], secret: true }).catch((x: Error) => x);
  t.match(e, { message: /^ip xfrm state add: RTNETLINK answers: File exists$/ });
  await t.rejects(ipRunner(join(dir, 'nope'))({ args: ['xfrm'] }), { code: 'XFRM', message: /iproute2.*ip-full/ });
});

t.test('the monitor: output in chunks, then its end reported', async (t) => {
  let got = '';
  const why = await new Promise<string>((resolve) => ipMonitor(fakeIp)(['xfrm', 'monitor'], (d) => (got += d), resolve));
  t.equal(got, 'argv: xfrm monitor\nExpired src 192.0.2.1 dst 192.0.2.2\n');
  t.match(why, /exited \(0\)/);
});
