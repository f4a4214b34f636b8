/**
 * Both ends with start=initiate: two IKE SAs come up for one connection, each with a child SA.
 * The redundant one (the lower nonce of the two, RFC 7296 §2.8.1's rule) is deleted by its
 * initiator, so the routers settle on one IKE SA and one child SA, the same on both sides, and
 * stay there: no churn of new IKE SAs, no second set of rekeys.
 */
import t from 'tap';
import type { Test } from 'tap';
import type { UserspaceDriver } from '../../src/drivers/userspace/driver.js';
import { ikePair, states, type Pair, type Side } from './agents.js';

const ikeSpis = (s: Side) => s.agent.ike.sas().map((x) => `${x.spiI}_${x.spiR}`);
const childSpis = (s: Side) => s.agent.ike.sas().flatMap((x) => x.children.map((c) => [c.spiIn, c.spiOut]));
const ups = (s: Side) => s.events.filter((e) => e.type === 'ike-up').length;

async function settled(t: Test, p: Pair): Promise<void> {
  t.same([states(p.a), states(p.b)], [['established'], ['established']], 'one IKE SA on each side');
  t.same(ikeSpis(p.a), ikeSpis(p.b), 'the same one');
  t.same(childSpis(p.a), childSpis(p.b).map(([i, o]) => [o, i]), 'with the same child SA');
  t.equal(childSpis(p.a).length, 1, 'one child SA');
  t.equal((p.a.agent.driver as UserspaceDriver).sad.size, 2, "A's driver holds that child's two SAs only");
  t.equal((p.b.agent.driver as UserspaceDriver).sad.size, 2, "and B's");
  t.ok(await p.ping('a'), 'traffic flows A -> B');
  t.ok(await p.ping('b'), 'and B -> A');
}

t.test('both ends initiate: the duplicate IKE SA goes, one stays, and it stays that way', async (t) => {
  // B starts first: its IKE_SA_INIT finds nobody and is retransmitted 2 s later, after A's own
  // has made an IKE SA; both go through, as they would between two routers booting together.
  const p = await ikePair({ a: { dpd: 10 }, b: { dpd: 10, start: 'initiate' } });
  t.teardown(() => p.stop());
  await p.advance(10_000, 250);
  t.ok(ups(p.a) >= 2 && ups(p.b) >= 2, `two IKE SAs came up (A saw ${ups(p.a)}, B ${ups(p.b)})`);
  t.ok([...p.a.log, ...p.b.log].some((l) => /deleting IKE SA \(duplicate: both ends initiated\)/.test(l)), 'the redundant one was deleted by its initiator');
  await settled(t, p);
  const [a, b] = [ups(p.a), ups(p.b)];
  await p.advance(600_000, 5_000);
  t.same([ups(p.a), ups(p.b)], [a, b], 'ten minutes on: no new IKE SA');
  await settled(t, p);
});

t.test('whichever side initiated the redundant IKE SA, the same one goes on both sides', async (t) => {
  const deleters = new Set<string>();
  for (const seed of [1, 2, 3, 4, 5, 6, 7, 8]) {
    const p = await ikePair({ seed, a: { dpd: 0 }, b: { dpd: 0, start: 'initiate' } });
    await p.advance(10_000, 250);
    for (const [name, side] of [['A', p.a], ['B', p.b]] as const) {
      if (side.log.some((l) => /deleting IKE SA \(duplicate: both ends initiated\)/.test(l))) deleters.add(name);
    }
    t.same(ikeSpis(p.a), ikeSpis(p.b), `seed ${seed}: one and the same IKE SA on both sides`);
    t.equal(childSpis(p.a).length + childSpis(p.b).length, 2, `seed ${seed}: one child SA each`);
    await p.stop();
  }
  t.same([...deleters].sort(), ['A', 'B'], 'over the seeds, each side was once the one to delete');
});

t.test('an IKE rekey is not a duplicate: the old and the new IKE SA overlap without a verdict', async (t) => {
  const p = await ikePair({ a: { ikeLifetime: 300, rekeyMargin: 60, dpd: 0 }, b: { ikeLifetime: 300, rekeyMargin: 60, dpd: 0 } });
  t.teardown(() => p.stop());
  await p.advance(300_000, 5_000);
  t.ok(p.a.log.some((l) => /IKE SA rekeyed to/.test(l)), 'the IKE SA was rekeyed');
  t.notOk([...p.a.log, ...p.b.log].some((l) => /both ends initiated/.test(l)), 'and not taken for a duplicate');
  await settled(t, p);
});
