/**
 * Reload's comparison of two key files (src/config/diff.ts) and the reqids it leads to
 * (src/cli/plan.ts assignReqids): unchanged peers keep theirs, whatever moves around them.
 */
import t from 'tap';
import { assignReqids, planFromConfig } from '../../src/cli/plan.js';
import { diffConfigs, diffLocal, diffPeers, sameValue } from '../../src/config/diff.js';
import { parseConfig } from '../../src/config/index.js';
import { SecretBytes } from '../../src/config/secret.js';
import { ENTRIES, keys } from './world.js';

const A = ENTRIES.a;
const parse = (text: string) => parseConfig(text, { file: 'a.keys' });

t.test('sameValue: structure, bytes by content, undefined as absent', async (t) => {
  t.ok(sameValue({ a: [1, { b: 'x' }] }, { a: [1, { b: 'x' }] }));
  t.notOk(sameValue({ a: [1, 2] }, { a: [1, 2, 3] }));
  t.ok(sameValue({ a: 1, b: undefined }, { a: 1 }), 'an undefined field is an absent one');
  t.ok(sameValue(SecretBytes.copyOf(Uint8Array.of(1, 2, 3)), Uint8Array.of(1, 2, 3)), 'secrets by content');
  t.notOk(sameValue(Uint8Array.of(1, 2, 3), Uint8Array.of(1, 2, 4)));
  t.notOk(sameValue(Uint8Array.of(1), [1]), 'bytes are not an array');
  t.notOk(sameValue(null, {}));
  t.notOk(sameValue({ a: 1 }, { b: 1 }));
});

t.test('diffPeers: added, removed, changed, unchanged by name', async (t) => {
  const before = parse(keys(A.local, A['gw-b'], A['gw-c'], A['m-b']));
  t.same(diffPeers(before.peers, before.peers), { added: [], removed: [], changed: [], unchanged: ['gw-b', 'gw-c', 'm-b'] }, 'the same file changes nothing');
  const again = parse(keys(A.local, A['m-b'], A['gw-c'], A['gw-b']));
  t.same(diffPeers(before.peers, again.peers).unchanged, ['m-b', 'gw-c', 'gw-b'], 'order does not matter');
  const after = parse(keys(A.local, A['gw-b'].replace('psk=hex:11', 'psk=hex:33'), A['m-b'], 'peer gw-d addr=192.0.2.4 psk=hex:' + '44'.repeat(32) + ' local-net=198.51.100.0/24 remote-net=192.0.2.128/25'));
  t.same(diffPeers(before.peers, after.peers), { added: ['gw-d'], removed: ['gw-c'], changed: ['gw-b'], unchanged: ['m-b'] }, 'a new PSK is a change');
});

t.test('defaults count: writing a default out is no change, changing one is', async (t) => {
  const before = parse(keys(A.local, A['gw-b']));
  const explicit = parse(keys(A.local, A['gw-b'] + ' dpd=30s start=initiate'));
  t.same(diffPeers(before.peers, explicit.peers).unchanged, ['gw-b'], 'dpd=30s and start=initiate are the defaults');
  const other = parse(keys(A.local, A['gw-b'] + ' dpd=10s'));
  t.same(diffPeers(before.peers, other.peers).changed, ['gw-b']);
  const manualKey = parse(keys(A.local, A['m-b'].replace(`key-in=hex:${'b2'.repeat(48)}`, `key-in=hex:${'c3'.repeat(48)}`)));
  t.same(diffPeers(parse(keys(A.local, A['m-b'])).peers, manualKey.peers).changed, ['m-b'], 'a new manual key is a change');
});

t.test('local entry: restart-only keys, and the inherited id changes IKE peers without local-id', async (t) => {
  const before = parse(keys(A.local, A['gw-b'], A['m-b']));
  const tun = parse(keys(A.local.replace('tun=a0', 'tun=kl9') + ' mtu=1300', A['gw-b'], A['m-b']));
  const d = diffConfigs(before, tun);
  t.same(d.local, ['tun', 'mtu']);
  t.same(d.restart, ['tun', 'mtu']);
  const listen = diffConfigs(before, parse(keys(A.local.replace(':500,', ':501,'), A['gw-b'], A['m-b'])));
  t.same(listen.restart, ['listen']);
  const id = diffConfigs(before, parse(keys(A.local.replace('fqdn:a.example', 'fqdn:a2.example') + ' log-level=debug', A['gw-b'], A['m-b'])));
  t.same(id.local, ['id', 'log-level']);
  t.same(id.restart, [], 'id and log-level apply live');
  t.same(id.peers.changed, ['gw-b'], 'the IKE peer proves the new id');
  t.same(id.peers.unchanged, ['m-b'], 'the manual peer has no id');
  t.same(diffLocal(before.local, before.local), []);
  const ownId = parse(keys(A.local, A['gw-b'] + ' local-id=fqdn:own.example'));
  const ownId2 = parse(keys(A.local.replace('fqdn:a.example', 'fqdn:a2.example'), A['gw-b'] + ' local-id=fqdn:own.example'));
  t.same(diffConfigs(ownId, ownId2).peers.unchanged, ['gw-b'], 'a peer with its own local-id is not affected');
  const rw = diffConfigs(before, parse(keys(A.local + ' replay-window=128', A['gw-b'], A['m-b'])));
  t.same(rw.peers.changed, ['gw-b'], 'an inherited replay window changes the IKE peer');
  t.same(rw.peers.unchanged, ['m-b'], 'a manual peer has its own default (0)');
});

t.test('reqids: positions at first; a reload keeps unchanged peers and never reuses one', async (t) => {
  const first = parse(keys(A.local, A['gw-b'], A['gw-c'], A['m-b']));
  const p1 = planFromConfig(first);
  const ids1 = new Map([...p1.ike.map((p) => [p.name, p.reqid] as const), ...p1.manual.map((m) => [m.peer, m.reqid] as const)]);
  t.same(Object.fromEntries(ids1), { 'gw-b': 1, 'gw-c': 2, 'm-b': 3 }, 'position in the file, from 1');
  // A peer inserted at the top, gw-b changed: gw-c and m-b keep 2 and 3.
  const second = parse(keys(A.local, 'peer gw-d addr=192.0.2.4 psk=hex:' + '44'.repeat(32) + ' local-net=198.51.100.0/24 remote-net=192.0.2.128/25', A['gw-b'] + ' dpd=5s', A['gw-c'], A['m-b']));
  const d = diffPeers(first.peers, second.peers);
  const keep = new Map(d.unchanged.map((n) => [n, ids1.get(n)!]));
  const { reqids, next } = assignReqids(second, keep, 4);
  t.same(Object.fromEntries(reqids), { 'gw-d': 4, 'gw-b': 5, 'gw-c': 2, 'm-b': 3 });
  t.equal(next, 6);
  const p2 = planFromConfig(second, reqids);
  t.same(p2.ike.map((p) => [p.name, p.reqid]), [['gw-d', 4], ['gw-b', 5], ['gw-c', 2]]);
  t.same(p2.manual.map((m) => [m.peer, m.reqid]), [['m-b', 3]]);
  t.same(p2.manual[0]!.reqid, p1.manual[0]!.reqid, 'the manual peer too');
});
