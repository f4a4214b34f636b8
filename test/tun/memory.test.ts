import t from 'tap';
import { MemoryTunnel, type Tunnel } from '../../src/drivers/userspace/tun/tunnel.js';

t.test('MemoryTunnel: inject plays the host, written keeps copies, close stops both', async (t) => {
  const tun = new MemoryTunnel('kl9');
  const asTunnel: Tunnel = tun; // implements the same seam as TunBridge
  t.equal(asTunnel.name, 'kl9');
  const fromHost: Uint8Array[] = [];
  tun.onPacket((p) => fromHost.push(p));
  const seen: Uint8Array[] = [];
  tun.onWrite = (p) => seen.push(p);
  tun.inject(Uint8Array.of(0x45, 1));
  const buf = Uint8Array.of(0x45, 2);
  tun.write(buf);
  buf[1] = 99; // the sender reuses its buffer
  t.same(fromHost, [Uint8Array.of(0x45, 1)]);
  t.same(tun.written, [Uint8Array.of(0x45, 2)], 'a copy, not the caller\'s buffer');
  t.equal(seen[0], tun.written[0]);
  await tun.close();
  await tun.close();
  tun.inject(Uint8Array.of(0x45, 3));
  tun.write(Uint8Array.of(0x45, 4));
  t.equal(fromHost.length, 1);
  t.equal(tun.written.length, 1);
  t.ok(tun.isClosed);
});
