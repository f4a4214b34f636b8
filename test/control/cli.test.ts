/**
 * The client commands of the built bundle (`node dist/keyline.js show|up|down|reload`) against
 * in-process agents (world.ts) behind a real control socket: output, --json, exit codes and
 * messages. No root needed.
 */
import t from 'tap';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { controlHandler } from '../../src/control/handler.js';
import { ControlServer } from '../../src/control/server.js';
import type { AgentStatus } from '../../src/control/status.js';
import { makeLogger } from '../../src/util/log.js';
import { ENTRIES, ikeStates, keys, world } from './world.js';

const BUNDLE = resolve('dist/keyline.js');
const dir = mkdtempSync(join(tmpdir(), 'keyline-cli-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((res) => {
    execFile(process.execPath, [BUNDLE, ...args], { timeout: 30_000 }, (e, stdout, stderr) => {
      res({ code: e ? (typeof e.code === 'number' ? e.code : -1) : 0, stdout, stderr });
    });
  });
}

t.test('show, up, down, reload through the socket', async (t) => {
  t.ok(existsSync(BUNDLE), `${BUNDLE} exists (node build.mjs first)`);
  const w = world();
  t.teardown(() => w.stop());
  await w.start('b', keys(ENTRIES.b.local, ENTRIES.b['gw-a'], ENTRIES.b['m-a']));
  const a = await w.start('a', keys(ENTRIES.a.local, ENTRIES.a['gw-b'], ENTRIES.a['m-b']));
  const sock = join(dir, 'a.sock');
  const server = await ControlServer.listen(sock, makeLogger('error'));
  t.teardown(() => server.close());
  server.serve(controlHandler(a.agent, a.reloader, server));

  const text = await cli('show', '--socket', sock);
  t.equal(text.code, 0, text.stderr);
  t.match(text.stdout, /^keyline .*tunnel a0/);
  t.match(text.stdout, /\ngw-b: ike, 192\.0\.2\.2:4500, start=initiate, reqid 1\n  IKE SA established, initiator/);
  t.match(text.stdout, /\nm-b: manual/);

  const json = await cli('show', '--json', `--socket=${sock}`);
  t.equal(json.code, 0);
  const s = JSON.parse(json.stdout) as AgentStatus;
  t.equal(s.peers[0]!.ikeSas![0]!.state, 'established');
  t.same(s.drops.control, {}, 'control drops are part of the status');

  const one = await cli('show', 'm-b', '--json', '--socket', sock);
  t.same((JSON.parse(one.stdout) as AgentStatus).peers.map((p) => p.name), ['m-b']);

  const unknown = await cli('show', 'nope', '--socket', sock);
  t.same([unknown.code, unknown.stderr], [2, "keyline: no peer 'nope' (configured: gw-b, m-b)\n"]);
  t.same((await cli('up', 'nope', '--socket', sock)).code, 2, 'up of an unknown peer: 2');
  t.same((await cli('down', 'nope', '--socket', sock)).code, 2, 'down of an unknown peer: 2');

  const down = await cli('down', 'gw-b', '--socket', sock);
  t.same([down.code, down.stdout], [0, "gw-b: down, 1 IKE SA deleted; stays down until 'keyline up gw-b' or a reload\n"]);
  t.same(ikeStates(a, 'gw-b'), []);
  const up = await cli('up', 'gw-b', '--socket', sock);
  t.same([up.code, up.stdout], [0, 'gw-b: IKE SA established\n']);
  const again = await cli('up', 'gw-b', '--socket', sock);
  t.same([again.code, again.stdout], [0, 'gw-b: IKE SA established (was up already)\n']);
  t.same((await cli('down', 'm-b', '--socket', sock)).stdout, "m-b: down, manual SAs removed; stays down until 'keyline up m-b' or a reload\n");
  t.same((await cli('up', 'm-b', '--socket', sock)).stdout, 'm-b: manual SAs installed\n');

  const same = await cli('reload', '--socket', sock);
  t.same([same.code, same.stdout], [0, 'reloaded: 0 added, 0 removed, 0 changed, 2 unchanged\n']);
  a.text = keys(ENTRIES.a.local, ENTRIES.a['gw-b'] + ' bogus=1', ENTRIES.a['m-b']);
  const bad = await cli('reload', '--socket', sock);
  t.equal(bad.code, 2, 'a key file error: 2');
  t.match(bad.stderr, /^keyline: a\.keys:3:\d+: unknown key 'bogus' in peer gw-b/);
  a.text = keys(ENTRIES.a.local, ENTRIES.a['gw-b'], ENTRIES.a['gw-c']);
  const changed = await cli('reload', '--socket', sock);
  t.same([changed.code, changed.stdout], [0, 'reloaded: 1 added (gw-c), 1 removed (m-b), 0 changed, 1 unchanged\n']);
  a.text = keys(ENTRIES.a.local.replace('tun=a0', 'tun=x0'), ENTRIES.a['gw-b'], ENTRIES.a['gw-c']);
  const restart = await cli('reload', '--socket', sock);
  t.same([restart.code, restart.stderr], [2, 'keyline: a.keys: local tun changed: that needs a restart of keyline (nothing was applied)\n']);
});

t.test('an up that does not complete in time exits 1', async (t) => {
  const w = world(3);
  t.teardown(() => w.stop());
  const a = await w.start('a', keys(ENTRIES.a.local, ENTRIES.a['gw-b'] + ' start=wait'));
  const sock = join(dir, 'slow.sock');
  const server = await ControlServer.listen(sock, makeLogger('error'));
  t.teardown(() => server.close());
  // The same handler with a short wait, so the test does not sit out the 10 s.
  const h = controlHandler(a.agent, a.reloader, server);
  server.serve((req) => (req.cmd === 'up' ? a.agent.up(req.peer, { waitMs: 300 }) : h(req)));
  const up = await cli('up', 'gw-b', '--socket', sock);
  t.same([up.code, up.stderr], [1, "keyline: gw-b: IKE SA not established yet (connecting); see the agent's log\n"]);
});

t.test('no agent: exit 1 with the socket named; usage errors: exit 2', async (t) => {
  const none = join(dir, 'none.sock');
  for (const cmd of [['show'], ['up', 'x'], ['down', 'x'], ['reload']]) {
    const r = await cli(...cmd, '--socket', none);
    t.same([r.code, r.stderr], [1, `keyline: no agent on ${none} (is it running?)\n`], cmd.join(' '));
  }
  const usage: string[][] = [['show', 'a', 'b'], ['up'], ['down', 'a', 'b'], ['reload', 'x'], ['show', '--bogus'], ['up', 'x', '--socket'], ['run', 'extra']];
  for (const args of usage) {
    const r = await cli(...args);
    t.equal(r.code, 2, `${args.join(' ')}: ${r.stderr.trim()}`);
  }
  t.match((await cli('up')).stderr, /^keyline: usage: keyline up PEER \[--socket PATH\]\n/);
  const help = await cli('help');
  t.match(help.stdout, /show \[PEER\] \[--json\] \[--socket PATH\]/);
  t.match(help.stdout, /run \[--config FILE\] \[--log-level LEVEL\] \[--socket PATH\]/);
});
