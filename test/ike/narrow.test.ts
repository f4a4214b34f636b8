import t from 'tap';
import { narrow, toRange, intersect, within, prefixRange } from '../../src/ike/narrow.js';
import { prefix, subnetSelector, addrText } from '../../src/sa/selector.js';

const r = (p: string, proto = 0, ports: [number, number] = [0, 65535]) => toRange(prefix(p), proto, ports);
const text = (x: { start: Uint8Array; end: Uint8Array }) => `${addrText(x.start)}-${addrText(x.end)}`;

t.test('prefix ranges, v4 and v6', async (t) => {
  t.same(prefixRange(prefix('198.51.100.0/24')).map(addrText), ['198.51.100.0', '198.51.100.255']);
  t.same(prefixRange(prefix('2001:db8::/32')).map(addrText), ['2001:db8::', '2001:db8:ffff:ffff:ffff:ffff:ffff:ffff']);
  t.same(prefixRange(prefix('0.0.0.0/0')).map(addrText), ['0.0.0.0', '255.255.255.255']);
});

t.test('intersection of ranges: addresses, ports, protocol, families', async (t) => {
  t.equal(text(intersect(r('10.0.0.0/8'), r('10.1.0.0/16'))!), '10.1.0.0-10.1.255.255');
  t.equal(intersect(r('10.0.0.0/16'), r('10.1.0.0/16')), undefined);
  t.equal(intersect(r('10.0.0.0/8', 6), r('10.0.0.0/8', 17)), undefined);
  t.equal(intersect(r('10.0.0.0/8', 6), r('10.0.0.0/8'))!.protocol, 6, 'any protocol narrows to the specific one');
  t.same(intersect(r('10.0.0.0/8', 0, [1000, 2000]), r('10.0.0.0/8', 0, [1500, 3000]))!.startPort, 1500);
  t.equal(intersect(r('10.0.0.0/8'), r('2001:db8::/32')), undefined);
  t.ok(within(r('10.1.0.0/16'), r('10.0.0.0/8')));
  t.notOk(within(r('10.0.0.0/8'), r('10.1.0.0/16')));
});

t.test('responder narrows a wide proposal to its configuration (RFC 7296 §2.9)', async (t) => {
  // Responder protects 203.0.113.0/24 (local) for 198.51.100.0/24 (remote).
  const config = [subnetSelector(prefix('203.0.113.0/24'), prefix('198.51.100.0/24'))];
  const n = narrow([r('0.0.0.0/0')], [r('0.0.0.0/0')], config)!;
  t.same(n.tsi.map(text), ['198.51.100.0-198.51.100.255']);
  t.same(n.tsr.map(text), ['203.0.113.0-203.0.113.255']);
  const exact = narrow([r('198.51.100.0/24')], [r('203.0.113.0/24')], config)!;
  t.same(exact.tsi.map(text), ['198.51.100.0-198.51.100.255']);
  const smaller = narrow([r('198.51.100.128/25')], [r('203.0.113.7/32')], config)!;
  t.same([smaller.tsi.map(text), smaller.tsr.map(text)], [['198.51.100.128-198.51.100.255'], ['203.0.113.7-203.0.113.7']]);
  t.equal(narrow([r('192.0.2.0/24')], [r('203.0.113.0/24')], config), undefined, 'no overlap: TS_UNACCEPTABLE');
  t.equal(narrow([r('198.51.100.0/24')], [r('2001:db8::/32')], config), undefined);
});
