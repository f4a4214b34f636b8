import t, { type Test } from 'tap';
import { parseIkeProposals, parseEspProposals } from '../../src/ike/proposals.js';
import { ikePair, states, childCount, messages, startSide, peerConfig, HOST_A, HOST_B } from './agents.js';
import { prefix, subnetSelector } from '../../src/sa/selector.js';
import type { Pair } from './agents.js';
import { icmpEcho } from '../../src/sa/icmp.js';

const up = (t: Test, p: Pair) => {
  t.same(states(p.a), ['established'], 'A established');
  t.same(states(p.b), ['established'], 'B established');
  t.equal(childCount(p.a), 1, 'A has one child SA');
  t.equal(childCount(p.b), 1, 'B has one child SA');
};

t.test('two agents bring up an IKE SA and a child SA in two exchanges, and traffic flows', async (t) => {
  const p = await ikePair();
  t.teardown(() => p.stop());
  up(t, p);
  t.equal(messages(p.a, 'out').length, 2, 'two requests: IKE_SA_INIT and IKE_AUTH');
  t.ok(await p.ping('a'), 'A -> B');
  t.ok(await p.ping('b'), 'B -> A');
});

for (const [ike, esp] of [
  ['chacha20poly1305-prfsha256-x25519', 'chacha20poly1305-esn'],
  ['aes128-sha256-modp2048', 'aes128-sha256'],
  ['aes256gcm16-prfsha384-modp3072', 'aes256gcm16'],
] as const) {
  t.test(`proposal ${ike} / ${esp}`, async (t) => {
    const o = { ike: parseIkeProposals(ike), esp: parseEspProposals(esp) };
    const p = await ikePair({ a: o, b: o });
    t.teardown(() => p.stop());
    up(t, p);
    t.ok(await p.ping('a'));
    t.ok(await p.ping('b'));
  });
}

t.test('child SA rekey: the initiator leads, traffic keeps flowing, the old SAs go', async (t) => {
  const p = await ikePair({ a: { childLifetime: 120, rekeyMargin: 30 }, b: { childLifetime: 120, rekeyMargin: 30 } });
  t.teardown(() => p.stop());
  const before = p.a.agent.ike.sas()[0]!.children[0]!;
  await p.advance(100_000);
  const after = p.a.agent.ike.sas()[0]!.children[0]!;
  t.not(after.spiIn, before.spiIn, 'a new child SA');
  t.equal(childCount(p.a), 1, 'old child deleted at A');
  t.equal(childCount(p.b), 1, 'old child deleted at B');
  t.ok(p.a.events.some((e) => e.type === 'child-up' && e.rekey), 'rekey event');
  t.ok(await p.ping('a'));
  t.ok(await p.ping('b'));
});

t.test('IKE SA rekey moves the child SA to the new IKE SA', async (t) => {
  const p = await ikePair({ a: { ikeLifetime: 300, rekeyMargin: 60 }, b: { ikeLifetime: 300, rekeyMargin: 60 } });
  t.teardown(() => p.stop());
  const old = p.a.agent.ike.sas()[0]!;
  const child = old.children[0]!;
  await p.advance(250_000);
  const now = p.a.agent.ike.sas();
  t.equal(now.length, 1, 'one IKE SA at A');
  t.equal(p.b.agent.ike.sas().length, 1, 'one IKE SA at B');
  t.not(now[0]!.spiI, old.spiI, 'new SPIs');
  t.same(now[0]!.children.map((c) => c.spiIn), [child.spiIn], 'child moved');
  t.ok(await p.ping('a'));
  // The new IKE SA works: an exchange on it succeeds.
  await p.advance(35_000);
  t.same(states(p.a), ['established']);
});

t.test('DELETE from the initiator closes both sides; from the responder too', async (t) => {
  for (const who of ['a', 'b'] as const) {
    const p = await ikePair();
    const side = p[who];
    side.agent.ike.terminate(side.agent.ike.sas()[0]!.peer);
    await p.settle();
    t.same(states(p.a), [], `A has no IKE SA after ${who}'s DELETE`);
    t.same(states(p.b), [], `B has no IKE SA after ${who}'s DELETE`);
    t.equal(childCount(p.a) + childCount(p.b), 0);
    t.notOk(await p.ping('a'), 'no traffic');
    await p.stop();
  }
});

t.test('DPD: a vanished peer is detected, the SA removed and re-initiated', async (t) => {
  const p = await ikePair();
  t.teardown(() => p.stop());
  let drop = false;
  p.net.fault = (d) => (drop ? [] : [d]);
  drop = true;
  await p.advance(30_000 + 130_000, 2000);
  t.ok(p.a.log.some((l) => /no answer/.test(l)), 'gave up');
  t.equal(childCount(p.a), 0, 'children removed');
  drop = false;
  await p.advance(20_000, 2000);
  t.same(states(p.a).filter((s) => s === 'established'), ['established'], 're-established');
});

t.test('a responder that crashed and restarted: found within dpd + dpd-timeout, set up again at once', async (t) => {
  const dpd = { dpd: 5, dpdTimeout: 10 };
  const p = await ikePair({ a: dpd, b: dpd });
  t.teardown(() => p.stop());
  const old = p.a.agent.ike.sas()[0]!;
  // B crashes: nothing it sends gets out (no DELETE); it comes back with the same configuration and no SAs.
  p.net.fault = () => [];
  await p.b.agent.stop();
  for (const tr of p.b.agent.transports) p.net.detach(tr as never);
  p.net.fault = undefined;
  const b2 = await startSide(p.net, p.clock, 'b', peerConfig('b', dpd), 77);
  t.teardown(() => b2.agent.stop());
  const crashedAt = p.clock.now();
  let upAt: number | undefined;
  while (upAt === undefined && p.clock.now() - crashedAt < 60_000) {
    await p.advance(500, 500);
    if (b2.agent.ike.sas().some((s) => s.fsm.is('established'))) upAt = p.clock.now();
  }
  t.ok(upAt !== undefined, "A set the tunnel up again with the restarted B");
  if (upAt === undefined) t.comment([...p.a.log.slice(-25), "--- b2", ...b2.log.slice(-15)].join("\n"));
  // DPD fires after at most 2 × dpd of silence (its timer ticks every dpd), then dpd-timeout.
  t.ok(upAt! - crashedAt <= (2 * 5 + 10) * 1000 + 1000, `within dpd + dpd tick + dpd-timeout + one exchange: ${(upAt! - crashedAt) / 1000} s`);
  t.ok(p.a.log.some((l) => /peer is not answering: nothing heard for \d+ s with requests unanswered \(dpd 5 s \+ dpd-timeout 10 s\)/.test(l)), 'A says why');
  t.ok(old.fsm.is('closed'), "A's old IKE SA is gone");
  t.same(states(p.a), ['established'], 'A holds one IKE SA');
  t.equal(childCount(p.a), 1, 'and one child SA');
  t.equal(b2.agent.ike.sas().length, 1, 'B holds one IKE SA');
  const before = b2.tun.written.length;
  p.a.tun.inject(icmpEcho(HOST_A, HOST_B, 9, 1));
  await p.settle();
  t.equal(b2.tun.written.length, before + 1, 'traffic flows to the restarted B');
});

t.test('a request queued behind another gets its answer: an hour of rekeys queued behind liveness checks', async (t) => {
  // Child rekeys every 20-25 s and DPD every 5 s: a rekey regularly waits in the window behind a
  // liveness check. Its pending state must survive the window sending it when the check is answered.
  const o = { childLifetime: 30, ikeLifetime: 60, rekeyMargin: 5, dpd: 5 };
  const p = await ikePair({ a: o, b: o });
  t.teardown(() => p.stop());
  let lost = -1;
  for (let s = 0; s < 3600 && lost < 0; s += 5) {
    await p.advance(5000, 1000);
    if (childCount(p.a) !== 1 || childCount(p.b) !== 1) lost = s;
  }
  t.equal(lost, -1, 'one child SA on each side all the time');
  t.ok(p.a.events.filter((e) => e.type === 'child-up').length > 120, 'rekeyed all along (every 20-25 s)');
  t.equal(p.a.agent.ike.drops.byReason['ike-unexpected-response'], undefined, 'no answer was dropped as unexpected at A');
  t.equal(p.b.agent.ike.drops.byReason['ike-unexpected-response'], undefined, 'nor at B');
});

t.test('a restarted peer: INITIAL_CONTACT removes the stale SAs', async (t) => {
  const p = await ikePair();
  t.teardown(() => p.stop());
  // A "restarts": it forgets everything and comes back with the same config.
  await p.a.agent.stop();
  p.net.detach(p.a.agent.transports[0] as never);
  const a2 = await startSide(p.net, p.clock, 'a', peerConfig('a'), 99);
  t.teardown(() => a2.agent.stop());
  await p.settle();
  t.same(a2.agent.ike.sas().map((s) => s.fsm.state), ['established']);
  t.equal(p.b.agent.ike.sas().length, 1, 'B holds only the new IKE SA');
});

t.test('start=on-traffic: the first packet for the peer brings the IKE SA up', async (t) => {
  const p = await ikePair({ a: { start: 'on-traffic' } });
  t.teardown(() => p.stop());
  t.same(states(p.a), [], 'nothing at start');
  t.notOk(await p.ping('a'), 'the first packet starts keying (and is dropped, counted as no-sa)');
  t.equal(p.a.agent.driver.drops()['no-sa'], 1);
  up(t, p);
  t.ok(await p.ping('a'), 'then traffic flows');
});

t.test('stop() sends DELETE for every IKE SA; the peer drops its SAs', async (t) => {
  const p = await ikePair();
  await p.a.agent.stop();
  await p.settle();
  t.same(states(p.b), [], 'B has nothing left');
  t.equal(childCount(p.b), 0);
  await p.b.agent.stop();
});

t.test('timers do not pile up: DPD for hours leaves a bounded set per IKE SA', async (t) => {
  const p = await ikePair({ a: { dpd: 30 }, b: { dpd: 30 } });
  t.teardown(() => p.stop());
  const sa = p.a.agent.ike.sas()[0]!;
  const before = sa.timers.length;
  await p.advance(2 * 3600_000, 60_000);
  const now = p.a.agent.ike.sas()[0]!;
  t.ok(now.timers.length <= before + 1, `timers ${before} -> ${now.timers.length}`);
  t.equal(now.initRequest.length + now.initResponse.length, 0, 'IKE_SA_INIT messages dropped once AUTH is done');
});

t.test('timers do not pile up with a dpd-timeout far longer than dpd', async (t) => {
  const o = { dpd: 1, dpdTimeout: 3600 };
  const p = await ikePair({ a: o, b: o });
  t.teardown(() => p.stop());
  const before = p.a.agent.ike.sas()[0]!.timers.length;
  await p.advance(2 * 3600_000, 60_000);
  const now = p.a.agent.ike.sas()[0]!;
  t.ok(now.timers.length <= before + 1, `timers ${before} -> ${now.timers.length} after 7,200 liveness checks`);
});

t.test('transport mode between two hosts (USE_TRANSPORT_MODE)', async (t) => {
  const host = (a: string, b: string) => [subnetSelector(prefix(`${a}/32`), prefix(`${b}/32`))];
  const p = await ikePair({ a: { mode: 'transport', selectors: host(HOST_A, HOST_B) }, b: { mode: 'transport', selectors: host(HOST_B, HOST_A) } });
  t.teardown(() => p.stop());
  up(t, p);
  t.ok(await p.ping('a'));
  t.ok(await p.ping('b'));
});

t.test('mode mismatch: the child SA is refused, nothing installed', async (t) => {
  const p = await ikePair({ b: { mode: 'transport' } });
  t.teardown(() => p.stop());
  t.equal(childCount(p.b), 0);
  t.ok(p.b.log.some((l) => /refusing child SA: peer asks for tunnel mode, configured transport/.test(l)));
});

t.test('an IKE SA whose rekey keeps failing expires and is brought up again', async (t) => {
  const o = { ikeLifetime: 60, rekeyMargin: 10, childLifetime: 600 };
  const p = await ikePair({ a: o, b: o });
  t.teardown(() => p.stop());
  const first = p.a.agent.ike.sas()[0]!;
  // Every CREATE_CHILD_SA is lost: the IKE rekey cannot complete before the lifetime ends.
  p.net.fault = (d) => (d.length > 22 && d[4 + 18] === 36 ? [] : [d]);
  await p.advance(80_000, 2_000);
  p.net.fault = undefined;
  await p.advance(20_000, 2_000);
  const now = p.a.agent.ike.sas().filter((s) => s.fsm.is('established'));
  t.equal(now.length, 1, 'one IKE SA established');
  t.not(now[0]!.spiI, first.spiI, 'a new one');
  t.ok(await p.ping('a'));
});
