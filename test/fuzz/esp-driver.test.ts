/**
 * The userspace driver's receive path (src/drivers/userspace/datapath.ts) from the wire: mutated
 * copies of captured ESP-in-UDP datagrams, NAT keepalives and non-ESP-marked IKE on port 4500,
 * into an agent with established SAs. Only the drop counters may move: no SA's replay window or
 * counters, no packet delivered to the tunnel, no IKE SA changed, nothing thrown.
 */
import t from 'tap';
import type { Endpoint } from '../../src/sa/types.js';
import { HOST_A, HOST_B, ikePair } from '../ike/agents.js';
import { icmpEcho } from '../../src/sa/icmp.js';
import { fuzz } from './harness.js';
import { concat, int, mutate, pick, toHex } from './mutate.js';
import { drops, internal, snapshot } from './snapshot.js';

t.test('mutated ESP-in-UDP datagrams move only drop counters', async (t) => {
  const esp: Uint8Array[] = [];
  const ike: Uint8Array[] = [];
  const p = await ikePair();
  t.teardown(() => p.stop());
  p.net.fault = (d, _from, to) => {
    if (to.port === 4500 && to.addr === '192.0.2.2') (d[0] === 0 && d[1] === 0 && d[2] === 0 && d[3] === 0 ? ike : esp).push(d.slice());
    return [d];
  };
  for (let i = 0; i < 6; i++) p.a.tun.inject(icmpEcho(HOST_A, HOST_B, 3, i, new Uint8Array(i * 37)));
  await p.settle();
  await p.advance(31_000, 31_000); // a liveness check: IKE on port 4500
  p.net.fault = undefined;
  t.ok(esp.length >= 6 && ike.length >= 1, `captured ${esp.length} ESP and ${ike.length} IKE datagrams towards B`);
  const seeds = [...esp, ...ike, Uint8Array.of(0xff)];
  const from: Endpoint = { addr: '192.0.2.1', port: 4500 };
  const to: Endpoint = { addr: '192.0.2.2', port: 4500 };
  const before = JSON.stringify(snapshot(p.b));
  await fuzz(t, 'esp-driver', {
    make: (r) => {
      const d = mutate(r, pick(r, seeds), { others: seeds });
      // Sometimes an SPI that B knows on a foreign datagram, or a datagram that is only a marker.
      if (r() < 0.1 && d.length >= 4) d.set(esp[0]!.subarray(0, 4), 0);
      return r() < 0.03 ? concat(new Uint8Array(4), d.subarray(0, int(r, 8))) : d;
    },
    show: toHex,
    run: async (d) => {
      const n = drops(p.b);
      p.net.carry(d, from, to);
      await p.settle();
      const now = JSON.stringify(snapshot(p.b));
      if (now !== before) return `B changed: ${now}`;
      if (internal(p.b)) return 'something was thrown past the packet handler';
      return drops(p.b) > n ? undefined : 'dropped without counting';
    },
  });
  t.comment(JSON.stringify(p.b.agent.driver.drops()));
  t.ok(await p.ping('a'), 'traffic still flows');
});
