/**
 * driver=xfrm against a real kernel. This machine's kernel has no ESP, so ONE qemu boot of
 * Debian's kernel (test/kernel-vm/run.sh, the host's root filesystem visible read-only) runs
 * everything in guest/xfrm-agents.sh: the XfrmDriver's own commands for every suite, limits,
 * monitor events and clean-up (guest/driver-check.ts, bundled here), then two `keyline run`
 * processes in namespaces with IKEv2 between them and kernel ESP for the pings, a child rekey
 * under traffic, transport mode, and an on-traffic start from a kernel ACQUIRE.
 *
 * Needs root, qemu-system-x86_64, linux-image-amd64 and busybox-static (install-deps.sh here,
 * which .ci/run calls). Missing any of them FAILS this test, it never skips: a skipped kernel
 * test looks like a passing one. Wall time is bounded: qemu is killed after VM_LIMIT_S, and this
 * process kills run.sh (its own child, by PID) a little after that.
 */
import t from 'tap';
import { spawn } from 'node:child_process';
import { accessSync, constants, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { build } from 'esbuild';

const ROOT = resolve('.');
const HERE = join(ROOT, 'test/kernel-vm');
const VM_LIMIT_S = 540;

t.setTimeout((VM_LIMIT_S + 90) * 1000);

function onPath(name: string): boolean {
  return (process.env.PATH ?? '').split(':').some((d) => {
    try {
      accessSync(join(d, name), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

/** What the VM needs on the host; every missing piece named, with the fix. */
function missing(): string[] {
  const out: string[] = [];
  if (process.getuid?.() !== 0) out.push('root');
  if (!onPath('qemu-system-x86_64')) out.push('qemu-system-x86_64 (apt-get install qemu-system-x86)');
  const kernels = existsSync('/boot') ? readdirSync('/boot').filter((f) => f.startsWith('vmlinuz-') && existsSync(`/lib/modules/${f.slice(8)}/kernel`)) : [];
  if (kernels.length === 0) out.push('a Debian kernel with modules (apt-get install linux-image-amd64)');
  if (!existsSync('/bin/busybox')) out.push('/bin/busybox (apt-get install busybox-static)');
  if (!existsSync(join(ROOT, 'dist/keyline.js'))) out.push('dist/keyline.js (node build.mjs)');
  return out;
}

t.test('driver=xfrm under a real kernel (one qemu boot)', async (t) => {
  const lack = missing();
  if (lack.length) throw new Error(`kernel-vm test cannot run, missing: ${lack.join('; ')}. Run test/kernel-vm/install-deps.sh (as root).`);

  const share = mkdtempSync(join(tmpdir(), 'keyline-kvm-'));
  t.teardown(() => rmSync(share, { recursive: true, force: true }));
  const check = join(share, 'driver-check.mjs');
  await build({
    stdin: { contents: `import { main } from './driver-check.ts'; await main(process.argv.slice(2));`, resolveDir: join(HERE, 'guest'), loader: 'ts' },
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    outfile: check,
    logLevel: 'silent',
  });

  const started = Date.now();
  const child = spawn(join(HERE, 'run.sh'), ['-t', String(VM_LIMIT_S), '-s', share, '--', 'bash', 'test/kernel-vm/guest/xfrm-agents.sh', check], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (out += d));
  // run.sh kills qemu at VM_LIMIT_S; should run.sh itself hang, it is ours to kill, by PID.
  const guard = setTimeout(() => child.kill('SIGKILL'), (VM_LIMIT_S + 60) * 1000);
  const code = await new Promise<number | null>((r) => child.once('close', (c) => r(c)));
  clearTimeout(guard);
  const secs = Math.round((Date.now() - started) / 1000);
  t.comment(`qemu boot + guest run: ${secs} s`);

  const lines = out.split('\n').map((l) => l.replace(/\r$/, ''));
  const oks = lines.filter((l) => l.startsWith('ok: '));
  const fails = lines.filter((l) => l.startsWith('FAIL: '));
  for (const l of oks) t.pass(l.slice(4));
  for (const l of fails) t.fail(l.slice(6));
  const summary = lines.find((l) => /^\d+ passed, \d+ failed$/.test(l));
  t.ok(summary, 'the guest script ran to its end');
  // Every check the guest script and the driver check make; a run that printed fewer stopped early.
  t.ok(oks.length >= 30, `${oks.length} checks passed in the guest (at least 30 expected)`);
  t.equal(code, 0, `run.sh exit status (125 = the VM never reported one)`);
  if (fails.length || code !== 0 || !summary) t.comment(out.split('\n').slice(-120).join('\n'));
});
