/**
 * A connection whose child SA is gone while its IKE SA lives gets a new child on that IKE SA
 * (RFC 7296 §1.3.1, CREATE_CHILD_SA without REKEY_SA), not a new IKE SA and not nothing:
 * - start=initiate asks at once when the child goes (deleted by the peer alone, or its hard
 *   lifetime reached because every rekey was refused);
 * - start=on-traffic asks when the next packet for it arrives (the driver's acquire);
 * - a peer that refuses is asked again no sooner than IKE_TIMERS.newChildSpacingMs.
 *
 *   HDR, SK {SA, Ni, [KEi], TSi, TSr}  -->
 *                             <--  HDR, SK {SA, Nr, [KEr], TSi, TSr}
 */
import t from 'tap';
import { EXCHANGE } from '../../src/ike/constants.js';
import { deleteChild } from '../../src/ike/tasks/child.js';
import { IKE_TIMERS, LIMITS } from '../../src/limits.js';
import { KeylineError } from '../../src/wire/errors.js';
import { childCount, ikePair, messages, states, type Side } from './agents.js';

const createChildRequests = (s: Side) => messages(s, 'out').filter((m) => m.exchange === EXCHANGE.CREATE_CHILD_SA && !m.response).length;
const ikeSpis = (s: Side) => s.agent.ike.sas().map((x) => `${x.spiI}_${x.spiR}`);
const liveChildren = (s: Side) => s.agent.ike.sas().flatMap((x) => x.children.filter((c) => c.state === 'installed'));

t.test('start=initiate: the peer deletes the child alone, a new one comes up on the same IKE SA', async (t) => {
  const p = await ikePair({ a: { dpd: 0 }, b: { dpd: 0 } });
  t.teardown(() => p.stop());
  const ike = ikeSpis(p.a);
  const bSa = p.b.agent.ike.sas()[0]!;
  const old = bSa.children[0]!;
  deleteChild(p.b.agent.ike, bSa, old, 'operator');
  await p.settle();
  t.ok(p.a.log.some((l) => /removed \(deleted by peer\)/.test(l)), 'A removed the child the peer deleted');
  t.ok(p.a.log.some((l) => /asking for a new child SA/.test(l)), 'and asked for a new one at once');
  t.equal(childCount(p.a), 1, 'A has one child SA');
  t.equal(childCount(p.b), 1, 'B has one child SA');
  t.not(liveChildren(p.a)[0]!.spiOut, old.spiIn, 'a new one, not the deleted one');
  t.same(ikeSpis(p.a), ike, 'on the same IKE SA');
  t.same(states(p.b), ['established'], 'B still has one IKE SA');
  t.ok(await p.ping(), 'traffic flows A -> B');
  t.ok(await p.ping('b'), 'and B -> A');
  t.equal(p.a.agent.ike.drops.byReason['internal'] ?? 0, 0, 'no internal error');
});

t.test('start=initiate: every rekey refused, the hard lifetime ends the child, a new one replaces it', async (t) => {
  const caps = LIMITS as unknown as { sadMax: number };
  const saved = caps.sadMax;
  caps.sadMax = 2; // room for one child SA (in and out): a rekey needs two more and is refused
  t.teardown(() => void (caps.sadMax = saved));
  const p = await ikePair({ a: { dpd: 0, childLifetime: 120, rekeyMargin: 30 }, b: { dpd: 0, childLifetime: 120, rekeyMargin: 30 } });
  t.teardown(() => p.stop());
  const ike = ikeSpis(p.a);
  const first = liveChildren(p.a)[0]!;
  await p.advance(121_000);
  t.ok(p.b.log.some((l) => /refusing child SA: cannot install the child SA: SAD full/.test(l)), 'B refused the rekeys (SAD full)');
  t.ok(p.a.log.some((l) => /removed \((lifetime reached|hard limit: 120 s)\)/.test(l)), "A's child reached its hard lifetime");
  const now = liveChildren(p.a);
  t.equal(now.length, 1, 'A has a child SA again');
  t.not(now[0]!.spiIn, first.spiIn, 'a new one');
  t.equal(childCount(p.b), 1, 'and so has B');
  t.same(ikeSpis(p.a), ike, 'on the same IKE SA');
  t.ok(await p.ping(), 'traffic flows on it');
});

t.test('start=on-traffic: no new child until a packet wants one; then one, on the same IKE SA', async (t) => {
  const p = await ikePair({ a: { dpd: 0, start: 'on-traffic' }, b: { dpd: 0 } });
  t.teardown(() => p.stop());
  t.same(states(p.a), [], 'nothing before traffic');
  t.notOk(await p.ping(), 'the first packet raises the acquire (and is dropped)');
  await p.advance(2_000);
  t.same(states(p.a), ['established'], 'IKE SA up after the first packet');
  t.ok(await p.ping(), 'traffic flows');
  const ike = ikeSpis(p.a);

  const bSa = p.b.agent.ike.sas()[0]!;
  deleteChild(p.b.agent.ike, bSa, bSa.children[0]!, 'operator');
  await p.advance(30_000);
  t.equal(childCount(p.a), 0, 'no child SA while there is no traffic');
  t.notOk(p.a.log.some((l) => /asking for a new child SA/.test(l)), 'and none asked for');

  t.notOk(await p.ping(), 'the next packet raises the acquire');
  await p.settle();
  t.equal(liveChildren(p.a).length, 1, 'a new child SA');
  t.same(ikeSpis(p.a), ike, 'on the same IKE SA');
  t.ok(await p.ping(), 'traffic flows again');
});

t.test('a peer that refuses the new child is asked again no sooner than newChildSpacingMs', async (t) => {
  const p = await ikePair({ a: { dpd: 0 }, b: { dpd: 0 } });
  t.teardown(() => p.stop());
  const driver = p.b.agent.driver;
  const addSa = driver.addSa.bind(driver);
  let refusing = true;
  driver.addSa = async (spec) => {
    if (refusing) throw new KeylineError('SAD_FULL', 'SAD full (test)');
    return addSa(spec);
  };
  const bSa = p.b.agent.ike.sas()[0]!;
  const before = createChildRequests(p.a);
  deleteChild(p.b.agent.ike, bSa, bSa.children[0]!, 'operator');
  const windowMs = 60_000;
  await p.advance(windowMs, 500);
  const asked = createChildRequests(p.a) - before;
  const most = Math.floor(windowMs / IKE_TIMERS.newChildSpacingMs) + 1;
  t.ok(asked >= 2 && asked <= most, `${asked} requests in ${windowMs / 1000} s (at most ${most})`);
  t.ok(p.a.log.some((l) => /new child SA failed: peer answered NO_ADDITIONAL_SAS/.test(l)), 'A logs the refusal');
  t.same(states(p.a), ['established'], 'the IKE SA stays up through the refusals');
  t.equal(childCount(p.a), 0, 'no child SA meanwhile');

  refusing = false;
  await p.advance(IKE_TIMERS.newChildSpacingMs, 500);
  t.equal(liveChildren(p.a).length, 1, 'once B can take it, the child comes up at the next attempt');
  t.ok(await p.ping(), 'traffic flows');
});
