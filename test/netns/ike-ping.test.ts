/**
 * Two `keyline run` processes, driven by key files, set up IKEv2 between two network namespaces
 * (real UDP over a veth pair, 192.0.2.1 <-> 192.0.2.2) and carry pings through the userspace
 * ESP-in-UDP tunnel. Then the lifecycle an operator sees: rekeys with short lifetimes keep the
 * ping going, SIGTERM sends DELETE (the peer says so), and a SIGKILLed agent that comes back is
 * let in again with INITIAL_CONTACT clearing what the peer still held. Root only; never skips.
 */
import t from 'tap';
import type * as Tap from 'tap';
import { writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { agentTestbed, execIn, registerCleanup, spawnIn, type Proc } from './ns.js';

const BUNDLE = resolve('dist/keyline.js');
const NET = { a: '198.51.100', b: '203.0.113' } as const;

interface Side {
  ns: string;
  file: string;
}

function keyFile(dir: string, side: 'a' | 'b', addr: { me: string; peer: string }, psk: string, extra: string): string {
  const [me, them] = side === 'a' ? (['a', 'b'] as const) : (['b', 'a'] as const);
  const path = join(dir, `${me}.keys`);
  writeFileSync(
    path,
    [
      `# ${me}.keys: written by ike-ping.test.ts`,
      `local id=fqdn:${me}.example listen=${addr.me}:500,${addr.me}:4500 tun=kl0 tun-addr=${NET[me]}.1/24 log-level=debug`,
      `peer ${them} addr=${addr.peer} id=fqdn:${them}.example psk=hex:${psk}`,
      `    local-net=${NET[me]}.0/24 remote-net=${NET[them]}.0/24 start=${side === 'a' ? 'initiate' : 'wait'} ${extra}`,
      '',
    ].join('\n'),
    { mode: 0o600 },
  );
  return path;
}

async function waitFor(agent: Proc, re: RegExp, what: string, ms = 15_000): Promise<void> {
  for (const end = Date.now() + ms; Date.now() < end; ) {
    if (re.test(agent.stderr())) return;
    if (!agent.running()) throw new Error(`keyline exited early waiting for ${what}:\n${agent.stderr()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`no ${what} after ${ms / 1000} s:\n${agent.stderr().split('\n').slice(-30).join('\n')}`);
}

const count = (agent: Proc, re: RegExp) => agent.stderr().split('\n').filter((l) => re.test(l)).length;

async function setup(t: Tap.Test, extra = '') {
  const { pair, dir } = await agentTestbed(t, BUNDLE, 'keyline-ike-');
  const psk = randomBytes(32).toString('hex');
  const sides: Record<'a' | 'b', Side> = {
    a: { ns: pair.a, file: keyFile(dir, 'a', { me: pair.addrA, peer: pair.addrB }, psk, extra) },
    b: { ns: pair.b, file: keyFile(dir, 'b', { me: pair.addrB, peer: pair.addrA }, psk, extra) },
  };
  const start = (side: 'a' | 'b'): Proc => {
    // Each agent its own control socket: the default /var/run/keyline.sock is one per machine.
    const agent = spawnIn(sides[side].ns, [process.execPath, BUNDLE, 'run', '--config', sides[side].file, '--socket', join(dir, `${side}.sock`)]);
    registerCleanup(t, () => agent.stop());
    return agent;
  };
  const ping = (side: 'a' | 'b', n = 3, interval = '0.2') => {
    const [ns, src, dst] = side === 'a' ? [pair.a, `${NET.a}.1`, `${NET.b}.1`] : [pair.b, `${NET.b}.1`, `${NET.a}.1`];
    return execIn(ns, ['ping', '-c', String(n), '-i', interval, '-W', '2', '-I', src, dst], { allowFail: true, timeoutMs: 10_000 + n * 1000 });
  };
  return { pair, psk, start, ping };
}

const UP = /IKE SA established/;
const CHILD_UP = /child SA up/;

t.test('two keyline processes bring up IKE and ping both ways; SIGTERM sends DELETE', async (t) => {
  const { psk, start, ping } = await setup(t);
  const b = start('b');
  await waitFor(b, /listening on/, 'B listening');
  const a = start('a');
  await waitFor(a, CHILD_UP, 'A child SA');
  await waitFor(b, CHILD_UP, 'B child SA');
  const ab = await ping('a');
  t.equal(ab.code, 0, `a -> b:\n${ab.stdout}${ab.stderr}`);
  const ba = await ping('b');
  t.equal(ba.code, 0, `b -> a:\n${ba.stdout}${ba.stderr}`);
  await a.stop();
  t.equal((await a.exited).code, 0, 'A exits 0 on SIGTERM');
  t.match(a.stderr(), /deleting IKE SA \(shutting down\)/, 'A sent DELETE');
  await waitFor(b, /peer deleted the IKE SA/, "B saw A's DELETE");
  t.match(b.stderr(), /child SA in .* removed \(deleted by peer\)/, "B removed the child SA");
  await b.stop();
  t.notMatch(a.stderr() + b.stderr(), new RegExp(psk.slice(0, 12), 'i'), 'no PSK bytes in the logs');
});

t.test('short lifetimes: child and IKE rekeys keep the ping going', async (t) => {
  const { start, ping } = await setup(t, 'lifetime=12s ike-lifetime=16s rekey-margin=4s dpd=5s');
  const b = start('b');
  await waitFor(b, /listening on/, 'B listening');
  const a = start('a');
  await waitFor(a, CHILD_UP, 'A child SA');
  const r = await ping('a', 60, '0.25');
  t.match(r.stdout, /60 packets transmitted, (59|60) received/, `at most one lost across the rekeys:\n${r.stdout.split('\n').slice(-3).join('\n')}`);
  t.ok(count(a, /child SA rekeyed/) >= 1, 'A rekeyed the child SA');
  t.ok(count(a, /IKE SA rekeyed to/) + count(b, /IKE SA rekeyed to/) >= 1, 'the IKE SA was rekeyed');
  t.equal(count(a, /error:/), 0, `no errors at A:\n${a.stderr().split('\n').filter((l) => /error:/.test(l)).join('\n')}`);
  t.equal(count(b, /error:/), 0, 'no errors at B');
});

t.test('A killed with SIGKILL and restarted: the tunnel is back and B holds no stale SA', async (t) => {
  const { start, ping } = await setup(t);
  const b = start('b');
  await waitFor(b, /listening on/, 'B listening');
  const a = start('a');
  await waitFor(a, CHILD_UP, 'A child SA');
  t.equal((await ping('a')).code, 0, 'tunnel up');
  process.kill(a.pid, 'SIGKILL');
  await a.exited;
  const a2 = start('a');
  await waitFor(a2, CHILD_UP, 'A child SA after the restart');
  await waitFor(b, /peer restarted \(INITIAL_CONTACT\)/, 'B dropping the stale IKE SA');
  const r = await ping('a');
  t.equal(r.code, 0, `ping after the restart:\n${r.stdout}`);
  t.equal(count(b, UP), 2, 'B established exactly one new IKE SA');
});
