import t, { type Test } from 'tap';
import dgram from 'node:dgram';
import { TunBridge, BACKOFF, findExecutable, socatArgs, type TunBridgeOptions } from '../../src/drivers/userspace/tun/bridge.js';
import { FakeClock } from '../../src/util/clock.js';
import { fakeHost, settle, tick, until, type FakeChild } from './fakes.js';

/** A bridge on a fake socat and fake `ip`, closed at the end of the test whatever happens. */
async function fakeBridge(t: Test, o: Partial<TunBridgeOptions> & { host?: ReturnType<typeof fakeHost> } = {}) {
  const host = o.host ?? fakeHost();
  const clock = new FakeClock();
  const logs: string[] = [];
  const bridge = await TunBridge.open({
    ifname: 'kl0',
    address: '198.51.100.1/24',
    spawn: host.spawn,
    run: host.run,
    clock,
    log: (l) => logs.push(l),
    ...o,
  });
  t.teardown(() => bridge.close());
  return { bridge, host, clock, logs };
}

function lastChild(host: ReturnType<typeof fakeHost>): FakeChild {
  const c = host.children.at(-1);
  if (!c) throw new Error('no socat spawned');
  return c;
}

t.test('open: socat command line, MTU, and an idempotent close', async (t) => {
  const { bridge, host } = await fakeBridge(t);
  const c = lastChild(host);
  t.equal(c.cmd, 'socat');
  t.same(c.args, [
    '-b8192',
    'TUN:198.51.100.1/24,tun-type=tun,iff-no-pi,iff-up,tun-name=kl0',
    `UDP:127.0.0.1:${bridge.localPort},bind=127.0.0.1:${bridge.bridgePort}`,
  ]);
  t.ok(bridge.bridgePort > 0 && bridge.bridgePort !== bridge.localPort);
  t.equal(bridge.pid, c.pid);
  t.same(host.changes(), [['ip', 'link', 'set', 'dev', 'kl0', 'mtu', '1400']]);
  const [a, b] = [bridge.close(), bridge.close()];
  t.equal(a, b, 'one close, however often called');
  await a;
  t.same(c.signals, ['SIGTERM']);
  t.equal(bridge.bridgePort, 0);
  await bridge.close();
  t.same(c.signals, ['SIGTERM'], 'no second kill');
});

t.test('IPv6: socat creates the device, ip sets the address', async (t) => {
  const { host } = await fakeBridge(t, { address: '2001:db8::1/64', mtu: 1280 });
  t.same(lastChild(host).args[1], 'TUN,tun-type=tun,iff-no-pi,iff-up,tun-name=kl0');
  t.same(host.changes(), [
    ['ip', 'link', 'set', 'dev', 'kl0', 'mtu', '1280'],
    ['ip', '-6', 'addr', 'replace', '2001:db8::1/64', 'dev', 'kl0', 'nodad'],
  ]);
  t.same(socatArgs({ ifname: 'kl1', address: '192.0.2.1/24' }, 9000, 1, 2)[0], '-b9000', 'buffer holds a jumbo packet');
});

t.test('options that could smuggle socat syntax are refused', async (t) => {
  const host = fakeHost();
  const base = { ifname: 'kl0', address: '198.51.100.1/24', spawn: host.spawn, run: host.run };
  await t.rejects(TunBridge.open({ ...base, ifname: 'kl0,iff-promisc' }), { code: 'TUN_CONFIG' });
  await t.rejects(TunBridge.open({ ...base, ifname: 'a-name-too-long-for-linux' }), { code: 'TUN_CONFIG' });
  await t.rejects(TunBridge.open({ ...base, address: '198.51.100.1' }), { code: 'TUN_CONFIG', message: /prefix length/ });
  await t.rejects(TunBridge.open({ ...base, address: '198.51.100.1/24,iff-up' }), { code: 'BAD_PREFIX' });
  await t.rejects(TunBridge.open({ ...base, mtu: 1000, address: '2001:db8::1/64' }), { code: 'TUN_CONFIG', message: /1280/ });
  t.equal(host.children.length, 0, 'nothing spawned');
});

t.test('missing socat: one clear error, before anything is started', async (t) => {
  const want = { code: 'TUN_BRIDGE_MISSING', message: /socat not found.*opkg install socat \/ apt-get install socat/ };
  await t.rejects(TunBridge.open({ ifname: 'kl0', address: '198.51.100.1/24', socatPath: '/nonexistent/socat' }), want);
  t.equal(findExecutable('socat', '/nonexistent:/also/not'), undefined);
  t.equal(findExecutable('sh', '/nonexistent:/bin'), '/bin/sh');
  // With an injected spawn the PATH check is skipped; the spawn error (ENOENT) is caught instead.
  const host = fakeHost({
    onSpawn: (c) =>
      setImmediate(() => {
        c.alive = false;
        c.emit('error', Object.assign(new Error('spawn socat ENOENT'), { code: 'ENOENT' }));
      }),
    linkAppears: false,
  });
  await t.rejects(TunBridge.open({ ifname: 'kl0', address: '198.51.100.1/24', spawn: host.spawn, run: host.run }), want);
});

t.test('socat failing at start: open rejects with socat\'s own words', async (t) => {
  const host = fakeHost({
    linkAppears: false,
    onSpawn: (c) => setImmediate(() => c.exit(1, null, 'socat[12] E ioctl(5, TUNSETIFF, {"kl0"}: Operation not permitted\n')),
  });
  await t.rejects(TunBridge.open({ ifname: 'kl0', address: '198.51.100.1/24', spawn: host.spawn, run: host.run }), {
    code: 'TUN_BRIDGE_FAILED',
    message: /socat exited \(code 1\) while creating kl0: .*TUNSETIFF.*Operation not permitted/,
  });
});

t.test('a chatty socat: the log is capped, the error keeps the last lines', async (t) => {
  const lines = Array.from({ length: 60 }, (_, i) => `socat[12] E line ${i}`).join('\n') + '\n';
  const host = fakeHost({ linkAppears: false, onSpawn: (c) => setImmediate(() => c.exit(1, null, lines)) });
  const logs: string[] = [];
  const e = await TunBridge.open({ ifname: 'kl0', address: '198.51.100.1/24', spawn: host.spawn, run: host.run, log: (l) => logs.push(l) }).then(
    () => undefined,
    (e: Error) => e,
  );
  t.equal(logs.length, 50);
  t.match(e?.message, /line 52 \| .*line 59$/);
  t.notMatch(e?.message, /line 51 /);
});

t.test('the device never appears: bounded wait, socat stopped', async (t) => {
  const host = fakeHost({ linkAppears: false });
  await t.rejects(
    TunBridge.open({ ifname: 'kl0', address: '198.51.100.1/24', spawn: host.spawn, run: host.run, linkTimeoutMs: 200 }),
    { code: 'TUN_BRIDGE_FAILED', message: /did not create kl0 within 200 ms/ },
  );
  t.same(lastChild(host).signals, ['SIGTERM']);
  t.same(host.live(), []);
});

t.test('an interface of that name already there is reported, nothing spawned', async (t) => {
  const host = fakeHost();
  host.state.preexisting = true;
  await t.rejects(TunBridge.open({ ifname: 'kl0', address: '198.51.100.1/24', spawn: host.spawn, run: host.run }), {
    code: 'TUN_BRIDGE_FAILED',
    message: /kl0 already exists/,
  });
  t.equal(host.children.length, 0);
});

t.test('supervision: restart with back-off 1 s doubling to 30 s, reset after 60 s of running', async (t) => {
  const clock = new FakeClock();
  const born: number[] = [];
  const host = fakeHost({ onSpawn: () => born.push(clock.now()) });
  const { bridge, logs } = await fakeBridge(t, { host, clock });
  let hooks = 0;
  bridge.onRestart(() => void hooks++);
  /** Crash the running socat at the current time; step the clock until the next one is spawned. */
  const crashAndTime = async (code: number | null, signal: NodeJS.Signals | null = null) => {
    const crashedAt = clock.now();
    lastChild(host).exit(code, signal, code ? 'socat[1] E read(7, ...): Connection refused\n' : undefined);
    await settle();
    t.equal(bridge.bridgePort, 0, 'nothing accepted while socat is down');
    const n = host.children.length;
    for (let i = 0; host.children.length === n; i++) {
      if (i > 200) throw new Error('no restart');
      clock.advance(500); // every delay is a multiple of 500 ms, so spawn time = due time
      await settle();
    }
    await until(() => bridge.bridgePort !== 0);
    return born.at(-1)! - crashedAt;
  };
  const delays: number[] = [];
  for (let i = 0; i < 7; i++) delays.push(await crashAndTime(1));
  t.same(delays, [1000, 2000, 4000, 8000, 16000, 30000, 30000]);
  t.equal(bridge.counters.restarts, 7);
  await until(() => hooks === 7);
  t.match(logs.join('\n'), /socat exited unexpectedly \(code 1\) after 0 s; restarting in 1 s/);
  t.match(logs.join('\n'), /Connection refused/);
  // A socat that ran a minute is healthy: the next crash waits 1 s again.
  clock.advance(BACKOFF.resetAfterMs);
  t.equal(await crashAndTime(null, 'SIGSEGV'), 1000);
  t.ok(logs.some((l) => /\(signal SIGSEGV\) after 60 s; restarting in 1 s/.test(l)));
  // ...but not one that ran 59 s.
  await crashAndTime(1);
  clock.advance(BACKOFF.resetAfterMs - 1000);
  t.equal(await crashAndTime(1), 4000);
});

t.test('a failed restart is retried with a longer delay; close stops the supervision', async (t) => {
  let failNext = false;
  const host = fakeHost({ onSpawn: (c) => failNext && setImmediate(() => c.exit(1, null, 'no luck\n')) });
  const { bridge, clock, logs } = await fakeBridge(t, { host });
  failNext = true;
  host.state.linkAppears = false; // the new socat dies before its device shows up
  lastChild(host).exit(1);
  await tick();
  clock.advance(1000);
  await until(() => host.children.length === 2 && !lastChild(host).alive);
  await until(() => logs.some((l) => /restart failed: socat exited \(code 1\).*no luck; restarting in 2 s/.test(l)));
  await bridge.close();
  clock.advance(10 * BACKOFF.maxMs);
  await tick();
  t.equal(host.children.length, 2, 'no restart after close');
});

t.test('close: SIGKILL when socat ignores SIGTERM, after a bounded wait', async (t) => {
  const { bridge, host, clock } = await fakeBridge(t, { stopTimeoutMs: 2000 });
  const c = lastChild(host);
  c.ignoreTerm = true;
  const closing = bridge.close();
  await tick();
  clock.advance(1999);
  await tick();
  t.same(c.signals, ['SIGTERM']);
  clock.advance(1);
  await tick();
  t.same(c.signals, ['SIGTERM', 'SIGKILL']);
  await closing;
  t.notOk(c.alive);
});

t.test('datagrams: only socat\'s port is trusted; the rest is dropped and counted', async (t) => {
  const { bridge, host } = await fakeBridge(t);
  // Play socat: bind its port (the fake did not) and exchange a packet each way.
  const socat = await bound(bridge.bridgePort);
  const intruder = await bound(0);
  t.teardown(() => (socat.close(), intruder.close()));
  const got: Uint8Array[] = [];
  bridge.onPacket((p) => got.push(p));
  const packet = Buffer.from('4500001c000000004001000000000000c6336401cb007107', 'hex');
  intruder.send(packet, bridge.localPort, '127.0.0.1');
  socat.send(packet, bridge.localPort, '127.0.0.1');
  await until(() => got.length === 1 && bridge.counters.foreign === 1);
  t.same(Buffer.from(got[0]!), packet);
  t.equal(Object.getPrototypeOf(got[0]), Uint8Array.prototype, 'a plain Uint8Array, not a Buffer');
  t.match(bridge.counters, { rx: 1, foreign: 1 });
  const towardsHost = new Promise<Buffer>((r) => socat.once('message', r));
  bridge.write(packet);
  t.same(await towardsHost, packet);
  t.equal(bridge.counters.tx, 1);
  // socat gone: writes are counted as down, and its old port is no longer trusted.
  lastChild(host).exit(1);
  await tick();
  bridge.write(packet);
  t.equal(bridge.counters.down, 1);
  socat.send(packet, bridge.localPort, '127.0.0.1');
  await until(() => bridge.counters.foreign === 2);
  t.equal(got.length, 1);
});

/** A UDP socket on 127.0.0.1:port. */
function bound(port: number): Promise<dgram.Socket> {
  const s = dgram.createSocket('udp4');
  return new Promise((resolve, reject) => {
    s.once('error', reject);
    s.bind(port, '127.0.0.1', () => resolve(s));
  });
}
