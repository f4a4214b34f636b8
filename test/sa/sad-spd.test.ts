import t from 'tap';
import { Sad } from '../../src/sa/sad.js';
import { Spd } from '../../src/sa/spd.js';
import { prefix, subnetSelector, addrBytes, addrText, matches, ANY_PORTS } from '../../src/sa/selector.js';
import { parseIp, buildIpPacket, checksum } from '../../src/sa/ip.js';
import { KeylineError } from '../../src/wire/errors.js';
import type { Policy } from '../../src/sa/types.js';

const entry = (spi: number, dir: 'in' | 'out', reqid = 1) => ({ spec: { spi, dir, reqid } });

t.test('SAD: lookup, newest outbound per reqid, delete falls back', async (t) => {
  const sad = new Sad<ReturnType<typeof entry>>();
  sad.add(entry(0x1000, 'in'));
  sad.add(entry(0x2000, 'out'));
  sad.add(entry(0x2001, 'out'));
  t.equal(sad.current(1)?.spec.spi, 0x2001, 'make-before-break: newest carries traffic');
  sad.delete('out', 0x2001);
  t.equal(sad.current(1)?.spec.spi, 0x2000);
  t.ok(sad.get('in', 0x1000));
  t.notOk(sad.get('out', 0x1000), 'directions are separate tables');
  const e = t.throws(() => sad.add(entry(0x1000, 'in'))) as unknown as KeylineError;
  t.equal(e.code, 'SA_EXISTS');
});

t.test('SAD cap: the entry past the cap is refused', async (t) => {
  const sad = new Sad<ReturnType<typeof entry>>(3);
  for (let i = 0; i < 3; i++) sad.add(entry(0x100 + i, 'in'));
  const e = t.throws(() => sad.add(entry(0x200, 'out'))) as unknown as KeylineError;
  t.equal(e.code, 'SAD_FULL');
  sad.delete('in', 0x100);
  t.doesNotThrow(() => sad.add(entry(0x200, 'out')), 'room again after a delete');
});

const v4 = (src: string, dst: string, proto = 1, sport = 0, dport = 0) => {
  const body = new Uint8Array(8);
  body[0] = sport >> 8;
  body[1] = sport & 0xff;
  body[2] = dport >> 8;
  body[3] = dport & 0xff;
  return buildIpPacket(addrBytes(src), addrBytes(dst), proto, body);
};

const policy = (id: number, local: string, remote: string, priority = 100, extra: Partial<Policy> = {}): Policy => ({
  id,
  selector: subnetSelector(prefix(local), prefix(remote)),
  action: 'protect',
  reqid: id,
  priority,
  peer: 'p',
  ...extra,
});

t.test('SPD: most specific wins at equal priority, priority beats specificity', async (t) => {
  const spd = new Spd();
  spd.add(policy(1, '198.51.100.0/24', '203.0.113.0/24'));
  spd.add(policy(2, '198.51.100.0/24', '203.0.113.128/25'));
  const ip = parseIp(v4('198.51.100.7', '203.0.113.200'))!;
  t.equal(spd.lookup(ip)?.id, 2);
  spd.add(policy(3, '0.0.0.0/0', '0.0.0.0/0', 10, { action: 'discard' }));
  t.equal(spd.lookup(ip)?.id, 3);
  t.ok(spd.delete(3));
  t.notOk(spd.delete(3));
  t.equal(spd.lookup(parseIp(v4('10.0.0.1', '203.0.113.1'))!), undefined);
});

t.test('SPD cap and duplicate ids', async (t) => {
  const spd = new Spd(2);
  spd.add(policy(1, '198.51.100.0/24', '203.0.113.0/24'));
  t.throws(() => spd.add(policy(1, '198.51.100.0/24', '203.0.113.0/24')), { code: 'POLICY_EXISTS' });
  spd.add(policy(2, '198.51.100.0/24', '203.0.113.0/24'));
  t.throws(() => spd.add(policy(3, '198.51.100.0/24', '203.0.113.0/24')), { code: 'SPD_FULL' });
});

t.test('selectors: protocol and port ranges, inbound direction', async (t) => {
  const s = { ...subnetSelector(prefix('198.51.100.0/24'), prefix('203.0.113.5/32')), proto: 6, remotePorts: [443, 443] as const, localPorts: ANY_PORTS };
  t.ok(matches(s, parseIp(v4('198.51.100.1', '203.0.113.5', 6, 40000, 443))!));
  t.notOk(matches(s, parseIp(v4('198.51.100.1', '203.0.113.5', 6, 40000, 80))!));
  t.notOk(matches(s, parseIp(v4('198.51.100.1', '203.0.113.5', 17, 40000, 443))!));
  t.ok(matches(s, parseIp(v4('203.0.113.5', '198.51.100.1', 6, 443, 40000))!, true), 'reply direction');
});

t.test('addresses: v4/v6 text round trip and prefixes', async (t) => {
  for (const a of ['192.0.2.1', '2001:db8::1', '::', '2001:db8:0:1:1:1:1:1', 'fe80::1:2']) t.equal(addrText(addrBytes(a)), a);
  t.equal(addrText(addrBytes('::ffff:192.0.2.1')), '::ffff:c000:201');
  t.same(prefix('2001:db8::/32'), { addr: addrBytes('2001:db8::'), len: 32 });
  t.throws(() => prefix('192.0.2.0/33'), { code: 'BAD_PREFIX' });
  t.throws(() => prefix('192.0.2.300/24'), { code: 'BAD_ADDRESS' });
});

t.test('IP parsing rejects garbage and checksums verify', async (t) => {
  t.equal(parseIp(new Uint8Array(0)), undefined);
  t.equal(parseIp(new Uint8Array(19).fill(0x45)), undefined);
  const p = v4('192.0.2.1', '192.0.2.2');
  t.equal(checksum(p, 0, 20), 0, 'a header with its checksum sums to zero');
  const bad = p.slice();
  bad[3] = 200; // total length beyond the buffer
  t.equal(parseIp(bad), undefined);
  const six = buildIpPacket(addrBytes('2001:db8::1'), addrBytes('2001:db8::2'), 17, new Uint8Array([0, 53, 0, 54, 0, 0, 0, 0]));
  const ip = parseIp(six)!;
  t.equal(ip.version, 6);
  t.equal(ip.srcPort, 53);
  t.equal(ip.dstPort, 54);
});
