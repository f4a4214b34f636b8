import t from 'tap';
import { conformance, installBoth, peerConfig } from './conformance.js';
import { userspacePair } from '../helpers/userspace-pair.js';
import { icmpEcho, udp4 } from '../helpers/packets.js';
import { prefix, subnetSelector, addrBytes } from '../../src/sa/selector.js';
import { buildIpPacket, parseIp } from '../../src/sa/ip.js';
import { UdpTransport } from '../../src/transport/udp.js';

conformance(t, 'userspace over the memory network', () => userspacePair());
conformance(t, 'userspace over UDP on loopback', () => userspacePair({ udp: true }));

t.test('a NAT keepalive goes out when the SA was idle, and is counted on arrival', async (t) => {
  const p = await userspacePair();
  t.teardown(() => p.close());
  await installBoth(p, peerConfig({ local: p.endA, remote: p.endB }));
  p.clock.advance(25_000);
  await p.settle();
  t.ok((p.b.drops()['keepalive'] ?? 0) >= 1);
});

t.test('time-based lifetimes expire on the tick', async (t) => {
  const p = await userspacePair();
  t.teardown(() => p.close());
  const m = peerConfig({ local: p.endA, remote: p.endB, soft: { seconds: 30 }, hard: { seconds: 60 } });
  const seen: string[] = [];
  p.a.onEvent((e) => e.type === 'expire' && seen.push(`${e.dir}:${e.hard ? 'hard' : 'soft'}`));
  await installBoth(p, m);
  p.clock.advance(31_000);
  t.same(seen.sort(), ['in:soft', 'out:soft']);
  p.clock.advance(30_000);
  t.same(seen.sort(), ['in:hard', 'in:soft', 'out:hard', 'out:soft']);
  t.equal(p.a.counters('out', m.spiOut), undefined);
});

t.test('IPv6 outer transport: ESP in UDP over ::1', async (t) => {
  const p = await userspacePair({ udp: true, loopback: '::1' });
  t.teardown(() => p.close());
  const m = peerConfig({ local: p.endA, remote: p.endB });
  await installBoth(p, m);
  for (let i = 1; i <= 3; i++) p.sendFromA(icmpEcho('198.51.100.10', '203.0.113.10', 1, i));
  await p.settle();
  t.equal(p.deliveredAtB().length, 3);
  t.equal(p.endB.addr, '::1');
});

t.test('IPv6 inner traffic in tunnel mode', async (t) => {
  const p = await userspacePair();
  t.teardown(() => p.close());
  const m = peerConfig({ selectors: [subnetSelector(prefix('2001:db8:1::/48'), prefix('2001:db8:2::/48'))] });
  await installBoth(p, m);
  const pkt = buildIpPacket(addrBytes('2001:db8:1::10'), addrBytes('2001:db8:2::10'), 17, new Uint8Array([0, 53, 0, 53, 0, 8, 0, 0]));
  p.sendFromA(pkt);
  await p.settle();
  t.same(p.deliveredAtB(), [pkt]);
});

t.test('transport mode: the upper-layer segment travels, the receiver rebuilds the IP header', async (t) => {
  const p = await userspacePair();
  t.teardown(() => p.close());
  const host = (a: string) => prefix(`${a}/32`);
  const m = peerConfig({ mode: 'transport', selectors: [subnetSelector(host('192.0.2.1'), host('192.0.2.2'))] });
  await installBoth(p, m);
  const sent = udp4('192.0.2.1', '192.0.2.2', 1234, 53, new Uint8Array([1, 2, 3, 4]));
  p.sendFromA(sent);
  await p.settle();
  const got = p.deliveredAtB()[0];
  t.ok(got, 'delivered');
  const ip = parseIp(got!)!;
  t.same([ip.src, ip.dst, ip.proto], [addrBytes('192.0.2.1'), addrBytes('192.0.2.2'), 17]);
  t.same(got!.subarray(ip.headerLen), sent.subarray(20), 'same UDP segment, checksum still valid');
  t.equal(p.a.counters('out', m.spiOut)?.packets, 1);
});

t.test('a packet with no policy is dropped and counted, not sent', async (t) => {
  const p = await userspacePair();
  t.teardown(() => p.close());
  p.sendFromA(icmpEcho('10.0.0.1', '10.0.0.2', 1, 1));
  p.sendFromA(new Uint8Array([0x45, 0, 0])); // not an IP packet
  await p.settle();
  t.equal(p.a.drops()['no-policy'], 1);
  t.equal(p.a.drops()['bad-inner'], 1);
});

t.test('garbage from the network is counted by reason and never throws', async (t) => {
  const p = await userspacePair({ udp: true });
  t.teardown(() => p.close());
  const m = peerConfig({ local: p.endA, remote: p.endB });
  await installBoth(p, m);
  const raw = await UdpTransport.open({ addr: '127.0.0.1', port: 0 });
  t.teardown(() => raw.close());
  const spi = new Uint8Array([0x0b, 0, 0, 1]); // B's inbound SPI (A's outbound)
  raw.send(new Uint8Array([1, 2, 3]), p.endB); // runt
  raw.send(new Uint8Array(40), p.endB); // non-ESP marker: IKE, no handler yet
  raw.send(new Uint8Array([0xde, 0xad, 0xbe, 0xef, 0, 0, 0, 1, ...new Uint8Array(40)]), p.endB); // unknown SPI
  raw.send(new Uint8Array([...spi, 0, 0, 0, 1, ...new Uint8Array(10)]), p.endB); // known SPI, too short
  raw.send(new Uint8Array([...spi, 0, 0, 0, 1, ...new Uint8Array(60)]), p.endB); // known SPI, bad ICV
  await new Promise((r) => setTimeout(r, 100));
  t.match(p.b.drops(), { short: 1, 'ike-unhandled': 1, 'unknown-spi': 1 });
  t.match(p.b.counters('in', m.spiOut)?.drops, { short: 1, auth: 1 });
});

t.test('NAT rebinding: after an authenticated packet from a new port, replies follow it', async (t) => {
  const moved = await UdpTransport.open({ addr: '127.0.0.1', port: 0 });
  t.teardown(() => moved.close());
  let rebind = false;
  const sentByB: Uint8Array[] = [];
  const p = await userspacePair({
    udp: true,
    wrap: (tr, side) =>
      side === 'a'
        ? tr
        : { ...tr, local: tr.local, family: tr.family, sendErrors: 0, onDatagram: (cb) => tr.onDatagram(cb), close: () => tr.close(), send: (d, to) => (sentByB.push(d.slice()), (rebind ? moved : tr).send(d, to)) },
  });
  t.teardown(() => p.close());
  const m = peerConfig({ local: p.endA, remote: p.endB });
  await installBoth(p, m);
  const atMoved: Uint8Array[] = [];
  moved.onDatagram((d) => atMoved.push(d));

  rebind = true; // B's NAT mapping changes: its packets now come from another port
  p.sendFromB(icmpEcho('203.0.113.10', '198.51.100.10', 1, 1));
  await new Promise((r) => setTimeout(r, 50));
  t.equal(p.deliveredAtA().length, 1, 'A accepted the packet from the new port');
  p.sendFromA(icmpEcho('198.51.100.10', '203.0.113.10', 1, 1));
  await new Promise((r) => setTimeout(r, 50));
  t.equal(atMoved.length, 1, "A's reply went to the new port");

  // The same authenticated packet replayed from yet another port must not move it again.
  const third = await UdpTransport.open({ addr: '127.0.0.1', port: 0 });
  t.teardown(() => third.close());
  third.send(sentByB[0]!, p.endA);
  await new Promise((r) => setTimeout(r, 50));
  t.equal(p.a.counters('in', m.spiIn)?.drops['replay'], 1, 'the replay is dropped');
  t.equal(p.a.sad.get('out', m.spiOut)?.remote.port, moved.local.port, 'and did not redirect traffic');
});

t.test('updateSa: outbound ESP goes to the new endpoint at once', async (t) => {
  const p = await userspacePair({ udp: true });
  t.teardown(() => p.close());
  const m = peerConfig({ local: p.endA, remote: p.endB });
  await installBoth(p, m);
  const elsewhere = await UdpTransport.open({ addr: '127.0.0.1', port: 0 });
  t.teardown(() => elsewhere.close());
  const got: Uint8Array[] = [];
  elsewhere.onDatagram((d) => got.push(d));
  await p.a.updateSa('out', m.spiOut, { remote: elsewhere.local });
  p.sendFromA(icmpEcho('198.51.100.10', '203.0.113.10', 1, 1));
  await new Promise((r) => setTimeout(r, 50));
  t.equal(got.length, 1);
  t.equal(p.deliveredAtB().length, 0);
});
