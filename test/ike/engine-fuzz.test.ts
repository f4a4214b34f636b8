/**
 * Mutated copies of every message of a real exchange (IKE_SA_INIT, IKE_AUTH, CREATE_CHILD_SA,
 * INFORMATIONAL), fed to established agents: nothing may throw past a handler ('internal' drops
 * stay 0), and nothing that fails authentication may change any SA. Bounded: a fixed number of
 * mutations from a fixed seed, so a failure reproduces.
 */
import t from 'tap';
import { startChildRekey } from '../../src/ike/tasks/child.js';
import { rng } from '../helpers/rng.js';
import type { Endpoint } from '../../src/sa/types.js';
import { childCount, ikePair, type Side } from './agents.js';

const MUTATIONS = 3000;

const snapshot = (s: Side) =>
  s.agent.ike.sas().map((x) => ({ state: x.fsm.state, spiI: x.spiI, spiR: x.spiR, children: x.children.map((c) => [c.spiIn, c.spiOut, c.state]) }));

function mutate(d: Uint8Array, r: () => number): Uint8Array {
  const kind = Math.floor(r() * 5);
  const out = d.slice();
  const at = 4 + Math.floor(r() * Math.max(1, d.length - 4)); // keep the non-ESP marker
  switch (kind) {
    case 0: // bit flip
      out[at]! ^= 1 << Math.floor(r() * 8);
      return out;
    case 1: // truncation
      return out.subarray(0, at);
    case 2: // a length field lies (IKE header length or a payload length)
      out[at] = Math.floor(r() * 256);
      out[Math.min(at + 1, out.length - 1)] = Math.floor(r() * 256);
      return out;
    case 3: // next-payload loop: point a payload at itself
      out[at] = out[Math.min(at + 4, out.length - 1)] ?? 0;
      return out;
    default: // random tail
      for (let i = at; i < out.length; i++) out[i] = Math.floor(r() * 256);
      return out;
  }
}

t.test('mutated IKE messages change nothing and throw nothing', async (t) => {
  const captured: [Uint8Array, Endpoint, Endpoint][] = [];
  const p = await ikePair({ fault: (d, from, to) => (captured.push([d, from, to]), [d]) });
  t.teardown(() => p.stop());
  // Capture a rekey and a liveness check too.
  startChildRekey(p.a.agent.ike, p.a.agent.ike.sas()[0]!, p.a.agent.ike.sas()[0]!.children[0]!);
  await p.settle();
  await p.advance(31_000, 31_000);
  p.net.fault = undefined;
  t.ok(captured.length >= 8, `captured ${captured.length} datagrams`);
  const before = { a: snapshot(p.a), b: snapshot(p.b) };
  const r = rng(0x5eed);
  for (let i = 0; i < MUTATIONS; i++) {
    const [d, from, to] = captured[Math.floor(r() * captured.length)]!;
    p.net.carry(mutate(d, r), from, to);
    if (i % 100 === 99) await p.settle();
  }
  await p.settle();
  // A mutated IKE_SA_INIT request is a new, unauthenticated request like any other: it may open a
  // half-open SA (bounded by the caps, and gone when IKE_AUTH does not follow). Existing SAs stay.
  const existing = (s: Side, b: ReturnType<typeof snapshot>) => snapshot(s).filter((x) => b.some((y) => y.spiI === x.spiI && y.spiR === x.spiR));
  t.same({ a: existing(p.a, before.a), b: existing(p.b, before.b) }, before, 'no existing SA changed');
  const fresh = [...snapshot(p.a), ...snapshot(p.b)].filter((x) => x.state !== 'established');
  t.ok(fresh.every((x) => x.state === 'connecting' && x.children.length === 0), `${fresh.length} new SAs, all half open`);
  await p.advance(31_000, 31_000);
  t.same({ a: snapshot(p.a), b: snapshot(p.b) }, before, 'half-open SAs gone after the IKE_AUTH timeout');
  t.equal(p.a.agent.ike.drops.byReason.internal, undefined, 'A: nothing escaped a handler');
  t.equal(p.b.agent.ike.drops.byReason.internal, undefined, 'B: nothing escaped a handler');
  t.equal(childCount(p.a), 1);
  t.ok(await p.ping('a'), 'traffic still flows');
  t.ok(await p.ping('b'));
});
