import t from 'tap';
import { conformance, installBoth, peerConfig } from './conformance.js';
import { userspacePair } from '../helpers/userspace-pair.js';

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
