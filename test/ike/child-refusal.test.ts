/**
 * A responder whose driver cannot take a new child SA (its SAD at LIMITS.sadMax) refuses that
 * child and answers; it does not go silent, which would make the initiator retransmit and then
 * delete the IKE SA together with every child SA it already has.
 *
 *   HDR, SK {N(REKEY_SA), SA, Ni, TSi, TSr}  -->
 *                                  <--  HDR, SK {N(NO_ADDITIONAL_SAS)}
 */
import t from 'tap';
import { startChildRekey } from '../../src/ike/tasks/child.js';
import { LIMITS } from '../../src/limits.js';
import { childCount, ikePair, messages, states } from './agents.js';

t.test('SAD full at the responder: CREATE_CHILD_SA answered with NO_ADDITIONAL_SAS, the IKE SA and its child stay', async (t) => {
  const caps = LIMITS as unknown as { sadMax: number };
  const saved = caps.sadMax;
  caps.sadMax = 2; // one child SA: its inbound and outbound SA (both agents are built with it)
  t.teardown(() => void (caps.sadMax = saved));
  const p = await ikePair({ a: { dpd: 0 }, b: { dpd: 0 } });
  t.teardown(() => p.stop());
  t.same(states(p.a), ['established'], 'IKE SA up');
  t.equal(childCount(p.b), 1, 'with its child SA');

  const sa = p.a.agent.ike.sas()[0]!;
  const responsesBefore = messages(p.a, 'in').length;
  startChildRekey(p.a.agent.ike, sa, sa.children[0]!);
  await p.settle();
  t.ok(p.b.log.some((l) => /refusing child SA: cannot install the child SA: SAD full/.test(l)), 'B says why it refused');
  t.equal(messages(p.a, 'in').length, responsesBefore + 1, 'A got an answer at once');
  t.equal(p.b.agent.ike.drops.byReason['internal'] ?? 0, 0, 'not counted as an internal error');

  await p.advance(300_000, 5_000); // past every retransmission A would have made without an answer
  t.same(states(p.a), ['established'], "A's IKE SA is still up");
  t.equal(p.a.agent.ike.sas()[0], sa, 'the same one, not a new one after giving up on the old');
  t.notOk(p.a.events.some((e) => e.type === 'ike-down'), 'no IKE SA went down meanwhile');
  t.same(states(p.b), ['established'], "B's too");
  t.equal(childCount(p.a), 1, 'A keeps its child SA');
  t.equal(childCount(p.b), 1, 'B keeps its child SA');
  t.ok(await p.ping(), 'and traffic still flows on it');
});
