/**
 * Mutated copies of every message of a captured exchange (IKE_SA_INIT, IKE_AUTH, CREATE_CHILD_SA,
 * INFORMATIONAL), fed one at a time to two established agents over the memory network. After each
 * one: no existing SA changed (state, SPIs, message IDs, keys, children, SAD, SPD, replay windows),
 * a mutated IKE_SA_INIT request made at most a half-open SA, nothing was thrown past a handler,
 * and the drop counters rose. None of the mutants authenticates: a changed byte fails the ICV.
 */
import t from 'tap';
import { startChildRekey } from '../../src/ike/tasks/child.js';
import type { Endpoint } from '../../src/sa/types.js';
import { childCount, ikePair } from '../ike/agents.js';
import { fuzz } from './harness.js';
import { concat, fixIkeLength, ikeShape, mutate, pick, toHex } from './mutate.js';
import { drops, internal, snapshot } from './snapshot.js';

interface Captured {
  ike: Uint8Array;
  marker: boolean;
  from: Endpoint;
  to: Endpoint;
}

t.test('mutated captured exchanges change no SA and throw nothing', async (t) => {
  const captured: Captured[] = [];
  const p = await ikePair({
    fault: (d, from, to) => {
      const marker = to.port === 4500;
      if (!marker || (d.length >= 8 && d[0] === 0 && d[1] === 0 && d[2] === 0 && d[3] === 0)) captured.push({ ike: d.slice(marker ? 4 : 0), marker, from, to });
      return [d];
    },
  });
  t.teardown(() => p.stop());
  // HDR, SK {SA, Ni, TSi, TSr} -->  (a child rekey), then a liveness check (INFORMATIONAL).
  const saA = p.a.agent.ike.sas()[0]!;
  startChildRekey(p.a.agent.ike, saA, saA.children[0]!);
  await p.settle();
  await p.advance(31_000, 31_000);
  p.net.fault = undefined;
  const exchanges = new Set(captured.map((c) => c.ike[18]));
  t.same([...exchanges].sort(), [34, 35, 36, 37], `captured ${captured.length} messages of IKE_SA_INIT, IKE_AUTH, CREATE_CHILD_SA, INFORMATIONAL`);
  const seeds = captured.map((c) => c.ike);
  const existing = () => ({ a: snapshot(p.a), b: snapshot(p.b) });
  const before = existing();
  const key = (x: { spiI: string; spiR: string }) => x.spiI + '_' + x.spiR;
  const known = new Set([...before.a.ike, ...before.b.ike].map(key));
  await fuzz(t, 'ike-engine', {
    make: (r) => {
      const c = pick(r, captured);
      const ike = mutate(r, c.ike, { shape: ikeShape, others: seeds, fixLength: fixIkeLength });
      return { ...c, datagram: c.marker ? concat(r() < 0.05 ? Uint8Array.of(0, 0, 0, 1) : new Uint8Array(4), ike) : ike };
    },
    show: (x) => `${x.from.addr}:${x.from.port} -> ${x.to.addr}:${x.to.port} ${toHex(x.datagram)}`,
    run: async (x) => {
      const dropsBefore = drops(p.a) + drops(p.b);
      p.net.carry(x.datagram, x.from, x.to);
      await p.settle();
      const now = existing();
      const old = (s: typeof now.a) => ({ ...s, ike: s.ike.filter((y) => known.has(key(y))) });
      if (JSON.stringify({ a: old(now.a), b: old(now.b) }) !== JSON.stringify(before)) return `an SA changed: ${JSON.stringify(now)}`;
      const fresh = [...now.a.ike, ...now.b.ike].filter((y) => !known.has(key(y)));
      if (fresh.some((y) => y.state !== 'connecting' || y.children.length)) return `a new SA went further than half open: ${JSON.stringify(fresh)}`;
      if (internal(p.a) + internal(p.b)) return 'something was thrown past a handler';
      // A fresh half-open SA is an answer, not a drop; everything else is counted.
      if (drops(p.a) + drops(p.b) === dropsBefore && fresh.length === 0) return 'dropped without counting';
      return undefined;
    },
  });
  await p.advance(31_000, 31_000);
  t.same(existing(), before, 'half-open SAs gone after the IKE_AUTH timeout; everything else as before');
  t.equal(childCount(p.a), 1);
  t.ok(await p.ping('a'), 'traffic still flows');
  t.ok(await p.ping('b'));
});
