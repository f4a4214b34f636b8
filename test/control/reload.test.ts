/**
 * Reload in process (what SIGHUP and `keyline reload` do): three agents from key files on the
 * memory network. A talks IKE to B and C and has manual keys with B.
 *
 *   unchanged peers keep their IKE SA and child SA objects, SPIs and reqids, and lose no packet
 *   removed peers: DELETE, SAs gone on both sides, policies gone
 *   changed peers: DELETE, then a new IKE SA (new SPIs, a fresh reqid)
 *   added peers start per start=
 *   a bad file or a local change that needs a restart: refused, nothing applied
 */
import t from 'tap';
import type * as Tap from 'tap';
import { ConfigError } from '../../src/config/index.js';
import { ENTRIES, KEY_AB, childSpis, ikeStates, keys, world, type World } from './world.js';

const A = ENTRIES.a;
const B = ENTRIES.b;
const C = ENTRIES.c;
const GW_D = `peer gw-d addr=192.0.2.4 id=fqdn:d.example psk=hex:${'44'.repeat(32)}\n    local-net=198.51.100.0/24 remote-net=192.0.2.128/25`;

async function abc(t: Tap.Test): Promise<World> {
  const w = world();
  t.teardown(() => w.stop());
  await w.start('b', keys(B.local, B['gw-a'], B['m-a']));
  await w.start('c', keys(C.local, C['gw-a']));
  await w.start('a', keys(A.local, A['gw-b'], A['gw-c'], A['m-b']));
  t.same([ikeStates(w.node('a'), 'gw-b'), ikeStates(w.node('a'), 'gw-c')], [['established'], ['established']], 'A is up with B and C');
  return w;
}

const reqids = (w: World) => Object.fromEntries(w.node('a').agent.status().peers.map((p) => [p.name, p.reqid]));

t.test('a peer inserted at the top and one removed: the unchanged ones keep everything', async (t) => {
  const w = await abc(t);
  const a = w.node('a');
  const ikeB = a.agent.ike.sas().find((s) => s.peer.name === 'gw-b')!;
  const childB = ikeB.children[0]!;
  const spis = childSpis(a);
  t.same(reqids(w), { 'gw-b': 1, 'gw-c': 2, 'm-b': 3 });
  a.text = keys(A.local, GW_D, A['gw-b'], A['m-b']);
  const pending = a.reloader.reload();
  // Traffic while the reload runs and right after it: nothing lost.
  const during = w.ping('a', 'b');
  const r = await pending;
  t.same(r, { added: ['gw-d'], removed: ['gw-c'], changed: [], unchanged: ['gw-b', 'm-b'] });
  t.ok(await during, 'a ping during the reload arrives');
  t.ok(await w.ping('a', 'bm'), 'the manual SA carries on too');
  await w.settle();
  t.equal(a.agent.ike.sas().find((s) => s.peer.name === 'gw-b'), ikeB, 'same IKE SA object');
  t.equal(ikeB.children[0], childB, 'same child SA object');
  t.same(childSpis(a)['gw-b'], spis['gw-b'], 'same SPIs');
  t.same(reqids(w), { 'gw-b': 1, 'm-b': 3, 'gw-d': 4 }, 'unchanged reqids; the new peer gets a fresh one');
  t.same(ikeStates(a, 'gw-c'), [], 'A deleted the IKE SA with C');
  t.same(ikeStates(w.node('c'), 'gw-a'), [], 'C got the DELETE');
  t.same(ikeStates(a, 'gw-d'), ['connecting'], 'the added peer starts');
  t.notOk(await w.ping('a', 'c'), 'no policy for C any more');
  t.ok((a.agent.status().drops.driver['no-policy'] ?? 0) >= 1, 'dropped as no-policy');
  t.ok(await w.ping('a', 'b'));
  t.ok(await w.ping('b', 'a'));
  t.ok(await w.ping('a', 'bm'));
  t.match(a.log.join('\n'), /keyline: reloaded: 1 added, 1 removed, 0 changed, 2 unchanged \(added gw-d; removed gw-c\)/);
  await w.advance(60_000);
  t.equal(a.agent.ike.sas().find((s) => s.peer.name === 'gw-b'), ikeB, 'still the same IKE SA a minute later');
});

t.test('a changed peer is re-established: new SPIs, fresh reqid; the others stay', async (t) => {
  const w = await abc(t);
  const a = w.node('a');
  const before = childSpis(a);
  const ikeC = a.agent.ike.sas().find((s) => s.peer.name === 'gw-c')!;
  a.text = keys(A.local, A['gw-b'] + ' dpd=20s', A['gw-c'], A['m-b']);
  t.same(await a.reloader.reload(), { added: [], removed: [], changed: ['gw-b'], unchanged: ['gw-c', 'm-b'] });
  await w.settle();
  t.same(ikeStates(a, 'gw-b'), ['established'], 'one IKE SA with B again');
  t.same(ikeStates(w.node('b'), 'gw-a'), ['established'], 'B has exactly the new one');
  t.not(childSpis(a)['gw-b']![0], before['gw-b']![0], 'a new child SA');
  t.equal(a.agent.ike.sas().find((s) => s.peer.name === 'gw-c'), ikeC, 'C untouched');
  t.same(reqids(w), { 'gw-c': 2, 'm-b': 3, 'gw-b': 4 });
  t.equal(a.agent.ike.sas().find((s) => s.peer.name === 'gw-b')!.peer.dpd, 20, 'the new settings are in force');
  t.ok(await w.ping('a', 'b'));
  t.ok(await w.ping('b', 'a'));
  t.ok(await w.ping('a', 'c'));
  t.equal(a.agent.driver.counters('in', before['gw-b']![0]!), undefined, 'the old child SA is gone from the driver');
});

t.test('a bad key file is refused with file:line:column and nothing changes', async (t) => {
  const w = await abc(t);
  const a = w.node('a');
  const spis = childSpis(a);
  const status = JSON.stringify(a.agent.status().peers);
  a.text = keys(A.local, A['gw-b'] + ' dpd=soon', A['m-b']);
  const e = await a.reloader.reload().catch((x: unknown) => x);
  t.ok(e instanceof ConfigError, 'a ConfigError');
  t.match((e as Error).message, /^a\.keys:3:\d+: bad value 'soon' for dpd in peer gw-b/);
  t.same(childSpis(a), spis, 'same SAs');
  t.equal(JSON.stringify(a.agent.status().peers), status, 'same status');
  t.ok(await w.ping('a', 'c'), 'gw-c (which the bad file dropped) still works');
  // A cross-peer check (planFromConfig) fails before anything is applied too.
  a.text = keys(A.local, A['gw-b'], 'peer gw-6 addr=[2001:db8::6] id=fqdn:six.example psk=hex:' + '66'.repeat(32) + ' local-net=2001:db8:1::/64 remote-net=2001:db8:6::/64');
  const e2 = await a.reloader.reload().catch((x: unknown) => x);
  t.match((e2 as Error).message, /peer gw-6: listen has no IPv6 endpoint/);
  t.same(childSpis(a), spis, 'still the same SAs');
  // And once the file is right again, it applies.
  a.text = keys(A.local, A['gw-b'], A['gw-c'], A['m-b']);
  t.same((await a.reloader.reload()).unchanged, ['gw-b', 'gw-c', 'm-b']);
});

t.test('local changes that need a restart are refused; log-level and id apply', async (t) => {
  const w = await abc(t);
  const a = w.node('a');
  const spis = childSpis(a);
  a.text = keys(A.local.replace('tun=a0', 'tun=kl7'), A['gw-b'], A['gw-c'], A['m-b']);
  await t.rejects(a.reloader.reload(), { code: 'CONFIG_RESTART', message: /a\.keys: local tun changed: that needs a restart of keyline \(nothing was applied\)/ });
  a.text = keys(A.local.replace('listen=192.0.2.1:500,', 'listen='), A['gw-b'], A['gw-c'], A['m-b']);
  await t.rejects(a.reloader.reload(), { code: 'CONFIG_RESTART', message: /local listen changed/ });
  t.same(childSpis(a), spis);
  a.text = keys(A.local + ' log-level=warn', A['gw-b'], A['gw-c'], A['m-b']);
  t.same((await a.reloader.reload()).unchanged, ['gw-b', 'gw-c', 'm-b'], 'log-level alone changes no peer');
  t.equal(a.reloader.config.local.logLevel, 'warn');
});

t.test('manual peers: a new key re-installs the SAs (same SPIs), removal takes SAs and policies', async (t) => {
  const w = await abc(t);
  const a = w.node('a');
  const b = w.node('b');
  const NEW_AB = 'hex:' + 'c3'.repeat(48);
  a.text = keys(A.local, A['gw-b'], A['gw-c'], A['m-b'].replace(`key-out=${KEY_AB}`, `key-out=${NEW_AB}`));
  b.text = keys(B.local, B['gw-a'], B['m-a'].replace(`key-in=${KEY_AB}`, `key-in=${NEW_AB}`));
  t.same((await a.reloader.reload()).changed, ['m-b']);
  t.notOk(await w.ping('a', 'bm'), 'one side rekeyed by hand: B cannot open it yet');
  t.same((await b.reloader.reload()).changed, ['m-a']);
  t.ok(await w.ping('a', 'bm'), 'both sides on the new key');
  t.ok(await w.ping('b', 'a'), 'IKE with B untouched');
  t.equal(a.agent.status().peers.find((p) => p.name === 'm-b')!.reqid, 4, 'fresh reqid');
  a.text = keys(A.local, A['gw-b'], A['gw-c']);
  t.same((await a.reloader.reload()).removed, ['m-b']);
  t.equal(a.agent.driver.counters('out', 0x2001), undefined, 'SA gone');
  t.notOk(await w.ping('a', 'bm'));
  t.ok((a.agent.status().drops.driver['no-policy'] ?? 0) >= 1, 'and its policy: no-policy, not no-sa');
  // Back again under the same name: SPIs 0x1001/0x2001 are free to be installed again.
  a.text = keys(A.local, A['gw-b'], A['gw-c'], A['m-b'].replace(`key-out=${KEY_AB}`, `key-out=${NEW_AB}`));
  t.same((await a.reloader.reload()).added, ['m-b']);
  t.ok(await w.ping('a', 'bm'));
});

t.test('a reload ends every down; reqids are never reused', async (t) => {
  const w = await abc(t);
  const a = w.node('a');
  await a.agent.down('gw-b');
  await a.agent.down('m-b');
  t.same(ikeStates(a, 'gw-b'), []);
  t.same((await a.reloader.reload()).unchanged, ['gw-b', 'gw-c', 'm-b'], 'the same file');
  await w.settle();
  t.same(ikeStates(a, 'gw-b'), ['established'], 'gw-b is brought up again (start=initiate)');
  t.ok(await w.ping('a', 'bm'), 'm-b has its SAs again');
  t.same(a.agent.status().peers.map((p) => p.down), [false, false, false]);
  // gw-c removed (reqid 2), then gw-x added: it does not get 2.
  a.text = keys(A.local, A['gw-b'], A['m-b']);
  await a.reloader.reload();
  a.text = keys(A.local, A['gw-b'], A['m-b'], GW_D.replace('gw-d', 'gw-x'));
  await a.reloader.reload();
  t.same(reqids(w), { 'gw-b': 1, 'm-b': 3, 'gw-x': 4 });
});

t.test('reloads run one at a time', async (t) => {
  const w = await abc(t);
  const a = w.node('a');
  a.text = keys(A.local, A['gw-b'], A['m-b']);
  const r1 = a.reloader.reload();
  const r2 = a.reloader.reload();
  t.same((await r1).removed, ['gw-c']);
  t.same(await r2, { added: [], removed: [], changed: [], unchanged: ['gw-b', 'm-b'] }, 'the second sees the first applied');
});
