/**
 * A rekey storm, in process (two agents on the memory network, one fake clock, seeded
 * randomness): 1,000 connections between A and B, each an IKE SA with one child SA, all with the
 * same child lifetime and installed in the same second. The "convoy" the FreeS/WAN experience
 * warns about would rekey them all at the same moment; keyline spreads the leader's rekeys over
 * [lifetime - 2·margin, lifetime - margin] (src/sa/rekey.ts) and the other side only takes over
 * at lifetime - margin/2.
 *
 * 1. Clean network: the rekeys are spread (no second holds more than a small multiple of the
 *    mean), every child is rekeyed exactly once, nothing collides.
 * 2. A network outage in the middle of the rekey window (every IKE datagram lost for 75 s): the
 *    leader's rekeys retransmit into the follower's takeover, so both ends rekey the same child
 *    (RFC 7296 §2.8.1). Every collision is resolved the same way on both sides (the exchange
 *    with the lowest nonce made the redundant child, and its initiator deletes it).
 *
 * Afterwards, in both cases: every connection has exactly one IKE SA and one child SA on each
 * side, the child SPIs match across, and the SADs of the two drivers are mirror images (no
 * duplicate or orphaned SA left behind).
 */
import t from 'tap';
import type * as Tap from 'tap';
import { startAgent, type Agent } from '../../src/agent.js';
import { nodeBackend } from '../../src/crypto/index.js';
import type { UserspaceDriver } from '../../src/drivers/userspace/driver.js';
import { MemoryTunnel } from '../../src/drivers/userspace/tun/tunnel.js';
import { EXCHANGE, ID_TYPE } from '../../src/ike/constants.js';
import type { EngineEvent } from '../../src/ike/engine.js';
import type { IkePeer } from '../../src/ike/peer.js';
import { parseEspProposals, parseIkeProposals } from '../../src/ike/proposals.js';
import { prefix, subnetSelector } from '../../src/sa/selector.js';
import { spiText } from '../../src/sa/sad.js';
import { MemoryNetwork } from '../../src/transport/memory.js';
import { FakeClock } from '../../src/util/clock.js';
import { makeLogger } from '../../src/util/log.js';
import { rng } from '../helpers/rng.js';
import { ADDR_A, ADDR_B, settle } from '../ike/agents.js';

const N = 1000;
const LIFETIME = 600;
const MARGIN = 120;
const IKE = parseIkeProposals('aes128gcm16-prfsha256-x25519');
const ESP = parseEspProposals('aes128gcm16');
const fqdn = (s: string) => ({ type: ID_TYPE.ID_FQDN, data: new TextEncoder().encode(s) });
const host = (net: number, i: number) => `10.${net}.${i >> 8}.${i & 255}/32`;

function peers(side: 'a' | 'b'): IkePeer[] {
  const a = side === 'a';
  return Array.from({ length: N }, (_, i) => ({
    name: `c${i}`,
    reqid: i + 1,
    remote: { addr: a ? ADDR_B : ADDR_A, port: 4500 },
    localId: fqdn(`${side}${i}.example`),
    remoteId: fqdn(`${a ? 'b' : 'a'}${i}.example`),
    psk: new TextEncoder().encode(`connection ${i} pre-shared key`),
    ike: IKE,
    esp: ESP,
    mode: 'tunnel' as const,
    selectors: [subnetSelector(prefix(host(a ? 1 : 2, i)), prefix(host(a ? 2 : 1, i)))],
    ikeLifetime: 24 * 3600,
    childLifetime: LIFETIME,
    rekeyMargin: MARGIN,
    dpd: 0,
    start: a ? ('initiate' as const) : ('wait' as const),
    replayWindow: 64,
  }));
}

interface Side {
  agent: Agent;
  events: EngineEvent[];
  log: string[];
}

async function side(net: MemoryNetwork, clock: FakeClock, s: 'a' | 'b', seed: number): Promise<Side> {
  const addr = s === 'a' ? ADDR_A : ADDR_B;
  const r = rng(seed);
  const events: EngineEvent[] = [];
  const log: string[] = [];
  const tun = new MemoryTunnel(`${s}0`);
  const agent = await startAgent(
    { listen: [{ addr, port: 500 }, { addr, port: 4500 }], tun: { name: tun.name, address: '', mtu: 1400 }, manual: [], ike: peers(s) },
    {
      log: makeLogger('info', (l) => log.push(l)),
      backend: nodeBackend,
      clock,
      random: (n) => Uint8Array.from({ length: n }, () => Math.floor(r() * 256)),
      rand01: r,
      openTunnel: async () => ({ tunnel: tun, routes: { add: async () => {}, remove: async () => {}, clear: async () => {} } }),
      openTransport: async (at) => net.attach(at),
      onIkeEvent: (e) => events.push(e),
      // 1,000 IKE_SA_INITs at once: no cookies for this test's own peer
      ikeLimits: { cookieThreshold: 2 * N, halfOpenMax: 2 * N },
    },
  );
  return { agent, events, log };
}

/** Rekey requests sent (CREATE_CHILD_SA with REKEY_SA), with the fake time they went out. */
function rekeyTimes(s: Side, clock: FakeClock, into: number[]): void {
  s.agent.ike.on((e) => {
    if (e.type === 'message' && e.dir === 'out' && !e.response && e.exchange === EXCHANGE.CREATE_CHILD_SA && e.payloads.includes('N')) into.push(clock.now());
  });
}

/** Every connection: one IKE SA, one child SA on each side, mirrored; the SADs mirror each other. */
function checkConsistent(t: Tap.Test, a: Side, b: Side, what: string): void {
  const bad: string[] = [];
  const byPeer = (s: Side) => {
    const m = new Map<string, ReturnType<Agent['ike']['sas']>>();
    for (const sa of s.agent.ike.sas()) if (!sa.fsm.is('closed')) m.set(sa.peer.name, [...(m.get(sa.peer.name) ?? []), sa]);
    return m;
  };
  const [pa, pb] = [byPeer(a), byPeer(b)];
  let children = 0;
  for (let i = 0; i < N; i++) {
    const [sa, sb] = [pa.get(`c${i}`) ?? [], pb.get(`c${i}`) ?? []];
    if (sa.length !== 1 || sb.length !== 1) {
      bad.push(`c${i}: ${sa.length} IKE SAs at A, ${sb.length} at B`);
      continue;
    }
    const [ca, cb] = [sa[0]!.children, sb[0]!.children];
    if (ca.length !== 1 || cb.length !== 1) {
      bad.push(`c${i}: ${ca.length} child SAs at A (${ca.map((c) => `${spiText(c.spiIn)} ${c.state}`)}), ${cb.length} at B (${cb.map((c) => `${spiText(c.spiIn)} ${c.state}`)})`);
      continue;
    }
    if (ca[0]!.spiIn !== cb[0]!.spiOut || ca[0]!.spiOut !== cb[0]!.spiIn || ca[0]!.state !== 'installed' || cb[0]!.state !== 'installed') {
      bad.push(`c${i}: A ${spiText(ca[0]!.spiIn)}/${spiText(ca[0]!.spiOut)} ${ca[0]!.state}, B ${spiText(cb[0]!.spiIn)}/${spiText(cb[0]!.spiOut)} ${cb[0]!.state}`);
    }
    children++;
  }
  t.same(bad.slice(0, 10), [], `${what}: every connection has one IKE SA and one child SA, the same on both sides (${children} of ${N})`);
  const sad = (s: Side) => [...(s.agent.driver as UserspaceDriver).sad.all()].map((x) => `${x.spec.dir} ${x.spec.spi}`);
  const flip = (e: string) => (e.startsWith('in ') ? e.replace('in ', 'out ') : e.replace('out ', 'in '));
  const [sadA, sadB] = [sad(a), sad(b)];
  t.equal(sadA.length, 2 * N, `${what}: A's SAD holds exactly ${2 * N} SAs (one pair per connection): ${sadA.length}`);
  t.same(sadA.map(flip).sort(), sadB.sort(), `${what}: B's SAD is A's mirror image`);
}

async function storm(t: Tap.Test, o: { outage?: { from: number; to: number }; seed: number }) {
  const net = new MemoryNetwork();
  const clock = new FakeClock();
  let dropped = 0;
  net.fault = (d) => {
    const now = clock.now() / 1000;
    if (o.outage && now >= o.outage.from && now < o.outage.to) {
      dropped++;
      return [];
    }
    return [d];
  };
  const b = await side(net, clock, 'b', o.seed + 1);
  const a = await side(net, clock, 'a', o.seed);
  t.teardown(() => Promise.all([a.agent.stop(), b.agent.stop()]));
  await settle(net);
  for (let i = 0; i < 5; i++) {
    clock.advance(100);
    await settle(net);
  }
  checkConsistent(t, a, b, 'after set-up');
  const atA: number[] = [];
  const atB: number[] = [];
  rekeyTimes(a, clock, atA);
  rekeyTimes(b, clock, atB);
  const t0 = clock.now();
  // Past every rekey, every retransmission and the rekeyed children's lingering (30 s).
  const end = LIFETIME + 200;
  for (let s = 0; s < end; s++) {
    clock.advance(1000);
    await settle(net);
  }
  // The first generation: the children installed at the start (their successors rekey again later).
  const secs = (xs: number[]) => xs.map((x) => Math.floor((x - t0) / 1000)).filter((x) => x < LIFETIME);
  const perSecond = new Map<number, number>();
  for (const s of secs(atA)) perSecond.set(s, (perSecond.get(s) ?? 0) + 1);
  const first = Math.min(...secs(atA));
  const last = Math.max(...secs(atA));
  const busiest = Math.max(...perSecond.values());
  const collisions = (s: Side) => s.log.filter((l) => /simultaneous rekey of/.test(l));
  const redundant = (s: Side, who: RegExp) => collisions(s).filter((l) => who.test(l)).length;
  const errors = [...a.log, ...b.log].filter((l) => /^error:/.test(l));
  t.same(errors.slice(0, 5), [], 'no errors logged');
  return { t0, a, b, atA, atB, first, last, busiest, perSecond, collisions, redundant, dropped };
}

t.test('1,000 child SAs with one lifetime: rekeys spread by jitter, each once, no collision', { timeout: 120_000 }, async (t) => {
  const started = Date.now();
  const r = await storm(t, { seed: 21 });
  const firstGen = r.atA.filter((x) => x < LIFETIME * 1000 + r.t0).length;
  const mean = firstGen / Math.max(1, r.last - r.first + 1);
  t.equal(firstGen, N, `A rekeyed each of the ${N} child SAs once (${firstGen} rekey requests before the lifetime ends)`);
  t.equal(r.atB.length, 0, 'B never had to take over');
  t.ok(r.first >= LIFETIME - 2 * MARGIN - 1 && r.last <= LIFETIME - MARGIN, `rekeys between ${r.first} s and ${r.last} s after installation (window ${LIFETIME - 2 * MARGIN}..${LIFETIME - MARGIN} s)`);
  t.ok(r.perSecond.size >= MARGIN * 0.9, `spread over ${r.perSecond.size} distinct seconds of the ${MARGIN} s window`);
  t.ok(r.busiest <= 4 * mean, `the busiest second had ${r.busiest} rekeys (mean ${mean.toFixed(1)}; a convoy would be ${N})`);
  t.equal(r.collisions(r.a).length + r.collisions(r.b).length, 0, 'no collision');
  checkConsistent(t, r.a, r.b, 'after the storm');
  t.comment(`${N} rekeys over ${r.last - r.first + 1} s, busiest second ${r.busiest}; ${((Date.now() - started) / 1000).toFixed(1)} s wall time`);
});

t.test('an outage across the takeover point: collisions, each resolved the same way on both sides', { timeout: 120_000 }, async (t) => {
  const started = Date.now();
  // A rekeys at 360..480 s, B takes over at 540 s: everything A starts after 465 s is still
  // retransmitting at 540 s (2, 6, 14, 30, 62 s after its first send), and B starts its own.
  const outage = { from: 465, to: 541 };
  const r = await storm(t, { seed: 31, outage });
  const ca = r.collisions(r.a);
  const cb = r.collisions(r.b);
  t.ok(ca.length > 0, `collisions happened: A saw ${ca.length}, B saw ${cb.length} (B took over ${r.atB.length} rekeys; ${r.dropped} datagrams lost in the outage)`);
  t.equal(ca.length, cb.length, 'both sides saw every collision');
  // Per collision the side whose exchange lost calls its own "ours is redundant", the other "the peer's".
  const key = (l: string) => / (c\d+)\[/.exec(l)?.[1] ?? '?';
  const verdict = (ls: string[]) => new Map(ls.map((l) => [key(l), /ours is redundant/.test(l) ? 'ours' : 'theirs']));
  const [va, vb] = [verdict(ca), verdict(cb)];
  const disagree = [...va].filter(([k, v]) => vb.get(k) === v || !vb.has(k)).map(([k]) => k);
  t.same(disagree, [], 'for every collision exactly one side deletes its own child (the same verdict from both ends, RFC 7296 §2.8.1)');
  t.comment(`collisions: ${ca.length}; A's exchange redundant in ${r.redundant(r.a, /ours is redundant/)}, B's in ${r.redundant(r.b, /ours is redundant/)}`);
  checkConsistent(t, r.a, r.b, 'after the storm and the outage');
  t.comment(`${((Date.now() - started) / 1000).toFixed(1)} s wall time`);
});
