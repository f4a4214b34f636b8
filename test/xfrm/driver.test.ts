/**
 * The xfrm driver against a scripted `ip` (test/xfrm/fake.ts): which commands it runs, in which
 * order, for each Driver call and each monitor message, and what it reports back. The kernel
 * itself is exercised by test/kernel-vm/.
 */
import t from 'tap';
import { fakeDriver } from './fake.js';
import { manualSas } from '../../src/sa/manual.js';
import { peerConfig } from '../drivers/conformance.js';
import { REQID_BASE, MONITOR_ARGS } from '../../src/drivers/xfrm/commands.js';
import type { DriverEvent } from '../../src/drivers/driver.js';
import { MemoryNetwork } from '../../src/transport/memory.js';

const K1 = REQID_BASE + 1;
const m = peerConfig();
const { inbound, outbound, policies } = manualSas(m);
const pol = policies[0]!;
const events = (d: { onEvent(h: (e: DriverEvent) => void): void }) => {
  const seen: DriverEvent[] = [];
  d.onEvent((e) => seen.push(e));
  return seen;
};

t.test('open: the monitor starts, leftovers of ours are removed, IKE ports bypass the policies', async (t) => {
  const { d, ip } = await fakeDriver({ ikeEndpoints: [{ addr: '0.0.0.0', port: 500 }, { addr: '0.0.0.0', port: 4500 }] }, (ip) => {
    ip.on(/^xfrm policy list$/, () =>
      [
        'src 198.51.100.0/24 dst 203.0.113.0/24 ',
        '\tdir out priority 100 ptype main ',
        '\ttmpl src 192.0.2.1 dst 192.0.2.2',
        `\t\tproto esp reqid ${K1} mode tunnel`,
        'src 10.1.0.0/16 dst 10.2.0.0/16 ',
        '\tdir out priority 375423 ptype main ',
        '\ttmpl src 192.0.2.1 dst 192.0.2.9',
        '\t\tproto esp reqid 1 mode tunnel',
        '',
      ].join('\n'),
    );
    ip.on(/^-s xfrm state list nokeys$/, () =>
      [
        'src 192.0.2.1 dst 192.0.2.2',
        `\tproto esp spi 0x0000abcd(43981) reqid ${K1}(0x6b6c0001) mode tunnel`,
        'src 192.0.2.1 dst 192.0.2.9',
        '\tproto esp spi 0x0000dcba(56506) reqid 1(0x00000001) mode tunnel',
        '',
      ].join('\n'),
    );
  });
  t.teardown(() => d.close());
  t.same(ip.monitorArgs, MONITOR_ARGS);
  t.same(ip.lines(), [
    'xfrm policy list',
    'xfrm policy delete src 198.51.100.0/24 dst 203.0.113.0/24 dir out',
    '-s xfrm state list nokeys',
    'xfrm state delete src 192.0.2.1 dst 192.0.2.2 proto esp spi 0x0000abcd',
    'xfrm policy update src 0.0.0.0/0 dst 0.0.0.0/0 proto 17 sport 500 dir out priority 1 action allow',
    'xfrm policy update src 0.0.0.0/0 dst 0.0.0.0/0 proto 17 dport 500 dir in priority 1 action allow',
    'xfrm policy update src 0.0.0.0/0 dst 0.0.0.0/0 proto 17 sport 4500 dir out priority 1 action allow',
    'xfrm policy update src 0.0.0.0/0 dst 0.0.0.0/0 proto 17 dport 4500 dir in priority 1 action allow',
  ], "another daemon's SA and policy (reqid 1) are left alone");
});

t.test('open fails with a typed error saying what the kernel needs', async (t) => {
  await t.rejects(
    fakeDriver({}, (ip) => ip.on(/policy list/, () => new Error('ip xfrm policy list: RTNETLINK answers: Protocol not supported'))),
    { code: 'XFRM', message: /Protocol not supported.*xfrm_user/ },
  );
});

t.test('SAs and policies: exact commands, inbound through ip -batch, policy templates from the SA', async (t) => {
  const { d, ip } = await fakeDriver();
  t.teardown(() => d.close());
  ip.clear();
  await d.addSa(inbound);
  await d.addSa(outbound);
  await d.addPolicy(pol);
  t.same(ip.log.map((r) => r.secret), [true, true, false, false, false]);
  t.same(ip.lines(), [
    `xfrm state add src 192.0.2.2 dst 192.0.2.1 proto esp spi 0x0a000001 reqid ${K1} mode tunnel replay-window 64 flag esn aead rfc4106(gcm(aes)) 0x${'11'.repeat(36)} 128 sel src 203.0.113.0/24 dst 198.51.100.0/24`,
    `xfrm state add src 192.0.2.1 dst 192.0.2.2 proto esp spi 0x0b000001 reqid ${K1} mode tunnel replay-window 1 flag esn aead rfc4106(gcm(aes)) 0x${'22'.repeat(36)} 128 sel src 198.51.100.0/24 dst 203.0.113.0/24`,
    `xfrm policy update src 198.51.100.0/24 dst 203.0.113.0/24 dir out priority 100 tmpl src 192.0.2.1 dst 192.0.2.2 proto esp reqid ${K1} mode tunnel level required`,
    `xfrm policy update src 203.0.113.0/24 dst 198.51.100.0/24 dir in priority 100 tmpl src 192.0.2.2 dst 192.0.2.1 proto esp reqid ${K1} mode tunnel`,
    `xfrm policy update src 203.0.113.0/24 dst 198.51.100.0/24 dir fwd priority 100 tmpl src 192.0.2.2 dst 192.0.2.1 proto esp reqid ${K1} mode tunnel`,
  ]);
  t.same(d.counters('out', m.spiOut), { packets: 0, bytes: 0, drops: {} });
  await t.rejects(d.addSa(outbound), { code: 'SA_EXISTS' });
  await t.rejects(d.addSa({ ...outbound, spi: 0x0b000002, replayWindow: 5000 }), { code: 'BAD_SA' });
  ip.clear();
  await d.deletePolicy(pol.id);
  await d.deleteSa('out', m.spiOut);
  await d.deleteSa('out', m.spiOut); // twice: harmless, no command
  t.same(ip.lines(), [
    'xfrm policy delete src 198.51.100.0/24 dst 203.0.113.0/24 dir out',
    'xfrm policy delete src 203.0.113.0/24 dst 198.51.100.0/24 dir in',
    'xfrm policy delete src 203.0.113.0/24 dst 198.51.100.0/24 dir fwd',
    'xfrm state delete src 192.0.2.1 dst 192.0.2.2 proto esp spi 0x0b000001',
  ]);
  t.equal(d.counters('out', m.spiOut), undefined);
});

t.test('kernel errors become typed errors that say what to install', async (t) => {
  const { d, ip } = await fakeDriver();
  t.teardown(() => d.close());
  ip.on(/state add/, () => new Error('ip xfrm state add: RTNETLINK answers: Requested type not found'));
  await t.rejects(d.addSa(inbound), { code: 'XFRM_UNSUPPORTED', message: /esp4.*kmod-ipsec4/ });
  ip.handlers.length = 0;
  ip.on(/state add/, () => new Error('Error: Requested AEAD algorithm not found.'));
  await t.rejects(d.addSa(inbound), { code: 'XFRM_UNSUPPORTED', message: /kmod-crypto-gcm/ });
  t.equal(d.counters('in', m.spiIn), undefined, 'nothing recorded for an SA the kernel refused');
  ip.handlers.length = 0;
  ip.on(/state add/, () => new Error('RTNETLINK answers: File exists'));
  await t.rejects(d.addSa(inbound), { code: 'SA_EXISTS' });
});

t.test('a listen address of 0.0.0.0: the SA source comes from the route towards the peer', async (t) => {
  const { d, ip } = await fakeDriver({}, (ip) => ip.on(/route get 192\.0\.2\.2$/, () => '192.0.2.2 dev eth0 src 192.0.2.77 uid 0 \\    cache \n'));
  t.teardown(() => d.close());
  ip.clear();
  await d.addSa({ ...outbound, local: { addr: '0.0.0.0', port: 4500 } });
  await d.addSa({ ...inbound, local: { addr: '0.0.0.0', port: 4500 } });
  t.same(ip.lines().map((l) => l.split(' ').slice(0, 11).join(' ')), [
    '-o route get 192.0.2.2',
    'xfrm state add src 192.0.2.77 dst 192.0.2.2 proto esp spi 0x0b000001',
    'xfrm state add src 192.0.2.2 dst 192.0.2.77 proto esp spi 0x0a000001',
  ], 'looked up once, then cached');
});

t.test('allocSpi: kernel allocspi where the SA will live, then update turns the larval SA into the real one', async (t) => {
  const { d, ip } = await fakeDriver({}, (ip) =>
    ip.on(/allocspi/, () => `src 192.0.2.2 dst 192.0.2.1\n\tproto esp spi 0x5b8c47d5 reqid ${K1} mode tunnel\n\treplay-window 0 \n`),
  );
  t.teardown(() => d.close());
  ip.clear();
  const spi = await d.allocSpi({ reqid: 1, local: { addr: '192.0.2.1', port: 4500 }, remote: { addr: '192.0.2.2', port: 4500 }, mode: 'tunnel' });
  t.equal(spi, 0x5b8c47d5);
  await d.addSa({ ...inbound, spi });
  t.same(ip.lines().map((l) => l.split(' ').slice(0, 3).join(' ')), ['xfrm state allocspi', 'xfrm state update']);
  t.match(ip.lines()[0], `allocspi src 192.0.2.2 dst 192.0.2.1 proto esp mode tunnel reqid ${K1} min 0x100 max 0xffffffff`);

  // The reservation expired (30 s): update fails with ESRCH and the SA is added afresh.
  const spi2 = await d.allocSpi({ reqid: 1, local: { addr: '192.0.2.1', port: 4500 }, remote: { addr: '192.0.2.2', port: 4500 }, mode: 'tunnel' });
  t.equal(spi2, 0x5b8c47d5, 'the scripted kernel answers the same SPI again');
  await d.deleteSa('in', spi);
  ip.clear();
  ip.on(/state update/, () => new Error('RTNETLINK answers: No such process'));
  await d.addSa({ ...inbound, spi: spi2 });
  t.same(ip.lines().map((l) => l.split(' ').slice(0, 3).join(' ')), ['xfrm state update', 'xfrm state add']);

  // A negotiation that fails after allocSpi gives the reservation back.
  await d.deleteSa('in', spi2);
  ip.clear();
  const spare = await d.allocSpi({ reqid: 1, local: { addr: '192.0.2.1', port: 4500 }, remote: { addr: '192.0.2.2', port: 4500 }, mode: 'tunnel' });
  await d.deleteSa('in', spare);
  t.same(ip.lines().slice(1), ['xfrm state delete src 192.0.2.2 dst 192.0.2.1 proto esp spi 0x5b8c47d5']);
});

t.test('allocSpi without a hint: random, unique among our SAs, outside 1..255', async (t) => {
  const vals = [5, 0x0a000001, 0x0a000001, 0x777];
  const { d } = await fakeDriver({ random32: () => vals.shift() ?? 0x999 });
  t.teardown(() => d.close());
  await d.addSa(inbound);
  t.equal(await d.allocSpi(), 0x777);
});

t.test('policies before any SA: the template from the key file, else they wait for the first SA', async (t) => {
  const { d, ip } = await fakeDriver(
    { tunnels: (reqid) => (reqid === 1 ? { remote: '192.0.2.2', mode: 'tunnel' } : reqid === 2 ? { mode: 'tunnel' } : undefined) },
    (ip) => ip.on(/route get/, () => '192.0.2.2 dev eth0 src 192.0.2.1 uid 0\n'),
  );
  t.teardown(() => d.close());
  ip.clear();
  await d.addPolicy(pol);
  t.same(ip.lines().slice(0, 2), [
    '-o route get 192.0.2.2',
    `xfrm policy update src 198.51.100.0/24 dst 203.0.113.0/24 dir out priority 100 tmpl src 192.0.2.1 dst 192.0.2.2 proto esp reqid ${K1} mode tunnel level required`,
  ]);
  ip.clear();
  const anyPeer = { ...pol, id: 128, reqid: 2 };
  await d.addPolicy(anyPeer);
  t.same(ip.lines(), [], 'addr=any: no address for the template yet');
  await d.deletePolicy(anyPeer.id);
  await d.addPolicy(anyPeer);
  await d.addSa({ ...inbound, reqid: 2, remote: { addr: '192.0.2.50', port: 4500 } });
  t.same(ip.lines().map((l) => l.replace(/ aead .*/, '')), [
    `xfrm state add src 192.0.2.50 dst 192.0.2.1 proto esp spi 0x0a000001 reqid ${REQID_BASE + 2} mode tunnel replay-window 64 flag esn`,
    `xfrm policy update src 198.51.100.0/24 dst 203.0.113.0/24 dir out priority 100 tmpl src 192.0.2.1 dst 192.0.2.50 proto esp reqid ${REQID_BASE + 2} mode tunnel level required`,
    `xfrm policy update src 203.0.113.0/24 dst 198.51.100.0/24 dir in priority 100 tmpl src 192.0.2.50 dst 192.0.2.1 proto esp reqid ${REQID_BASE + 2} mode tunnel`,
    `xfrm policy update src 203.0.113.0/24 dst 198.51.100.0/24 dir fwd priority 100 tmpl src 192.0.2.50 dst 192.0.2.1 proto esp reqid ${REQID_BASE + 2} mode tunnel`,
  ], 'placed with the first SA of the reqid, from its addresses');
});

const expire = (spi: number, hard: boolean, dst = '192.0.2.2', src = '192.0.2.1') =>
  `Expired src ${src} dst ${dst}\n\tproto esp spi 0x${spi.toString(16).padStart(8, '0')} reqid ${K1} mode tunnel\n\treplay-window 0 flag esn\n\thard ${hard ? 1 : 0}\n`;
const acquire = (kreqid = K1) =>
  `acquire proto esp \n  sel src 198.51.100.10/32 dst 203.0.113.10/32 proto icmp type 8 code 0 dev va \n  policy src 198.51.100.0/24 dst 203.0.113.0/24 \n    \tdir out priority 100 ptype main \n    \ttmpl src 192.0.2.1 dst 192.0.2.2\n    \t\tproto esp reqid ${kreqid} mode tunnel\n`;

t.test('monitor: soft expire asks for a rekey, hard expire reports the SA gone', async (t) => {
  const { d, ip, clock } = await fakeDriver();
  t.teardown(() => d.close());
  const seen = events(d);
  await d.addSa(inbound);
  await d.addSa(outbound);
  ip.print(expire(m.spiOut, false));
  t.same(seen, [], 'held until the message is complete');
  clock.advance(100);
  t.match(seen, [{ type: 'expire', dir: 'out', spi: m.spiOut, reqid: 1, hard: false }]);
  ip.print(expire(m.spiOut, true) + expire(m.spiIn, true, '192.0.2.1', '192.0.2.2') + expire(0x4444, true));
  clock.advance(100);
  t.match(seen.slice(1), [
    { type: 'expire', dir: 'out', spi: m.spiOut, hard: true },
    { type: 'expire', dir: 'in', spi: m.spiIn, hard: true },
  ], 'an SA that is not ours is ignored');
  t.equal(d.counters('out', m.spiOut), undefined, 'the kernel removed it');
  ip.clear();
  await d.deleteSa('out', m.spiOut);
  t.same(ip.lines(), [], 'nothing left to delete');
});

t.test('monitor: acquire for our policy starts keying, once per hold time; others are ignored', async (t) => {
  const { d, ip, clock } = await fakeDriver({ tunnels: () => ({ remote: '192.0.2.2', mode: 'tunnel' }) }, (ip) =>
    ip.on(/route get/, () => '192.0.2.2 dev va src 192.0.2.1\n'),
  );
  t.teardown(() => d.close());
  const seen = events(d);
  await d.addPolicy(pol);
  ip.print(acquire() + acquire() + acquire(1));
  clock.advance(100);
  t.same(seen, [{ type: 'acquire', reqid: 1, policyId: pol.id, selector: pol.selector }]);
  t.equal(d.drops()['no-sa'], 2, 'each acquire is a dropped packet');
  clock.advance(1000);
  ip.print(acquire());
  clock.advance(100);
  t.equal(seen.length, 2, 'again after the hold time');
});

t.test('monitor that dies is reported and restarted', async (t) => {
  const { d, ip, clock } = await fakeDriver();
  t.teardown(() => d.close());
  const seen = events(d);
  ip.monitorDies('killed');
  ip.monitorDies('closed'); // error and close of the same process
  t.match(seen, [{ type: 'error', message: /monitor stopped: killed/ }]);
  clock.advance(1000);
  t.equal(ip.monitorsStarted, 2);
});

t.test('refresh: counters from ip -s xfrm state, drops from /proc/net/xfrm_stat', async (t) => {
  const { d, ip } = await fakeDriver({ stat: 'XfrmInNoStates 3\nXfrmInStateProtoError 1\n' });
  t.teardown(() => d.close());
  await d.addSa(inbound);
  ip.on(/state list/, () =>
    `src 192.0.2.2 dst 192.0.2.1\n\tproto esp spi 0x0a000001(167772161) reqid ${K1}(0x6b6c0001) mode tunnel\n\tlifetime current:\n\t  840(bytes), 10(packets)\n\tstats:\n\t  replay-window 0 replay 2 failed 1\n`,
  );
  await d.refresh();
  t.same(d.counters('in', m.spiIn), { packets: 10, bytes: 840, drops: { replay: 2, auth: 1 } });
  t.match(d.drops(), { 'unknown-spi': 3, auth: 1 });
});

t.test('updateSa: the same address is a no-op (plain ESP has no ports); a new one replaces SA and templates', async (t) => {
  const { d, ip } = await fakeDriver();
  t.teardown(() => d.close());
  await d.addSa(inbound);
  await d.addSa(outbound);
  await d.addPolicy(pol);
  ip.clear();
  await d.updateSa('out', m.spiOut, { remote: { addr: '192.0.2.2', port: 40000 } });
  t.same(ip.lines(), []);
  await d.updateSa('out', m.spiOut, { remote: { addr: '192.0.2.3', port: 4500 } });
  t.same(ip.lines().map((l) => l.replace(/ aead .*/, '').replace(/ proto esp reqid .*/, '')), [
    'xfrm state delete src 192.0.2.1 dst 192.0.2.2 proto esp spi 0x0b000001',
    `xfrm state add src 192.0.2.1 dst 192.0.2.3 proto esp spi 0x0b000001 reqid ${K1} mode tunnel replay-window 1 flag esn`,
    'xfrm policy update src 198.51.100.0/24 dst 203.0.113.0/24 dir out priority 100 tmpl src 192.0.2.1 dst 192.0.2.3',
    'xfrm policy update src 203.0.113.0/24 dst 198.51.100.0/24 dir in priority 100 tmpl src 192.0.2.3 dst 192.0.2.1',
    'xfrm policy update src 203.0.113.0/24 dst 198.51.100.0/24 dir fwd priority 100 tmpl src 192.0.2.3 dst 192.0.2.1',
  ]);
  await t.rejects(d.updateSa('in', 0x7777, { remote: m.remote }), { code: 'NO_SA' });
});

t.test('close: policies, then outbound before inbound SAs, reservations and bypasses out; monitor stopped; twice is harmless', async (t) => {
  const { d, ip } = await fakeDriver({ ikeEndpoints: [{ addr: '192.0.2.1', port: 4500 }] }, (ip) =>
    ip.on(/allocspi/, () => 'src 192.0.2.2 dst 192.0.2.1\n\tproto esp spi 0x00c0ffee reqid 1 mode tunnel\n'),
  );
  await d.addSa(inbound);
  await d.addSa(outbound);
  await d.addPolicy(pol);
  await d.allocSpi({ reqid: 1, local: m.local, remote: m.remote, mode: 'tunnel' });
  ip.clear();
  await d.close();
  await d.close();
  t.same(ip.lines(), [
    'xfrm policy delete src 198.51.100.0/24 dst 203.0.113.0/24 dir out',
    'xfrm policy delete src 203.0.113.0/24 dst 198.51.100.0/24 dir in',
    'xfrm policy delete src 203.0.113.0/24 dst 198.51.100.0/24 dir fwd',
    'xfrm state delete src 192.0.2.1 dst 192.0.2.2 proto esp spi 0x0b000001',
    'xfrm state delete src 192.0.2.2 dst 192.0.2.1 proto esp spi 0x0a000001',
    'xfrm state delete src 192.0.2.2 dst 192.0.2.1 proto esp spi 0x00c0ffee',
    'xfrm policy delete src 0.0.0.0/0 dst 0.0.0.0/0 proto 17 sport 4500 dir out',
    'xfrm policy delete src 0.0.0.0/0 dst 0.0.0.0/0 proto 17 dport 4500 dir in',
  ]);
  t.equal(ip.monitorsStopped, 1);
});

t.test('NAT-T socket: IKE behind the marker goes on; ESP in UDP is refused, counted and reported once per peer', async (t) => {
  const net = new MemoryNetwork();
  const mine = net.attach({ addr: '192.0.2.1', port: 4500 });
  const peer = net.attach({ addr: '192.0.2.2', port: 4500 });
  const ike: Uint8Array[] = [];
  const { d } = await fakeDriver({ transports: [mine], onIke: (data) => ike.push(data) });
  t.teardown(() => d.close());
  const seen = events(d);
  peer.send(new Uint8Array([0, 0, 0, 0, 1, 2, 3, 4, 5]), mine.local);
  peer.send(new Uint8Array([0xff]), mine.local);
  for (let i = 0; i < 3; i++) peer.send(new Uint8Array([0x0a, 0, 0, 1, 0, 0, 0, i, 9, 9, 9, 9]), mine.local);
  await net.settle();
  t.same(ike, [new Uint8Array([1, 2, 3, 4, 5])]);
  t.match(d.drops(), { keepalive: 1, 'esp-in-udp': 3 });
  t.match(seen, [{ type: 'error', message: /192\.0\.2\.2 sends ESP in UDP.*driver=userspace/ }]);
  t.equal(seen.length, 1);
});
