/**
 * Inline keying under loss, duplication, reordering, replay, collisions, caps, lifetimes and
 * idleness (README.md §6, §9), between two in-process agents with a fake clock.
 */
import t from 'tap';
import { HOST_A, HOST_B } from '../ike/agents.js';
import { icmpEcho, tcp4, udp4 } from '../helpers/packets.js';
import { readU32 } from '../../src/wire/bytes.js';
import { inl, inlineIkePair, staticPair } from './world.js';
import type { Endpoint } from '../../src/sa/types.js';
import type { Side } from '../ike/agents.js';

const flows = (s: Side) => inl(s).flowList().filter((f) => f.state !== 'draining').length;
const drops = (s: Side) => s.agent.driver.drops() as Record<string, number>;
const ping = (from: 'a' | 'b', seq: number) => (from === 'a' ? icmpEcho(HOST_A, HOST_B, 9, seq) : icmpEcho(HOST_B, HOST_A, 9, seq, undefined, true));

/** A fault that drops the datagrams for which `pick` says so, counting ESP ones by SPI. */
function dropWhen(pick: (spi: number, n: number, from: Endpoint) => boolean) {
  let n = 0;
  return (d: Uint8Array, from: Endpoint) => {
    if (d.length < 8 || readU32(d, 0) === 0) return [d]; // IKE
    return pick(readU32(d, 0), n++, from) ? [] : [d];
  };
}

t.test('loss of the first packet: the OFFER rides again on the next one, same N1 and Y', async (t) => {
  const p = await inlineIkePair();
  t.teardown(() => p.stop());
  p.net.fault = dropWhen((_spi, n) => n === 0);
  p.a.tun.inject(ping('a', 1));
  await p.settle();
  t.equal(p.b.tun.written.length, 0, 'first packet lost');
  const y = inl(p.a).flowList()[0]!.inSa.spec.spi;
  p.a.tun.inject(ping('a', 2));
  await p.settle();
  t.equal(p.b.tun.written.length, 1, 'second packet delivered');
  t.equal(inl(p.a).counters.spawned, 1, 'still one offer');
  t.equal(inl(p.a).flowList()[0]!.inSa.spec.spi, y, 'same reply SPI');
  t.equal(inl(p.b).counters.answered, 1);
  p.b.tun.inject(ping('b', 2));
  await p.settle();
  t.equal(inl(p.a).counters.acknowledged, 1, 'the pair completes');
});

t.test('loss of the reply: the ANSWER rides on the next packet back', async (t) => {
  const p = await inlineIkePair();
  t.teardown(() => p.stop());
  p.a.tun.inject(ping('a', 1));
  await p.settle();
  p.net.fault = dropWhen((_spi, n) => n === 0);
  p.b.tun.inject(ping('b', 1));
  await p.settle();
  t.equal(p.a.tun.written.length, 0, 'reply lost');
  t.equal(inl(p.a).counters.acknowledged, 0);
  p.b.tun.inject(ping('b', 2));
  await p.settle();
  t.equal(p.a.tun.written.length, 1);
  t.equal(inl(p.a).counters.acknowledged, 1, 'completed by the repeated ANSWER');
  t.equal(inl(p.b).counters.answered, 1, 'B answered once');
});

t.test('every datagram duplicated: one pair, duplicates dropped as replays', async (t) => {
  const p = await inlineIkePair();
  t.teardown(() => p.stop());
  p.net.fault = (d) => [d, d];
  for (let i = 0; i < 3; i++) {
    p.a.tun.inject(ping('a', i));
    await p.settle();
    p.b.tun.inject(ping('b', i));
    await p.settle();
  }
  t.equal(p.b.tun.written.length, 3, 'each packet delivered once at B');
  t.equal(p.a.tun.written.length, 3, 'each packet delivered once at A');
  t.equal(flows(p.a), 1);
  t.equal(flows(p.b), 1);
  t.equal(inl(p.b).counters.answered, 1);
});

t.test('reordering: a later packet overtakes the OFFER; the pair still forms', async (t) => {
  const p = await inlineIkePair();
  t.teardown(() => p.stop());
  const held: Uint8Array[] = [];
  p.net.fault = (d) => (d.length >= 8 && readU32(d, 0) !== 0 && held.length === 0 ? (held.push(d), []) : [d]);
  p.a.tun.inject(ping('a', 1)); // OFFER, held back
  p.a.tun.inject(ping('a', 2)); // OFFER again (same N1), delivered first
  await p.settle();
  p.net.fault = undefined;
  t.equal(p.b.tun.written.length, 1);
  await replayInto(p, held[0]!); // the held OFFER arrives late: idempotent, payload delivered
  t.equal(p.b.tun.written.length, 2, 'the late packet is delivered (it is not a replay)');
  t.equal(inl(p.b).counters.answered, 1, 'one answer for both copies of the offer');
  t.equal(flows(p.b), 1);
});

t.test('replay of a creation header changes nothing', async (t) => {
  for (const kind of ['ike', 'static'] as const) {
    const p = kind === 'ike' ? await inlineIkePair() : await staticPair();
    const captured: Uint8Array[] = [];
    p.net.fault = (d) => {
      if (d.length >= 8 && readU32(d, 0) !== 0) captured.push(d);
      return [d];
    };
    p.a.tun.inject(ping('a', 1));
    await p.settle();
    p.b.tun.inject(ping('b', 1));
    await p.settle();
    const offer = captured[0]!;
    const before = { answered: inl(p.b).counters.answered, delivered: p.b.tun.written.length, flows: flows(p.b) };
    p.net.fault = undefined;
    await replayInto(p, offer); // as an attacker on the path would
    await replayInto(p, offer);
    t.equal(inl(p.b).counters.answered, before.answered, `${kind}: no new answer`);
    t.equal(p.b.tun.written.length, before.delivered, `${kind}: the payload is not delivered again`);
    t.equal(flows(p.b), before.flows, `${kind}: no new flow`);
    const d = drops(p.b);
    const replayDrops = kind === 'static' ? (d['inline-replay'] ?? 0) : countSaDrops(p.b, 'replay');
    t.ok(replayDrops >= 1, `${kind}: counted as a replay`);
    await p.stop();
  }
});

/** Send a captured datagram again from A's ESP port to B's. */
async function replayInto(p: { a: Side; b: Side; settle(): Promise<void> }, d: Uint8Array): Promise<void> {
  const aNatt = p.a.agent.transports.find((x) => x.local.port === 4500)!;
  aNatt.send(d, { addr: '192.0.2.2', port: 4500 });
  await p.settle();
}

function countSaDrops(s: Side, reason: string): number {
  let n = 0;
  const sad = (s.agent.driver as unknown as { sad: { all(): Iterable<{ counters: { drops: Record<string, number> } }> } }).sad;
  for (const sa of sad.all()) n += sa.counters.drops[reason] ?? 0;
  return n;
}

t.test('two flows starting at the same moment from both ends: one pair survives', async (t) => {
  for (const seed of [1, 2, 3, 4]) {
    const p = await inlineIkePair({ seed });
    p.a.tun.inject(ping('a', 1));
    p.b.tun.inject(ping('b', 1));
    await p.settle();
    t.equal(p.a.tun.written.length, 1, `seed ${seed}: A got B's packet`);
    t.equal(p.b.tun.written.length, 1, `seed ${seed}: B got A's packet`);
    t.equal(inl(p.a).counters.collisions + inl(p.b).counters.collisions, 2, `seed ${seed}: both saw the collision`);
    for (let i = 2; i < 5; i++) {
      p.a.tun.inject(ping('a', i));
      p.b.tun.inject(ping('b', i));
      await p.settle();
    }
    t.equal(flows(p.a), 1, `seed ${seed}: one flow at A`);
    t.equal(flows(p.b), 1, `seed ${seed}: one flow at B`);
    const fa = inl(p.a).flowList().find((f) => f.state !== 'draining')!;
    const fb = inl(p.b).flowList().find((f) => f.state !== 'draining')!;
    t.equal(fa.state, 'established', `seed ${seed}: A established`);
    t.equal(fb.state, 'established', `seed ${seed}: B established`);
    t.equal(fa.outSa!.spec.spi, fb.inSa.spec.spi, `seed ${seed}: A sends where B receives`);
    t.equal(fb.outSa!.spec.spi, fa.inSa.spec.spi, `seed ${seed}: B sends where A receives`);
    t.equal(p.a.tun.written.length, 4);
    t.equal(p.b.tun.written.length, 4);
    await p.stop();
  }
});

t.test('the spawn cap: an IKE parent is rekeyed, a static one refuses', async (t) => {
  const p = await inlineIkePair({ maxSpawn: 3 });
  t.teardown(() => p.stop());
  const ikeBefore = p.a.agent.ike.sas()[0]!;
  for (let i = 0; i < 4; i++) {
    p.a.tun.inject(udp4(HOST_A, HOST_B, 1000 + i, 53, new Uint8Array(8)));
    p.a.tun.inject(udp4(`198.51.100.${10 + i}`, HOST_B, 1000, 53, new Uint8Array(8)));
  }
  await p.settle();
  t.equal(p.b.tun.written.length, 8, 'every packet delivered (past the cap on the carrier)');
  t.ok(inl(p.a).counters.refused >= 1, 'spawns past the cap refused');
  t.equal(inl(p.a).counters.spawned, 3, 'three spawned from the first secret');
  await p.advance(5000);
  const now = p.a.agent.ike.sas().filter((s) => s.fsm.is('established'));
  t.ok(ikeBefore.rekeyedTo, 'the IKE SA was rekeyed');
  t.ok(now.length >= 1);
  p.a.tun.inject(udp4('198.51.100.99', HOST_B, 1, 53, new Uint8Array(8)));
  await p.settle();
  t.equal(inl(p.a).counters.spawned, 4, 'spawning again from the new parent secret');

  const s = await staticPair({ maxSpawn: 2 });
  t.teardown(() => s.stop());
  for (let i = 0; i < 3; i++) s.a.tun.inject(udp4(`198.51.100.${20 + i}`, HOST_B, 1000, 53, new Uint8Array(8)));
  await s.settle();
  t.equal(s.b.tun.written.length, 2, 'static: the third flow is refused');
  t.equal(drops(s.a)['inline-refused'], 1, 'and counted');
});

t.test('lifetime and grace: the sender stops at expiry, the receiver accepts for K1·MSL + K2·lifetime', async (t) => {
  const p = await inlineIkePair({ lifetime: 60 });
  t.teardown(() => p.stop());
  p.a.tun.inject(ping('a', 1));
  await p.settle();
  p.b.tun.inject(ping('b', 1));
  await p.settle();
  const first = inl(p.a).flowList()[0]!;
  const z = first.outSa!.spec.spi;
  await p.advance(59_000);
  p.a.tun.inject(ping('a', 2));
  p.b.tun.inject(ping('b', 2));
  await p.settle(); // keeps it from idling
  await p.advance(2_000);
  t.equal(first.state, 'draining', 'A stopped sending on it at 60 s');
  p.a.tun.inject(ping('a', 3));
  await p.settle();
  t.equal(inl(p.a).counters.spawned, 2, 'the next packet made a new flow');
  const bSad = (p.b.agent.driver as unknown as { sad: { get(d: string, s: number): unknown } }).sad;
  // grace = 2·120 s + 60/32 s = 241.875 s after the 60 s lifetime
  await p.advance(240_000);
  t.ok(bSad.get('in', z), 'B still accepts on the old Z inside the grace period');
  await p.advance(5_000);
  t.notOk(bSad.get('in', z), 'and not after it');
});

t.test('idle flows go; a late packet on a removed SPI is answered with RETIRE and the flow respawns', async (t) => {
  const p = await inlineIkePair({ idle: 30, b: { idle: 3600 } });
  t.teardown(() => p.stop());
  p.a.tun.inject(ping('a', 1));
  await p.settle();
  p.b.tun.inject(ping('b', 1));
  await p.settle();
  await p.advance(31_000);
  t.equal(inl(p.a).counters.idled, 1, 'A removed the idle flow');
  t.equal(flows(p.b), 1, 'B (longer idle) still has it');
  p.b.tun.inject(ping('b', 2));
  await p.settle();
  t.equal(p.a.tun.written.length, 1, "B's packet on the removed SA is not delivered");
  t.equal(drops(p.a)['inline-tombstone'], 1, 'it hit a tombstone');
  t.equal(inl(p.b).counters.retired, 1, 'B got the RETIRE and removed the flow');
  p.b.tun.inject(ping('b', 3));
  await p.settle();
  t.equal(p.a.tun.written.length, 2, 'the next packet goes through on a new flow');
  t.equal(inl(p.b).counters.spawned, 1, 'B offered a new pair');
});

t.test('the flow table cap: idle LRU flows are evicted, busy ones make new flows wait', async (t) => {
  const p = await inlineIkePair({ opts: { maxFlows: 4 } });
  t.teardown(() => p.stop());
  for (let i = 0; i < 4; i++) p.a.tun.inject(udp4(`198.51.100.${i + 1}`, HOST_B, 1, 53, new Uint8Array(4)));
  await p.settle();
  t.equal(inl(p.a).size, 4);
  p.a.tun.inject(udp4('198.51.100.50', HOST_B, 1, 53, new Uint8Array(4)));
  await p.settle();
  t.equal(inl(p.a).counters.refused, 1, 'all four busy: refused (the packet goes on the carrier)');
  t.equal(p.b.tun.written.length, 5, 'and is still delivered');
  await p.advance(6_000);
  p.a.tun.inject(udp4('198.51.100.51', HOST_B, 1, 53, new Uint8Array(4)));
  await p.settle();
  t.equal(inl(p.a).counters.evicted, 1, 'an idle flow made room');
  t.ok(inl(p.a).size <= 4, 'never above the cap');
});

t.test('static parents: clocks too far apart, and packets from before a restart, are refused', async (t) => {
  const p = await staticPair();
  t.teardown(() => p.stop());
  // A's clock runs 10 minutes ahead of B's.
  const eng = inl(p.a) as unknown as { statics: { wall: () => number } };
  const wall = eng.statics.wall;
  eng.statics.wall = () => wall() + 600;
  p.a.tun.inject(ping('a', 1));
  await p.settle();
  t.equal(p.b.tun.written.length, 0);
  t.equal(drops(p.b)['inline-stale'], 1, 'counted as stale');
  eng.statics.wall = wall;
  p.a.tun.inject(ping('a', 2));
  await p.settle();
  t.equal(p.b.tun.written.length, 1, 'within the skew it works');
});

t.test('the header alone when the first packet would not fit the path MTU (README.md §8)', async (t) => {
  for (const kind of ['ike', 'static'] as const) {
    const sizes: number[] = [];
    const o = { pathMtu: 600 };
    const p = kind === 'ike' ? await inlineIkePair(o) : await staticPair(o);
    p.net.fault = (d) => {
      if (d.length >= 8 && readU32(d, 0) !== 0) sizes.push(d.length + 28);
      return [d];
    };
    // 510 octets: 572 on the wire alone, 620 with the 48-octet OFFER.
    p.a.tun.inject(tcp4(HOST_A, HOST_B, 40000, 80, 0x18, new Uint8Array(470)));
    await p.settle();
    t.ok(sizes.every((s) => s <= 600), `${kind}: no datagram above the path MTU (${sizes.join(', ')})`);
    t.equal(p.b.tun.written.length, 1, `${kind}: the data packet arrives`);
    t.equal(inl(p.a).counters.acknowledged, 1, `${kind}: a lone header is answered at once`);
    t.same(Object.keys(drops(p.b)).filter((k) => k.startsWith('inline')), [], `${kind}: nothing dropped`);
    await p.stop();
  }
});
