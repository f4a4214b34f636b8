/**
 * Every shell file under targets/ parses and passes shellcheck. They run under busybox ash on
 * OpenWrt, so they are parsed by busybox too, and checked as POSIX sh. The bash scripts the tests
 * and CI run (.ci/run, the kernel-VM harness) pass `bash -n` and shellcheck as bash.
 */
import t from 'tap';
import { relative } from 'node:path';
import { ROOT, bashFiles, requireTool, run, shellFiles } from './helpers.js';

/**
 * The exclusions, each for something rc.common and busybox provide that shellcheck cannot see:
 * - SC2034 (assigned but unused): START, STOP and USE_PROCD are read by /etc/rc.common after it
 *   sources the init script;
 * - SC3043 (`local` is not POSIX): busybox ash and dash have it, and OpenWrt's init scripts and
 *   procd.sh itself use it.
 */
const EXCLUDE = ['SC2034', 'SC3043'];

const files = [...shellFiles(`${ROOT}/targets`), `${ROOT}/test/targets/procd-standin.sh`, ...shellFiles(`${ROOT}/test/kernel-vm`)];
const bash = [`${ROOT}/.ci/run`, ...bashFiles(`${ROOT}/test`)];

t.test('the shell files are found', async (t) => {
  const names = files.map((f) => relative(ROOT, f));
  t.ok(names.includes('targets/openwrt/files/keyline.init'), 'the init script');
  t.ok(names.includes('targets/openwrt/files/keyline.sh'), 'the wrapper');
  t.ok(names.includes('test/kernel-vm/guest-init.sh'), "the kernel VM's /init");
  const bashNames = bash.map((f) => relative(ROOT, f));
  t.ok(bashNames.includes('test/kernel-vm/run.sh'), 'the kernel VM runner');
  t.ok(bashNames.includes('test/kernel-vm/guest/xfrm-agents.sh'), 'the kernel VM agents script');
});

t.test('sh -n and busybox sh -n', async (t) => {
  requireTool('busybox', 'busybox', ['true']);
  for (const f of files) {
    for (const shell of [['sh', '-n'], ['busybox', 'sh', '-n']]) {
      const r = run(shell[0]!, [...shell.slice(1), f]);
      t.equal(r.status, 0, `${shell.join(' ')} ${relative(ROOT, f)}${r.stderr ? `: ${r.stderr}` : ''}`);
    }
  }
});

t.test('shellcheck -s sh', async (t) => {
  requireTool('shellcheck', 'shellcheck');
  for (const f of files) {
    const r = run('shellcheck', ['-s', 'sh', '-e', EXCLUDE.join(','), f]);
    t.equal(r.status, 0, `shellcheck ${relative(ROOT, f)}${r.status ? `:\n${r.stdout}${r.stderr}` : ''}`);
  }
});

t.test('bash -n and shellcheck -s bash', async (t) => {
  requireTool('shellcheck', 'shellcheck');
  for (const f of bash) {
    const n = run('bash', ['-n', f]);
    t.equal(n.status, 0, `bash -n ${relative(ROOT, f)}${n.stderr ? `: ${n.stderr}` : ''}`);
    const r = run('shellcheck', ['-s', 'bash', f]);
    t.equal(r.status, 0, `shellcheck ${relative(ROOT, f)}${r.status ? `:\n${r.stdout}${r.stderr}` : ''}`);
  }
});
