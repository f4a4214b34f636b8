import t from 'tap';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { staleBridge, recordBridgePid, forgetBridgePid } from '../../src/drivers/userspace/tun/stale.js';

/** A fake /proc with one process whose cmdline we choose. */
function fakeProc(pid: number, argv: string[]) {
  const root = mkdtempSync(join(tmpdir(), 'keyline-proc-'));
  mkdirSync(join(root, String(pid)));
  writeFileSync(join(root, String(pid), 'cmdline'), argv.join('\0') + '\0');
  return root;
}

t.test('only a live socat serving this very interface counts as a stale bridge', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'keyline-pid-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const pidFile = join(dir, 'bridge.pid');
  const socat = ['/usr/bin/socat', '-b8192', 'TUN:198.51.100.1/24,tun-type=tun,iff-no-pi,iff-up,tun-name=kl0', 'UDP:127.0.0.1:1,bind=127.0.0.1:2'];
  const proc = fakeProc(4242, socat);
  t.teardown(() => rmSync(proc, { recursive: true, force: true }));

  t.equal(staleBridge(pidFile, 'kl0', proc), undefined, 'no PID file');
  recordBridgePid(pidFile, 4242);
  t.equal(staleBridge(pidFile, 'kl0', proc), 4242, 'our socat');
  t.equal(staleBridge(pidFile, 'kl1', proc), undefined, 'a socat for another interface is left alone');
  t.equal(staleBridge(pidFile, 'kl', proc), undefined, 'no prefix match on the interface name');
  const other = fakeProc(4242, ['/usr/sbin/sshd', '-D']);
  t.teardown(() => rmSync(other, { recursive: true, force: true }));
  t.equal(staleBridge(pidFile, 'kl0', other), undefined, 'a recycled PID is never taken for ours');
  writeFileSync(pidFile, 'garbage\n');
  t.equal(staleBridge(pidFile, 'kl0', proc), undefined, 'a mangled PID file');
  recordBridgePid(pidFile, 4243);
  t.equal(staleBridge(pidFile, 'kl0', proc), undefined, 'a PID that is not running');
  forgetBridgePid(pidFile);
  t.notOk(existsSync(pidFile));
});
