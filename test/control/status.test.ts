/**
 * The status model and up/down, in process: agents started from key files (world.ts) with a fake
 * clock. What `keyline show --json` returns is Agent.status() as is.
 */
import t from 'tap';
import { formatStatus, type AgentStatus, type PeerStatus } from '../../src/control/status.js';
import { KeylineError } from '../../src/wire/errors.js';
import { ADDR, ENTRIES, HOST, keys, world, ikeStates, type Name, type World } from './world.js';

const A = ENTRIES.a;
const B = ENTRIES.b;

async function ab(t: Tap.Test, o: Parameters<World['start']>[2] = {}): Promise<World> {
  const w = world();
  t.teardown(() => w.stop());
  await w.start('b', keys(B.local, B['gw-a'], B['m-a']));
  await w.start('a', keys(A.local, A['gw-b'], A['m-b']), o);
  t.same(ikeStates(w.node('a'), 'gw-b'), ['established'], 'A and B are up');
  return w;
}

const peer = (s: AgentStatus, name: string): PeerStatus => {
  const p = s.peers.find((x) => x.name === name);
  if (!p) throw new Error(`no ${name} in status`);
  return p;
};

t.test('status: IKE SA by state name with SPIs, proposal, age, rekey time; child SAs with counters', async (t) => {
  const w = await ab(t);
  await w.advance(60_000);
  const s = w.node('a').agent.status();
  t.equal(s.tunnel, 'a0');
  t.same(s.listen, ['192.0.2.1:500', '192.0.2.1:4500']);
  t.equal(s.pid, process.pid);
  t.equal(s.uptimeS, 60);
  t.same(s.peers.map((p) => [p.name, p.keying, p.reqid]), [['gw-b', 'ike', 1], ['m-b', 'manual', 2]], 'key file order');
  const gw = peer(s, 'gw-b');
  t.equal(gw.remote, '192.0.2.2:4500');
  t.equal(gw.start, 'initiate');
  t.equal(gw.down, false);
  const ike = gw.ikeSas![0]!;
  t.equal(ike.state, 'established');
  t.equal(ike.role, 'initiator');
  t.match(ike.spiI, /^[0-9a-f]{16}$/);
  t.match(ike.spiR, /^[0-9a-f]{16}$/);
  t.equal(ike.proposal, 'aes256gcm16-prfsha256-x25519');
  t.equal(ike.peerId, 'fqdn:b.example');
  t.equal(ike.ageS, 60);
  // ike-lifetime 4h, rekey-margin 9m: the rekey starts between 18 and 9 minutes before the end.
  t.ok(ike.rekeyInS! >= 4 * 3600 - 18 * 60 - 60 && ike.rekeyInS! <= 4 * 3600 - 9 * 60 - 60, `IKE rekey in ${ike.rekeyInS} s`);
  const c = ike.children[0]!;
  const real = w.node('a').agent.ike.sas()[0]!.children[0]!;
  t.equal(c.spiIn, '0x' + real.spiIn.toString(16).padStart(8, '0'));
  t.equal(c.suite, 'aes256gcm16');
  t.equal(c.state, 'installed');
  t.ok(c.rekeyInS! >= 3600 - 18 * 60 - 60 && c.rekeyInS! <= 3600 - 9 * 60 - 60, `child rekey in ${c.rekeyInS} s`);
  t.same([c.out.packets, c.in.packets], [0, 0]);
  for (let i = 0; i < 3; i++) t.ok(await w.ping('a', 'b'));
  t.ok(await w.ping('b', 'a'));
  const c2 = peer(w.node('a').agent.status(), 'gw-b').ikeSas![0]!.children[0]!;
  t.same([c2.out.packets, c2.in.packets], [3, 1], 'counters each way');
  t.equal(c2.out.bytes, 3 * 60, 'inner bytes: three 60-byte echo requests');
  const m = peer(s, 'm-b');
  t.same([m.remote, m.manual?.spiIn, m.manual?.spiOut, m.manual?.suite], ['192.0.2.2:4500', '0x00001001', '0x00002001', 'aes128-sha256-esn']);
  t.equal(m.manual?.rekeyInS, undefined, 'manual SAs are not rekeyed');
  t.ok(await w.ping('a', 'bm'), 'manual SA carries traffic');
  t.equal(peer(w.node('a').agent.status(), 'm-b').manual?.out.packets, 1);
  const json = JSON.stringify(w.node('a').agent.status());
  t.notMatch(json, /1111111111|a1a1a1a1|b2b2b2b2/, 'no key material in the status');
  t.same(JSON.parse(json), w.node('a').agent.status(), 'JSON-safe: survives a round trip');
});

t.test('status: drop counters from the driver, per SA, and from IKE', async (t) => {
  const w = await ab(t);
  // Every datagram A sends goes twice: the second copy of each ESP packet is a replay at B.
  w.net.fault = (d) => [d, d];
  t.ok(await w.ping('a', 'b'));
  w.net.fault = undefined;
  const c = peer(w.node('b').agent.status(), 'gw-a').ikeSas![0]!.children[0]!;
  t.same(c.in.drops, { replay: 1 }, 'the replayed packet is counted on the SA');
  // A packet for a network no policy covers is dropped by the driver.
  w.node('a').tun.inject((await import('../../src/sa/icmp.js')).icmpEcho(HOST.a, '192.0.2.200', 1, 1));
  await w.settle();
  const s = w.node('a').agent.status();
  t.ok(Object.values(s.drops.driver).reduce((a, b) => a + b, 0) >= 1, `driver drops ${JSON.stringify(s.drops.driver)}`);
  // Garbage on the IKE port is counted by the engine.
  const b = w.node('b');
  b.agent.ike.receive(new Uint8Array(10), { addr: '192.0.2.9', port: 500 }, { transport: b.agent.transports[0]!, natt: false });
  t.ok(Object.keys(b.agent.status().drops.ike).length >= 1, `ike drops ${JSON.stringify(b.agent.status().drops.ike)}`);
  const text = formatStatus(w.node('b').agent.status());
  t.match(text, /\ndrops: ike: ike-malformed=1\n/);
  t.match(text, /drops replay=1/, 'per-SA drops in the text');
});

t.test('status of one peer; an unknown peer is UNKNOWN_PEER', async (t) => {
  const w = await ab(t);
  const s = w.node('a').agent.status('m-b');
  t.same(s.peers.map((p) => p.name), ['m-b']);
  t.throws(() => w.node('a').agent.status('nope'), { code: 'UNKNOWN_PEER', message: /no peer 'nope' \(configured: gw-b, m-b\)/ });
});

t.test('down: DELETE on both sides, no re-initiation; up brings it back', async (t) => {
  const w = await ab(t);
  const a = w.node('a');
  const r = await a.agent.down('gw-b');
  t.same(r, { peer: 'gw-b', keying: 'ike', deleted: 1 });
  t.same(ikeStates(a, 'gw-b'), [], 'A has no IKE SA');
  t.same(ikeStates(w.node('b'), 'gw-a'), [], 'B got the DELETE');
  t.equal(peer(a.agent.status(), 'gw-b').down, true);
  await w.advance(120_000);
  t.same(ikeStates(a, 'gw-b'), [], 'not brought back by the retry timer or traffic');
  t.notOk(await w.ping('a', 'b'), 'traffic is dropped, not sent');
  await w.advance(5_000);
  t.same(ikeStates(a, 'gw-b'), [], 'not by an acquire either');
  const u = await a.agent.up('gw-b');
  t.same(u, { peer: 'gw-b', keying: 'ike', action: 'initiating', state: 'established', established: true });
  t.equal(peer(a.agent.status(), 'gw-b').down, false);
  t.ok(await w.ping('a', 'b'), 'traffic again');
  t.same((await a.agent.up('gw-b')).action, 'already-up');
});

t.test('up of a start=wait peer initiates from that side; unknown peers and addr=any refused', async (t) => {
  const w = await ab(t);
  await w.node('a').agent.down('gw-b');
  const b = w.node('b');
  const u = await b.agent.up('gw-a');
  t.equal(u.established, true, 'B (start=wait) initiated');
  t.equal(b.agent.ike.sas()[0]!.role, 'initiator');
  t.ok(await w.ping('b', 'a'));
  await t.rejects(b.agent.up('nope'), { code: 'UNKNOWN_PEER' });
  await t.rejects(b.agent.down('nope'), { code: 'UNKNOWN_PEER' });
  const w2 = world(2);
  t.teardown(() => w2.stop());
  const rw = await w2.start('c', keys(ENTRIES.c.local, `peer rw addr=any id=fqdn:rw.example psk=hex:${'55'.repeat(32)} local-net=203.0.113.128/25 remote-net=198.51.100.0/24`));
  const e = await rw.agent.up('rw').catch((x: unknown) => x);
  t.ok(e instanceof KeylineError && e.code === 'NO_ADDRESS', 'addr=any cannot be brought up from here');
});

t.test('up does not wait past its bound when the peer does not answer', async (t) => {
  const w = world();
  t.teardown(() => w.stop());
  const a = await w.start('a', keys(A.local, A['gw-b'] + ' start=wait'));
  const u = await a.agent.up('gw-b', { waitMs: 200 });
  t.same([u.established, u.state], [false, 'connecting']);
});

t.test('down and up of a manual peer: SAs out (policies stay: traffic dropped, not leaked), SAs back', async (t) => {
  const w = await ab(t);
  const a = w.node('a');
  t.same(await a.agent.down('m-b'), { peer: 'm-b', keying: 'manual', deleted: 1 });
  t.equal(a.agent.driver.counters('out', 0x2001), undefined, 'outbound SA gone');
  const m = peer(a.agent.status(), 'm-b');
  t.same([m.down, m.manual], [true, undefined]);
  t.notOk(await w.ping('a', 'bm'));
  t.ok((a.agent.status().drops.driver['no-sa'] ?? 0) >= 1, 'counted as no-sa');
  t.same((await a.agent.up('m-b')).action, 'installed');
  t.ok(await w.ping('a', 'bm'));
  t.same((await a.agent.up('m-b')).action, 'already-installed');
});

t.test('inline keying hook: shown under its peer when the agent is given one', async (t) => {
  const w = await ab(t, {
    inline: (p) =>
      p === 'gw-b'
        ? {
            sas: [{ spiIn: '0x00000abc', spiOut: '0x00000def', suite: 'aes256gcm16', state: 'installed', ageS: 3, flow: '198.51.100.7 -> 203.0.113.9', in: { bytes: 1, packets: 1, drops: {} }, out: { bytes: 2, packets: 2 } }],
            counters: { spawned: 1 },
          }
        : undefined,
  });
  const s = w.node('a').agent.status();
  t.equal(peer(s, 'gw-b').inline?.sas.length, 1);
  t.equal(peer(s, 'm-b').inline, undefined);
  const text = formatStatus(s);
  t.match(text, /inline keying: 1 spawned SA, spawned=1/);
  t.match(text, /inline SA installed 198\.51\.100\.7 -> 203\.0\.113\.9: in 0x00000abc out 0x00000def/);
});

t.test('psk-static peers are shown with their inline SAs; up and down say why they do not apply', async (t) => {
  const w = world();
  t.teardown(() => w.stop());
  const psk = `hex:${'33'.repeat(32)}`;
  const staticPeer = (name: string, to: Name, local: string, remote: string) => `peer ${name} addr=${ADDR[to]} keying=psk-static psk=${psk} local-net=${local} remote-net=${remote}`;
  await w.start('b', keys(B.local, staticPeer('s-a', 'a', '203.0.113.64/26', '198.51.100.0/24')));
  await w.start('c', keys(ENTRIES.c.local, staticPeer('s-a', 'a', '203.0.113.128/25', '198.51.100.0/24')));
  const a = await w.start('a', keys(A.local, A['gw-b'] + ' start=wait', staticPeer('s-b', 'b', '198.51.100.0/24', '203.0.113.64/26'), staticPeer('s-c', 'c', '198.51.100.0/24', '203.0.113.128/25')));
  const before = peer(a.agent.status(), 's-c');
  t.same(a.agent.status().peers.map((p) => [p.name, p.keying]), [['gw-b', 'ike'], ['s-b', 'psk-static'], ['s-c', 'psk-static']], 'listed in key-file order with their keying');
  t.same([before.remote, before.reqid, before.down], ['192.0.2.3:4500', 3, false], 'and address');
  t.equal(before.inline?.sas.length ?? 0, 0, 'no inline SA before traffic');
  t.match(formatStatus(a.agent.status(), 's-c'), /^s-c: psk-static, 192\.0\.2\.3:4500, reqid 3\n  inline keying: 0 spawned SAs\n$/, 'show s-c: its block, with no SA yet');

  t.ok(await w.ping('a', 'c'), 'a ping A -> C is keyed inline');
  t.ok(await w.ping('c', 'a'), 'and the answer C -> A');
  const after = peer(a.agent.status(), 's-c');
  t.equal(after.inline?.sas.length, 1, 'one inline SA pair under the peer');
  t.same(after.inline?.counters, { spawned: 1, answered: 0, acknowledged: 1, expired: 0, idled: 0, evicted: 0, refused: 0, retired: 0, collisions: 0 }, "its own counters: A offered, C's answer acknowledged it");
  t.ok(await w.ping('a', 'bm'), 'a ping A -> B on the other static peer');
  const sb = peer(a.agent.status(), 's-b');
  t.same([sb.inline?.sas.length, sb.inline?.counters?.['spawned']], [1, 1], "s-b's flow and count are its own");
  t.same(peer(a.agent.status(), 's-c').inline?.counters?.['spawned'], 1, "s-c's count did not move");
  const text = formatStatus(a.agent.status());
  t.match(text, /s-c: psk-static, 192\.0\.2\.3:4500, reqid 3\n  inline keying: 1 spawned SA, acknowledged=1 spawned=1\n/, 'in the full text too, with its counters');
  t.match(text, /inline SA established 198\.51\.100\.1\/32 <-> 203\.0\.113\.129\/32: in 0x[0-9a-f]{8} out 0x[0-9a-f]{8} aes256gcm16/);

  await t.rejects(a.agent.up('s-c'), { code: 'STATIC_PEER', message: /keyed psk-static: it has no IKE SA or fixed SA to bring up/ });
  await t.rejects(a.agent.down('s-c'), { code: 'STATIC_PEER' });
  await t.rejects(a.agent.up('nope'), { code: 'UNKNOWN_PEER', message: /configured: gw-b, s-b, s-c/ });
});

t.test('formatStatus: one block per peer, then drops', async (t) => {
  const w = await ab(t);
  await w.ping('a', 'b');
  const text = formatStatus(w.node('a').agent.status());
  t.match(text, /^keyline \S+, pid \d+, up 0s, tunnel a0, listening on 192\.0\.2\.1:500 192\.0\.2\.1:4500\n/);
  t.match(text, /\ngw-b: ike, 192\.0\.2\.2:4500, start=initiate, reqid 1\n  IKE SA established, initiator, [0-9a-f]{16}_[0-9a-f]{16} aes256gcm16-prfsha256-x25519, 192\.0\.2\.2:4500 fqdn:b\.example, age 0s, rekey in \S+\n    child SA installed: in 0x[0-9a-f]{8} out 0x[0-9a-f]{8} aes256gcm16, age 0s, rekey in \S+\n      in  0 B 0 pkts; out \d+ B 1 pkts\n/);
  t.match(text, /\nm-b: manual, 192\.0\.2\.2:4500, reqid 2\n  manual SA installed: in 0x00001001 out 0x00002001 aes128-sha256-esn/);
  t.match(text, /\ndrops: /);
  t.match(formatStatus(w.node('a').agent.status('gw-b'), 'gw-b'), /^gw-b: ike/, 'one peer: no header');
  await w.node('a').agent.down('gw-b');
  t.match(formatStatus(w.node('a').agent.status()), /gw-b: ike, .*DOWN \(keyline up to bring it back\)\n  no IKE SA\n/);
});

import type * as Tap from 'tap';
