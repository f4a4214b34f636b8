/**
 * The operator surface end to end: two `keyline run` processes from the built bundle in two
 * network namespaces (IKE over a veth pair, 192.0.2.1 <-> 192.0.2.2), each with its own control
 * socket (`--socket` in a temp dir), driven by `keyline show|up|down|reload` and SIGHUP:
 *
 *   show --json: the IKE SA established, counters rising under ping
 *   a second agent on the same socket is refused; the first goes on
 *   down / up: DELETE seen by the peer, traffic stops and comes back
 *   a peer added by SIGHUP and another by `keyline reload` while `ping -i 0.2` runs: 0 lost, the
 *   IKE SA to the unchanged peer keeps its SPIs
 *   a bad edit: refused with file:line:column (log and client), nothing applied, tunnel up
 *
 * Root only; never skips (see test/netns/ns.ts).
 */
import t from 'tap';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { AgentStatus } from '../../src/control/status.js';
import { agentTestbed, execIn, registerCleanup, spawnIn, type Proc } from '../netns/ns.js';

const BUNDLE = resolve('dist/keyline.js');
const NET = { a: '198.51.100', b: '203.0.113' } as const;

function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((res) => {
    execFile(process.execPath, [BUNDLE, ...args], { timeout: 40_000 }, (e, stdout, stderr) => {
      res({ code: e ? (typeof e.code === 'number' ? e.code : -1) : 0, stdout, stderr });
    });
  });
}

async function waitFor(agent: Proc, re: RegExp, what: string, ms = 15_000): Promise<void> {
  for (const end = Date.now() + ms; Date.now() < end; ) {
    if (re.test(agent.stderr())) return;
    if (!agent.running()) throw new Error(`keyline exited early waiting for ${what}:\n${agent.stderr()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`no ${what} after ${ms / 1000} s:\n${agent.stderr().split('\n').slice(-30).join('\n')}`);
}

t.test('show, down/up, reload by SIGHUP and by keyline reload under a running ping, a bad edit', async (t) => {
  const { pair, dir } = await agentTestbed(t, BUNDLE, 'keyline-ctl-');
  const psk = randomBytes(32).toString('hex');
  const manualKey = randomBytes(64).toString('hex'); // aes256-sha256: 32 + 32 bytes
  const file = { a: join(dir, 'a.keys'), b: join(dir, 'b.keys') };
  const sock = { a: join(dir, 'a.sock'), b: join(dir, 'b.sock') };
  const entries = {
    local: `local id=fqdn:a.example listen=${pair.addrA}:500,${pair.addrA}:4500 tun=kl0 tun-addr=${NET.a}.1/24`,
    b: `peer b addr=${pair.addrB} id=fqdn:b.example psk=hex:${psk}\n    local-net=${NET.a}.0/24 remote-net=${NET.b}.0/24`,
    c: `peer c addr=192.0.2.3 id=fqdn:c.example psk=hex:${randomBytes(32).toString('hex')}\n    local-net=${NET.a}.0/24 remote-net=192.0.2.128/26`,
    d: `peer d addr=192.0.2.4:4500 keying=manual esp=aes256-sha256 local-net=${NET.a}.0/24 remote-net=192.0.2.192/26\n    spi-in=0x3001 spi-out=0x3002 key-in=hex:${manualKey} key-out=hex:${manualKey}`,
  };
  const writeA = (...lines: string[]) => writeFileSync(file.a, `# a.keys: written by test/control/netns.test.ts\n${lines.join('\n')}\n`, { mode: 0o600 });
  writeA(entries.local, entries.b);
  writeFileSync(
    file.b,
    [
      `local id=fqdn:b.example listen=${pair.addrB}:500,${pair.addrB}:4500 tun=kl0 tun-addr=${NET.b}.1/24`,
      `peer a addr=${pair.addrA} id=fqdn:a.example psk=hex:${psk} start=wait`,
      `    local-net=${NET.b}.0/24 remote-net=${NET.a}.0/24`,
      '',
    ].join('\n'),
    { mode: 0o600 },
  );
  const start = (side: 'a' | 'b'): Proc => {
    const ns = side === 'a' ? pair.a : pair.b;
    const p = spawnIn(ns, [process.execPath, BUNDLE, 'run', '--config', file[side], '--socket', sock[side], '--log-level', 'debug']);
    registerCleanup(t, () => p.stop());
    return p;
  };
  const ping = (n: number, interval = '0.2') =>
    execIn(pair.a, ['ping', '-c', String(n), '-i', interval, '-W', '2', '-I', `${NET.a}.1`, `${NET.b}.1`], { allowFail: true, timeoutMs: 15_000 + n * 1000 });
  const show = async (side: 'a' | 'b'): Promise<AgentStatus> => {
    const r = await cli('show', '--json', '--socket', sock[side]);
    if (r.code !== 0) throw new Error(`show ${side}: exit ${r.code}: ${r.stderr}`);
    return JSON.parse(r.stdout) as AgentStatus;
  };
  const ikeOf = (s: AgentStatus, peer: string) => s.peers.find((p) => p.name === peer)?.ikeSas ?? [];

  const b = start('b');
  await waitFor(b, /control socket/, 'B listening');
  const a = start('a');
  await waitFor(a, /child SA up/, 'A child SA');
  await waitFor(b, /child SA up/, 'B child SA');

  // ---- show ------------------------------------------------------------------------------------
  const s1 = await show('a');
  const sa1 = ikeOf(s1, 'b');
  t.same(sa1.map((x) => [x.state, x.role]), [['established', 'initiator']], 'A: the IKE SA is established');
  t.same(ikeOf(await show('b'), 'a').map((x) => x.state), ['established'], 'B too');
  const out1 = sa1[0]!.children[0]!.out.packets;
  t.equal((await ping(5)).code, 0, 'ping through the tunnel');
  const s2 = await show('a');
  const child2 = ikeOf(s2, 'b')[0]!.children[0]!;
  t.ok(child2.out.packets >= out1 + 5 && child2.in.packets >= 5, `counters rise: out ${out1} -> ${child2.out.packets}, in ${child2.in.packets}`);
  const text = await cli('show', '--socket', sock.a);
  t.match(text.stdout, /\nb: ike, 192\.0\.2\.2:4500, start=initiate, reqid 1\n  IKE SA established, initiator/, 'the text form');

  // ---- a second agent on the same socket -------------------------------------------------------
  const dup = spawnIn(pair.a, [process.execPath, BUNDLE, 'run', '--config', file.a, '--socket', sock.a]);
  registerCleanup(t, () => dup.stop());
  const dupExit = await dup.exited;
  t.equal(dupExit.code, 1, 'a second agent on the same socket exits 1');
  t.match(dup.stderr(), `keyline: another keyline agent is running on ${sock.a}`);
  t.equal((await ping(2)).code, 0, 'the first one is untouched');

  // ---- down / up ---------------------------------------------------------------------------------
  const down = await cli('down', 'b', '--socket', sock.a);
  t.same([down.code, down.stdout], [0, "b: down, 1 IKE SA deleted; stays down until 'keyline up b' or a reload\n"]);
  await waitFor(b, /peer deleted the IKE SA/, "B seeing A's DELETE");
  t.same(ikeOf(await show('a'), 'b'), [], 'A has no IKE SA with b');
  t.equal((await show('a')).peers[0]!.down, true);
  t.not((await ping(2)).code, 0, 'no traffic while down');
  const up = await cli('up', 'b', '--socket', sock.a);
  t.same([up.code, up.stdout], [0, 'b: IKE SA established\n']);
  t.equal((await ping(2)).code, 0, 'traffic again');
  const unknown = await cli('up', 'nobody', '--socket', sock.a);
  t.same([unknown.code, unknown.stderr], [2, "keyline: no peer 'nobody' (configured: b)\n"]);

  // ---- reload under a running ping: SIGHUP adds c, keyline reload adds d -----------------------
  const before = ikeOf(await show('a'), 'b')[0]!;
  const running = ping(30);
  await new Promise((r) => setTimeout(r, 1500));
  writeA(entries.local, entries.c, entries.b);
  process.kill(a.pid, 'SIGHUP');
  await waitFor(a, /keyline: reloaded: 1 added, 0 removed, 0 changed, 1 unchanged \(added c\)/, 'the SIGHUP reload');
  await new Promise((r) => setTimeout(r, 1500));
  writeA(entries.local, entries.c, entries.b, entries.d);
  const rl = await cli('reload', '--socket', sock.a);
  t.same([rl.code, rl.stdout], [0, 'reloaded: 1 added (d), 0 removed, 0 changed, 2 unchanged\n'], `keyline reload ${rl.stderr}`);
  const pinged = await running;
  t.match(pinged.stdout, /30 packets transmitted, 30 received/, `no packet lost across both reloads:\n${pinged.stdout.split('\n').slice(-3).join('\n')}`);
  const s3 = await show('a');
  t.same(s3.peers.map((p) => [p.name, p.keying, p.reqid]), [['b', 'ike', 1], ['c', 'ike', 2], ['d', 'manual', 3]], 'b kept reqid 1 although c now comes first in the file');
  const after = ikeOf(s3, 'b')[0]!;
  t.same([after.spiI, after.spiR, after.children[0]!.spiIn], [before.spiI, before.spiR, before.children[0]!.spiIn], 'the same IKE SA and child SA with b');
  t.equal(s3.peers.find((p) => p.name === 'd')?.manual?.spiIn, '0x00003001', 'the manual peer is installed');
  const routes = await execIn(pair.a, ['ip', 'route', 'show', 'dev', 'kl0']);
  t.match(routes.stdout, /192\.0\.2\.128\/26/, 'route for c');
  t.match(routes.stdout, /192\.0\.2\.192\/26/, 'route for d');

  // ---- a bad edit ------------------------------------------------------------------------------
  writeA(entries.local, entries.b + ' lifetime=forever', entries.c);
  const mark = a.stderr().length;
  process.kill(a.pid, 'SIGHUP');
  await waitFor(a, /reload refused/, 'the refused SIGHUP reload');
  const refusal = a.stderr().slice(mark);
  t.match(refusal, /error: keyline: reload refused, nothing applied, still running on the previous configuration: .*a\.keys:4:\d+: bad value 'forever' for lifetime in peer b/, 'file:line:column in the log');
  const bad = await cli('reload', '--socket', sock.a);
  t.equal(bad.code, 2, 'keyline reload of a bad file exits 2');
  t.match(bad.stderr, /^keyline: .*a\.keys:4:\d+: bad value 'forever' for lifetime in peer b/);
  t.equal((await ping(3)).code, 0, 'the tunnel stays up');
  const s4 = await show('a');
  t.same(s4.peers.map((p) => p.name), ['b', 'c', 'd'], 'nothing applied: d is still there');
  t.equal(ikeOf(s4, 'b')[0]!.spiI, before.spiI, 'same IKE SA');
  // A change of the local entry that needs a restart.
  writeA(entries.local.replace('tun=kl0', 'tun=kl1'), entries.c, entries.b, entries.d);
  const restart = await cli('reload', '--socket', sock.a);
  t.same([restart.code, restart.stderr], [2, `keyline: ${file.a}: local tun changed: that needs a restart of keyline (nothing was applied)\n`]);

  // ---- the end ------------------------------------------------------------------------------------
  await a.stop();
  t.equal((await a.exited).code, 0, 'A exits 0 on SIGTERM');
  const gone = await cli('show', '--socket', sock.a);
  t.same([gone.code, gone.stderr], [1, `keyline: no agent on ${sock.a} (is it running?)\n`], 'the socket went with it');
  const errors = a.stderr().split('\n').filter((l) => /^error:/.test(l) && !/reload refused/.test(l));
  t.same(errors, [], 'no other errors at A');
  t.notMatch(a.stderr() + b.stderr() + text.stdout, new RegExp(`${psk.slice(0, 12)}|${manualKey.slice(0, 12)}`, 'i'), 'no key material in logs or show');
});
