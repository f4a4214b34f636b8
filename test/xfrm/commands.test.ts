/**
 * The exact `ip xfrm` command lines the kernel driver runs, per suite, mode, direction and
 * limit. The same builders run against Debian's real kernel in test/kernel-vm/ (this machine's
 * kernel has no ESP), so a line here that the kernel refuses fails there.
 */
import t from 'tap';
import * as cmd from '../../src/drivers/xfrm/commands.js';
import { prefix, subnetSelector } from '../../src/sa/selector.js';
import type { Policy, Selector } from '../../src/sa/types.js';

const line = (c: cmd.IpCommand) => c.args.join(' ');
const fill = (n: number, b: number) => new Uint8Array(n).fill(b);
const hex = (n: number, b: number) => '0x' + b.toString(16).padStart(2, '0').repeat(n);
const NETS = subnetSelector(prefix('198.51.100.0/24'), prefix('203.0.113.0/24'));
const OUTER = { src: '192.0.2.1', dst: '192.0.2.2' };
const K = cmd.REQID_BASE + 1;

const base: cmd.StateArgs = {
  spi: 0x0b000001,
  dir: 'out',
  reqid: 1,
  suite: 'aes256gcm16',
  encKey: fill(36, 0x11),
  mode: 'tunnel',
  esn: false,
  replayWindow: 64,
  outer: OUTER,
  selectors: [NETS],
  soft: {},
  hard: {},
};

t.test('AEAD suites: rfc4106(gcm(aes)) and rfc7539esp(chacha20,poly1305), key with salt, 128-bit ICV', async (t) => {
  t.equal(
    line(cmd.stateAdd(base)),
    `xfrm state add src 192.0.2.1 dst 192.0.2.2 proto esp spi 0x0b000001 reqid ${K} mode tunnel replay-window 0 ` +
      `aead rfc4106(gcm(aes)) ${hex(36, 0x11)} 128 sel src 198.51.100.0/24 dst 203.0.113.0/24`,
  );
  t.match(line(cmd.stateAdd({ ...base, suite: 'aes128gcm16', encKey: fill(20, 0x22) })), `aead rfc4106(gcm(aes)) ${hex(20, 0x22)} 128 `);
  t.match(line(cmd.stateAdd({ ...base, suite: 'chacha20poly1305', encKey: fill(36, 0x33) })), `aead rfc7539esp(chacha20,poly1305) ${hex(36, 0x33)} 128 `);
});

t.test('CBC suites: cbc(aes) with hmac(sha256) truncated to 128 bits', async (t) => {
  const c = cmd.stateAdd({ ...base, suite: 'aes128-sha256', encKey: fill(16, 0x44), integKey: fill(32, 0x55) });
  t.match(line(c), ` enc cbc(aes) ${hex(16, 0x44)} auth-trunc hmac(sha256) ${hex(32, 0x55)} 128 sel `);
  t.match(line(cmd.stateAdd({ ...base, suite: 'aes256-sha256', encKey: fill(32, 0x44), integKey: fill(32, 0x55) })), ` enc cbc(aes) ${hex(32, 0x44)} `);
  t.throws(() => cmd.stateAdd({ ...base, suite: 'aes128-sha256', encKey: fill(16, 0x44) }), { code: 'BAD_SA' });
});

t.test('commands with keys are marked secret (they go through ip -batch -), the others are not', async (t) => {
  t.equal(cmd.stateAdd(base).secret, true);
  t.notOk(cmd.stateDelete(OUTER, 0x1000).secret);
  t.notOk(cmd.allocSpi(OUTER, 1, 'tunnel').secret);
});

t.test('inbound: replay window as configured; ESN; transport mode', async (t) => {
  const inb: cmd.StateArgs = { ...base, dir: 'in', outer: { src: '192.0.2.2', dst: '192.0.2.1' }, replayWindow: 4096, esn: true, mode: 'transport', selectors: [] };
  t.equal(
    line(cmd.stateAdd(inb, 'update')),
    `xfrm state update src 192.0.2.2 dst 192.0.2.1 proto esp spi 0x0b000001 reqid ${K} mode transport replay-window 4096 flag esn aead rfc4106(gcm(aes)) ${hex(36, 0x11)} 128`,
  );
  t.match(line(cmd.stateAdd({ ...base, esn: true })), ' replay-window 1 flag esn ', 'outbound ESN: window 1, as iproute2 insists');
  t.throws(() => cmd.stateAdd({ ...inb, replayWindow: 0 }), { code: 'UNSUPPORTED' }, 'ESN without anti-replay is refused, not widened');
});

t.test('inbound SA selector is the reverse of the outbound one; several selectors leave it to the policies', async (t) => {
  t.match(line(cmd.stateAdd({ ...base, dir: 'in' })), ' sel src 203.0.113.0/24 dst 198.51.100.0/24');
  const two = subnetSelector(prefix('198.51.101.0/24'), prefix('203.0.113.0/24'));
  t.notMatch(line(cmd.stateAdd({ ...base, selectors: [NETS, two] })), ' sel ');
});

t.test('lifetimes: one `limit` per value, soft and hard for time, bytes and packets', async (t) => {
  const c = cmd.stateAdd({ ...base, soft: { seconds: 20, bytes: 900, packets: 9 }, hard: { seconds: 30, bytes: 1000, packets: 10 } });
  t.match(line(c), / limit time-soft 20 limit time-hard 30 limit byte-soft 900 limit byte-hard 1000 limit packet-soft 9 limit packet-hard 10$/);
  t.same(cmd.limitTokens({}, { seconds: 3600 }), ['limit', 'time-hard', '3600']);
  t.same(cmd.limitTokens({ seconds: 0.4 }, {}), ['limit', 'time-soft', '1'], 'never 0, which means no limit to the kernel');
});

t.test('delete, allocspi, list, route get, monitor', async (t) => {
  t.equal(line(cmd.stateDelete(OUTER, 0x1234)), 'xfrm state delete src 192.0.2.1 dst 192.0.2.2 proto esp spi 0x00001234');
  t.equal(line(cmd.allocSpi({ src: '192.0.2.2', dst: '192.0.2.1' }, 3, 'tunnel')), `xfrm state allocspi src 192.0.2.2 dst 192.0.2.1 proto esp mode tunnel reqid ${cmd.REQID_BASE + 3} min 0x100 max 0xffffffff`);
  t.equal(line(cmd.stateList), '-s xfrm state list nokeys');
  t.equal(line(cmd.routeGet('192.0.2.2')), '-o route get 192.0.2.2');
  t.same(cmd.MONITOR_ARGS, ['xfrm', 'monitor', 'nokeys', 'acquire', 'expire'], 'no key material ever reaches the monitor pipe');
});

const policy = (over: Partial<Policy> = {}): Policy => ({ id: 64, selector: NETS, action: 'protect', reqid: 1, priority: 100, peer: 'b', ...over });

t.test('protect, tunnel mode: out (level required), in and fwd with mirrored templates', async (t) => {
  t.same(cmd.policyAdd(policy(), { outer: OUTER, mode: 'tunnel' }).map(line), [
    `xfrm policy update src 198.51.100.0/24 dst 203.0.113.0/24 dir out priority 100 tmpl src 192.0.2.1 dst 192.0.2.2 proto esp reqid ${K} mode tunnel level required`,
    `xfrm policy update src 203.0.113.0/24 dst 198.51.100.0/24 dir in priority 100 tmpl src 192.0.2.2 dst 192.0.2.1 proto esp reqid ${K} mode tunnel`,
    `xfrm policy update src 203.0.113.0/24 dst 198.51.100.0/24 dir fwd priority 100 tmpl src 192.0.2.2 dst 192.0.2.1 proto esp reqid ${K} mode tunnel`,
  ]);
  t.same(cmd.policyDelete(policy(), ['out', 'in', 'fwd']).map(line), [
    'xfrm policy delete src 198.51.100.0/24 dst 203.0.113.0/24 dir out',
    'xfrm policy delete src 203.0.113.0/24 dst 198.51.100.0/24 dir in',
    'xfrm policy delete src 203.0.113.0/24 dst 198.51.100.0/24 dir fwd',
  ]);
  t.throws(() => cmd.policyAdd(policy(), undefined), { code: 'BAD_POLICY' });
});

t.test('protect, transport mode: no fwd policy', async (t) => {
  const hosts = subnetSelector(prefix('192.0.2.1/32'), prefix('192.0.2.2/32'));
  t.same(cmd.policyAdd(policy({ selector: hosts }), { outer: OUTER, mode: 'transport' }).map(line), [
    `xfrm policy update src 192.0.2.1/32 dst 192.0.2.2/32 dir out priority 100 tmpl src 192.0.2.1 dst 192.0.2.2 proto esp reqid ${K} mode transport level required`,
    `xfrm policy update src 192.0.2.2/32 dst 192.0.2.1/32 dir in priority 100 tmpl src 192.0.2.2 dst 192.0.2.1 proto esp reqid ${K} mode transport`,
  ]);
});

t.test('bypass and discard: allow and block in all directions', async (t) => {
  t.same(cmd.policyAdd(policy({ action: 'bypass' }), undefined).map(line), [
    'xfrm policy update src 198.51.100.0/24 dst 203.0.113.0/24 dir out priority 100 action allow',
    'xfrm policy update src 203.0.113.0/24 dst 198.51.100.0/24 dir in priority 100 action allow',
    'xfrm policy update src 203.0.113.0/24 dst 198.51.100.0/24 dir fwd priority 100 action allow',
  ]);
  t.match(line(cmd.policyAdd(policy({ action: 'discard' }), undefined)[0]!), / action block$/);
});

t.test('selectors with a protocol and single ports; ranges are refused, not widened', async (t) => {
  const web: Selector = { ...NETS, proto: 6, localPorts: [0, 65535], remotePorts: [443, 443] };
  t.same(cmd.selectorTokens(web, 'out'), ['src', '198.51.100.0/24', 'dst', '203.0.113.0/24', 'proto', '6', 'dport', '443']);
  t.same(cmd.selectorTokens(web, 'in'), ['src', '203.0.113.0/24', 'dst', '198.51.100.0/24', 'proto', '6', 'sport', '443']);
  t.throws(() => cmd.selectorTokens({ ...web, remotePorts: [443, 444] }, 'out'), { code: 'UNSUPPORTED' });
  t.throws(() => cmd.selectorTokens({ ...web, proto: 1 }, 'out'), { code: 'UNSUPPORTED' });
  const v6 = subnetSelector(prefix('2001:db8:1::/48'), prefix('2001:db8:2::/48'));
  t.same(cmd.selectorTokens(v6, 'out'), ['src', '2001:db8:1::/48', 'dst', '2001:db8:2::/48']);
});

t.test('IKE bypass: UDP from and to our ports, above every keyline policy', async (t) => {
  t.same(cmd.bypassIke(4, 4500, 'update').map(line), [
    'xfrm policy update src 0.0.0.0/0 dst 0.0.0.0/0 proto 17 sport 4500 dir out priority 1 action allow',
    'xfrm policy update src 0.0.0.0/0 dst 0.0.0.0/0 proto 17 dport 4500 dir in priority 1 action allow',
  ]);
  t.same(cmd.bypassIke(6, 500, 'delete').map(line), [
    'xfrm policy delete src ::/0 dst ::/0 proto 17 sport 500 dir out',
    'xfrm policy delete src ::/0 dst ::/0 proto 17 dport 500 dir in',
  ]);
});

t.test('reqids live in a range of their own in the kernel', async (t) => {
  t.equal(cmd.kernelReqid(7), 0x6b6c0007);
  t.equal(cmd.ourReqid(0x6b6c0007), 7);
  t.equal(cmd.ourReqid(1), undefined, "strongSwan's reqid 1 is not ours");
  t.equal(cmd.ourReqid(cmd.REQID_BASE), undefined);
});
