/** The namespace helpers themselves, so the end-to-end tests built on them can trust them. */
import t from 'tap';
import { cleanupLeftovers, createNamespacePair, execIn, NS_PREFIX, registerCleanup, requireNetnsTools, run, spawnIn } from './ns.js';

t.test('a namespace pair joined by veth, processes in it, double destroy', { timeout: 60_000 }, async (t) => {
  requireNetnsTools();
  const pair = await createNamespacePair();
  registerCleanup(t, pair.destroy);
  t.match(pair.a, new RegExp(`^${NS_PREFIX}${process.pid}-\\d+a$`));
  const ping = await execIn(pair.a, ['ping', '-n', '-c', '1', '-W', '2', pair.addrB], { timeoutMs: 10_000 });
  t.match(ping.stdout, /1 received/, 'a reaches b over the veth pair');
  t.match((await execIn(pair.b, ['ip', 'addr', 'show', 'dev', 'lo'])).stdout, /UP/, 'loopback up');

  const p = spawnIn(pair.b, ['sh', '-c', 'echo ready; exec sleep 30']);
  registerCleanup(t, () => p.stop());
  await p.waitFor(/^ready$/);
  t.ok(p.running());
  t.match((await run(['ip', 'netns', 'pids', pair.b])).stdout, String(p.pid), 'the PID we hold is the process inside b');
  await p.stop(1000);
  t.notOk(p.running());

  // A process still running inside is killed by destroy, or the namespace would live on unnamed.
  const orphan = spawnIn(pair.a, ['sleep', '30']);
  await pair.destroy();
  await pair.destroy();
  t.match(await orphan.exited, { signal: 'SIGKILL' });
  const left = (await run(['ip', 'netns', 'list'])).stdout;
  t.notMatch(left, pair.a);
  t.notMatch(left, pair.b);
});

t.test('leftovers of a crashed run are removed; a live run\'s namespaces are not', { timeout: 30_000 }, async (t) => {
  requireNetnsTools();
  const dead = await deadPid();
  const stale = `${NS_PREFIX}${dead}-1a`;
  const ours = `${NS_PREFIX}${process.pid}-999x`;
  registerCleanup(t, () => run(['ip', 'netns', 'del', stale], { allowFail: true }), () => run(['ip', 'netns', 'del', ours], { allowFail: true }));
  await run(['ip', 'netns', 'add', stale]);
  await run(['ip', 'netns', 'add', ours]);
  const removed = await cleanupLeftovers();
  t.ok(removed.includes(stale), `${stale} removed`);
  t.notOk(removed.includes(ours), 'the namespace of a running test process is kept');
});

/** A PID no process has right now. */
async function deadPid(): Promise<number> {
  for (let pid = 3_999_999; pid > 3_000_000; pid -= 7919) {
    try {
      process.kill(pid, 0);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ESRCH') return pid;
    }
  }
  throw new Error('no free pid found');
}
