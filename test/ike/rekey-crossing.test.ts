/**
 * The peer asks to rekey the IKE SA while our own CREATE_CHILD_SA for a child SA is out (a child
 * rekey, or a new child). Were it answered, the IKE rekey would move the children to the new IKE
 * SA before our answer arrives on the old one, and the child SA made by that answer would belong
 * to an IKE SA about to be deleted: its driver SAs orphaned, the old child never deleted. So it
 * is answered TEMPORARY_FAILURE (RFC 7296 §2.25) and the peer tries again a few seconds later,
 * as strongSwan does for half-open children.
 *
 * The crossing is made with a relay that holds our request until the peer's rekey has been
 * answered: both sides must end with one IKE SA and one child SA, the same on both.
 */
import t from 'tap';
import type { Test } from 'tap';
import { startIkeRekey } from '../../src/ike/tasks/ike-rekey.js';
import { startChildRekey, deleteChild } from '../../src/ike/tasks/child.js';
import type { UserspaceDriver } from '../../src/drivers/userspace/driver.js';
import { EXCHANGE } from '../../src/ike/constants.js';
import { ADDR_B, ikePair, type Pair, type Side } from './agents.js';

/** A CREATE_CHILD_SA request on port 4500: the non-ESP marker, then the IKE header. */
const isChildRequest = (d: Uint8Array) => d.length > 28 && d[0] === 0 && d[1] === 0 && d[2] === 0 && d[3] === 0 && d[4 + 18] === EXCHANGE.CREATE_CHILD_SA && (d[4 + 19]! & 0x20) === 0;

interface Held {
  data: Uint8Array;
  from: Parameters<NonNullable<Pair['net']['fault']>>[1];
  to: Parameters<NonNullable<Pair['net']['fault']>>[2];
}

const childSpis = (s: Side) => s.agent.ike.sas().flatMap((x) => x.children.map((c) => [c.spiIn, c.spiOut]));
const mirrored = (p: Pair) => {
  const a = childSpis(p.a);
  const b = childSpis(p.b).map(([i, o]) => [o, i]);
  return JSON.stringify(a) === JSON.stringify(b);
};

async function crossing(t: Test, ours: (p: Pair) => void): Promise<void> {
  const p = await ikePair({ a: { dpd: 0 }, b: { dpd: 0 } });
  t.teardown(() => p.stop());
  const held: Held[] = [];
  let holding = true;
  p.net.fault = (data, from, to) => (holding && to.addr === ADDR_B && isChildRequest(data) ? (held.push({ data: data.slice(), from, to }), []) : [data]);
  ours(p); // A's CREATE_CHILD_SA request to B is held
  await p.settle();
  t.equal(held.length, 1, "A's CREATE_CHILD_SA is on its way (held)");
  startIkeRekey(p.b.agent.ike, p.b.agent.ike.sas()[0]!); // B's reaches A at once
  await p.settle();
  t.ok(p.a.log.some((l) => /refusing the IKE rekey: a child SA exchange of ours is in flight/.test(l)), 'A refuses the IKE rekey while its child exchange is out');
  t.ok(p.b.log.some((l) => /IKE rekey failed: peer answered TEMPORARY_FAILURE/.test(l)), 'B is told TEMPORARY_FAILURE');
  holding = false;
  for (const h of held) p.net.carry(h.data, h.from, h.to);
  await p.settle();
  await p.advance(20_000); // B's retry after temporaryFailureMs (3 to 6 s), then the old SAs' DELETEs
  t.same([p.a.agent.ike.sas().length, p.b.agent.ike.sas().length], [1, 1], 'one IKE SA on each side');
  t.ok(p.b.log.some((l) => /IKE SA rekeyed to/.test(l)), "B's IKE rekey went through on its retry");
  t.equal(childSpis(p.a).length, 1, 'one child SA at A');
  t.ok(mirrored(p), 'the same child SA on both sides');
  t.equal((p.a.agent.driver as UserspaceDriver).sad.size, 2, "A's driver holds that child's two SAs and nothing else");
  t.ok(await p.ping('a'), 'traffic flows A -> B');
  t.ok(await p.ping('b'), 'and B -> A');
}

t.test('IKE rekey from the peer while our child rekey is out: TEMPORARY_FAILURE, then both go through', async (t) => {
  await crossing(t, (p) => {
    const sa = p.a.agent.ike.sas()[0]!;
    startChildRekey(p.a.agent.ike, sa, sa.children[0]!);
  });
});

t.test('IKE rekey from the peer while our new child request is out: the same', async (t) => {
  await crossing(t, (p) => {
    // B deletes the child alone; A (start=initiate) asks for a new one, which is held.
    const sa = p.b.agent.ike.sas()[0]!;
    deleteChild(p.b.agent.ike, sa, sa.children[0]!, 'operator');
  });
});

