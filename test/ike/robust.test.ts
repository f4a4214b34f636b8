/**
 * The IKE engine under loss, duplication, replay, forgery, load and collisions, two agents in one
 * process with a fake clock (test/ike/agents.ts).
 */
import t, { type Test } from 'tap';
import { parseIkeProposals } from '../../src/ike/proposals.js';
import { startChildRekey } from '../../src/ike/tasks/child.js';
import { buildInit } from '../interop/initiator.js';
import { KE } from '../../src/wire/iana.js';
import { EXCHANGE, FLAG, NOTIFY } from '../../src/ike/constants.js';
import { encodeMessage, encodePayload } from '../../src/ike/message.js';
import { notifyPayload } from '../../src/ike/tasks/init.js';
import { IKE_TIMERS } from '../../src/limits.js';
import type { Endpoint } from '../../src/sa/types.js';
import { ADDR_B, childCount, ikePair, states, type Pair } from './agents.js';

const IKE_EXCHANGE_AT = 4 + 18; // after the non-ESP marker: byte 18 of the IKE header
const isIke = (d: Uint8Array) => d.length > 28 && d[0] === 0 && d[1] === 0 && d[2] === 0 && d[3] === 0;
const isPlainIke = (d: Uint8Array) => d.length >= 28 && d[17] === 0x20;

function bothUp(t: Test, p: Pair, what: string): void {
  t.same(states(p.a), ['established'], `${what}: A established`);
  t.same(states(p.b), ['established'], `${what}: B established`);
  t.equal(childCount(p.a), 1, `${what}: A one child`);
  t.equal(childCount(p.b), 1, `${what}: B one child`);
}

t.test('loss of each message of IKE_SA_INIT and IKE_AUTH: retransmission recovers', async (t) => {
  for (let k = 0; k < 4; k++) {
    let n = 0;
    const p = await ikePair({ fault: (d) => (isIke(d) || isPlainIke(d) ? (n++ === k ? [] : [d]) : [d]) });
    await p.advance(10_000);
    bothUp(t, p, `message ${k} lost`);
    t.ok(await p.ping('a'), `message ${k} lost: traffic`);
    await p.stop();
  }
});

t.test('every IKE datagram duplicated: each request processed once', async (t) => {
  const p = await ikePair({ fault: (d) => [d, d] });
  t.teardown(() => p.stop());
  bothUp(t, p, 'duplicated');
  t.ok(p.b.agent.ike.sas()[0]!.window.counters.resent >= 1, 'B re-sent its cached response for the duplicate');
  t.ok(await p.ping('a'));
});

t.test('a replayed old request and a forged one change nothing', async (t) => {
  const seen: Uint8Array[] = [];
  const p = await ikePair({ fault: (d, _from, to) => (to.addr === ADDR_B && isIke(d) && seen.push(d), [d]) });
  t.teardown(() => p.stop());
  const before = { a: states(p.a), b: states(p.b), children: childCount(p.b) };
  const [initRequest, authRequest] = seen as [Uint8Array, Uint8Array];
  p.net.carry(initRequest, { addr: '192.0.2.1', port: 4500 }, { addr: ADDR_B, port: 4500 });
  p.net.carry(authRequest, { addr: '192.0.2.1', port: 4500 }, { addr: ADDR_B, port: 4500 });
  // Forged INFORMATIONAL DELETE: right SPIs and next message ID, garbage where SK should verify.
  const forged = authRequest.slice();
  forged[IKE_EXCHANGE_AT] = 37;
  forged[4 + 23] = 2; // message ID 2
  forged[forged.length - 1]! ^= 0xff;
  p.net.carry(forged, { addr: '192.0.2.1', port: 4500 }, { addr: ADDR_B, port: 4500 });
  await p.settle();
  t.same({ a: states(p.a), b: states(p.b), children: childCount(p.b) }, before, 'no state change');
  const drops = p.b.agent.ike.drops.byReason;
  t.equal(drops['ike-init-replay'], 1, 'replayed IKE_SA_INIT recognised');
  t.ok((p.b.agent.ike.sas()[0]!.window.counters.resent ?? 0) >= 1, 'replayed IKE_AUTH answered from the cache, not processed');
  t.equal(drops['ike-auth'], 1, 'forgery counted');
  t.ok(await p.ping('a'));
});

t.test('INVALID_KE_PAYLOAD: the initiator retries with the group the responder wants', async (t) => {
  const p = await ikePair({
    a: { ike: parseIkeProposals('aes256gcm16-prfsha256-x25519,aes256gcm16-prfsha256-modp2048') },
    b: { ike: parseIkeProposals('aes256gcm16-prfsha256-modp2048') },
  });
  t.teardown(() => p.stop());
  bothUp(t, p, 'after INVALID_KE');
  t.ok(p.a.log.some((l) => /wants key exchange/.test(l)), 'A saw INVALID_KE_PAYLOAD');
  t.equal(p.a.agent.ike.sas()[0]!.proposal!.group, KE.MODP_2048);
});

t.test('no common proposal: refused, nothing kept, retried later', async (t) => {
  const p = await ikePair({ b: { ike: parseIkeProposals('aes128-sha256-modp2048') } });
  t.teardown(() => p.stop());
  t.same(states(p.a), ['connecting'], 'A still waits for a better answer');
  t.same(states(p.b), [], 'B kept nothing');
  // The refusal is unauthenticated: A waits a little for a better answer before giving up.
  t.ok(p.a.log.some((l) => /unauthenticated IKE_SA_INIT answer \(peer answered NO_PROPOSAL_CHOSEN\)/.test(l)));
  await p.advance(IKE_TIMERS.initErrorWaitMs);
  t.same(states(p.a), []);
  t.same(states(p.b), []);
  t.ok(p.a.log.some((l) => /IKE_SA_INIT failed: peer answered NO_PROPOSAL_CHOSEN/.test(l)));
  t.ok(p.a.log.some((l) => /retrying in/.test(l)));
});

t.test('a forged refusal of IKE_SA_INIT that beats the real answer does not stop the set-up', async (t) => {
  const p = await ikePair({ a: { start: 'wait' } });
  t.teardown(() => p.stop());
  let forged = 0;
  p.net.fault = (d, from, to) => {
    const at = d[0] === 0 && d[1] === 0 && d[2] === 0 && d[3] === 0 ? 4 : 0; // non-ESP marker on 4500
    const request = to.addr === ADDR_B && d.length > at + 28 && d[at + 18] === EXCHANGE.IKE_SA_INIT && (d[at + 19]! & FLAG.R) === 0;
    if (request && forged++ === 0) {
      const spiI = new DataView(d.buffer, d.byteOffset + at).getBigUint64(0);
      const refusal = encodeMessage(
        { spiI, spiR: 0n, major: 2, minor: 0, exchange: EXCHANGE.IKE_SA_INIT, flags: FLAG.R, messageId: 0 },
        [encodePayload(notifyPayload(NOTIFY.NO_PROPOSAL_CHOSEN))],
      );
      // Sent "from B" before B's real answer leaves: it reaches A first.
      p.net.carry(at ? Uint8Array.of(0, 0, 0, 0, ...refusal) : refusal, to, from);
    }
    return [d];
  };
  p.a.agent.ike.up('gw-b');
  await p.settle();
  t.equal(forged, 1, 'one refusal forged');
  bothUp(t, p, 'despite the forged refusal');
  t.equal(p.a.agent.ike.drops.byReason['ike-init-unusable-answer'], 1, 'the forged answer counted');
  await p.advance(IKE_TIMERS.initErrorWaitMs * 2);
  bothUp(t, p, 'after the wait ran out');
  t.notOk(p.a.log.some((l) => /IKE_SA_INIT failed/.test(l)), 'the attempt never failed');
});

t.test('wrong PSK: AUTHENTICATION_FAILED, no SA on either side', async (t) => {
  const p = await ikePair({ b: { psk: new TextEncoder().encode('another key, also long enough') } });
  t.teardown(() => p.stop());
  t.same(states(p.a), []);
  t.same(states(p.b), []);
  t.ok(p.b.log.some((l) => /authentication failed/.test(l)));
  t.ok(p.a.log.some((l) => /AUTHENTICATION_FAILED/.test(l)));
});

/** IKE_SA_INIT requests from spoofed addresses (the responder must accept any address). */
function flood(p: Pair, count: number, echoCookies: boolean): void {
  for (let i = 0; i < count; i++) {
    const from: Endpoint = { addr: `192.0.2.${100 + (i % 100)}`, port: 1000 + i };
    const init = buildInit([KE.CURVE25519], KE.CURVE25519);
    const sock = p.net.attach(from);
    sock.onDatagram((d) => {
      const cookie = cookieOf(d);
      if (echoCookies && cookie) sock.send(withCookie(init.message, cookie), { addr: ADDR_B, port: 500 });
    });
    sock.send(init.message, { addr: ADDR_B, port: 500 });
  }
}

/** The COOKIE notify data of a stateless answer (a single N payload), if that is what it is. */
function cookieOf(d: Uint8Array): Uint8Array | undefined {
  if (d.length < 36 || d[16] !== 41) return undefined;
  const type = (d[28 + 6]! << 8) | d[28 + 7]!;
  return type === 16390 ? d.subarray(28 + 8) : undefined;
}

/** The same request with N(COOKIE) in front (RFC 7296 §2.6). */
function withCookie(msg: Uint8Array, cookie: Uint8Array): Uint8Array {
  const n = new Uint8Array(8 + cookie.length);
  n[0] = msg[16]!; // next payload: what used to be first
  n[2] = (n.length >> 8) & 0xff;
  n[3] = n.length & 0xff;
  n[7] = 16390 & 0xff;
  n[6] = 16390 >> 8;
  n.set(cookie, 8);
  const out = new Uint8Array(msg.length + n.length);
  out.set(msg.subarray(0, 28));
  out[16] = 41;
  out.set(n, 28);
  out.set(msg.subarray(28), 28 + n.length);
  new DataView(out.buffer).setUint32(24, out.length);
  return out;
}

t.test('cookies switch on under a flood, and a legitimate peer still gets in', async (t) => {
  const p = await ikePair({ a: { start: 'wait' }, b: { remote: undefined }, limits: { cookieThreshold: 8 } });
  t.teardown(() => p.stop());
  flood(p, 40, false);
  await p.settle();
  const eng = p.b.agent.ike;
  t.equal(eng.halfOpenCount, 8, 'half-open stops at the cookie threshold');
  t.ok((eng.drops.byReason['ike-cookie-sent'] ?? 0) >= 32, 'the rest got cookies, statelessly');
  p.a.agent.ike.initiate(p.a.agent.ike.sas()[0]?.peer ?? p.a.agent.ike.deps.peers[0]!);
  await p.settle();
  t.ok(p.a.log.some((l) => /demands a cookie/.test(l)), 'A was asked for a cookie');
  t.ok(p.a.agent.ike.sas().some((s) => s.fsm.is('established')), 'A established during the flood');
  t.ok(await p.ping('a'));
});

t.test('the half-open cap holds against a flood that returns cookies; the oldest make room, so a real peer gets in', async (t) => {
  const p = await ikePair({ a: { start: 'wait' }, b: { remote: undefined }, limits: { cookieThreshold: 4, halfOpenMax: 20 } });
  t.teardown(() => p.stop());
  flood(p, 60, true);
  await p.settle();
  const eng = p.b.agent.ike;
  t.equal(eng.halfOpenCount, 20, 'capped');
  t.equal(eng.halfOpenPeak, 20, 'never above the cap');
  t.equal(eng.drops.byReason['half-open-evicted'], 40, 'each one past the cap evicted the oldest, counted');
  t.equal(eng.sas().length, 20, 'the evicted SAs are gone');
  // The table is full of the attacker's SAs; a real peer's IKE_SA_INIT evicts one and gets in.
  p.a.agent.ike.up('gw-b');
  await p.settle();
  t.ok(p.a.agent.ike.sas().some((s) => s.fsm.is('established')), 'A established with the table full');
  t.ok(await p.ping('a'));
  // Half-open SAs time out, and are counted when they do.
  await p.advance(31_000);
  t.equal(eng.halfOpenCount, 0, 'half-open SAs expired');
  t.equal(eng.drops.byReason['half-open-expired'], 19, 'expiries counted');
  const lines = p.b.log.filter((l) => /IKE SA closed \(IKE_AUTH did not arrive\)/.test(l));
  t.equal(lines.length, 1, 'logged once: they all expired within a second (the count says how many)');
});

t.test('the IKE SA cap holds', async (t) => {
  const p = await ikePair({ a: { start: 'wait' }, b: { remote: undefined }, limits: { ikeSaMax: 10 } });
  t.teardown(() => p.stop());
  flood(p, 15, false);
  await p.settle();
  t.equal(p.b.agent.ike.sas().length, 10);
  t.equal(p.b.agent.ike.drops.byReason['ike-sa-cap'], 5);
});

t.test('simultaneous child rekey: one redundant child is deleted by its initiator, both outcomes', async (t) => {
  const outcomes = new Set<string>();
  for (let seed = 1; seed <= 12 && outcomes.size < 2; seed++) {
    const p = await ikePair({ seed: seed * 7 });
    // Hold every datagram so both requests cross on the wire, then release them.
    const held: [Uint8Array, Endpoint, Endpoint][] = [];
    p.net.fault = (d, from, to) => (held.push([d, from, to]), []);
    const sa = (s: typeof p.a) => s.agent.ike.sas()[0]!;
    startChildRekey(p.a.agent.ike, sa(p.a), sa(p.a).children[0]!);
    startChildRekey(p.b.agent.ike, sa(p.b), sa(p.b).children[0]!);
    await p.settle();
    p.net.fault = undefined;
    for (const [d, from, to] of held.splice(0)) p.net.carry(d, from, to);
    await p.settle();
    await p.advance(5_000);
    const loserA = p.a.log.some((l) => /simultaneous rekey.*: ours is redundant/.test(l));
    const loserB = p.b.log.some((l) => /simultaneous rekey.*: ours is redundant/.test(l));
    t.ok(loserA !== loserB, `seed ${seed}: exactly one side's rekey lost`);
    outcomes.add(loserA ? 'A lost' : 'B lost');
    t.equal(childCount(p.a), 1, `seed ${seed}: A ends with one child`);
    t.equal(childCount(p.b), 1, `seed ${seed}: B ends with one child`);
    const ca = sa(p.a).children[0]!;
    const cb = sa(p.b).children[0]!;
    t.same([ca.spiIn, ca.spiOut], [cb.spiOut, cb.spiIn], `seed ${seed}: the same child on both sides`);
    t.ok(await p.ping('a'), `seed ${seed}: traffic`);
    await p.stop();
  }
  t.same([...outcomes].sort(), ['A lost', 'B lost'], 'both outcomes seen');
});

t.test('rekeys survive a lost request and a lost response', async (t) => {
  for (const which of ['request', 'response'] as const) {
    const o = { childLifetime: 120, rekeyMargin: 30 };
    const p = await ikePair({ a: o, b: o });
    let armed = true;
    p.net.fault = (d, from) => {
      const fromB = from.addr === ADDR_B;
      if (armed && isIke(d) && d[IKE_EXCHANGE_AT] === 36 && fromB === (which === 'response')) {
        armed = false;
        return [];
      }
      return [d];
    };
    await p.advance(110_000);
    t.notOk(armed, `${which} was dropped`);
    t.equal(childCount(p.a), 1, `${which} lost: one child at A`);
    t.equal(childCount(p.b), 1, `${which} lost: one child at B`);
    t.ok(p.a.events.some((e) => e.type === 'child-up' && e.rekey), `${which} lost: rekeyed`);
    t.ok(await p.ping('a'));
    await p.stop();
  }
});

t.test('NAT rebinding: A appears from a new port; IKE and ESP follow it, both ways', async (t) => {
  const p = await ikePair({ a: { dpd: 10 }, b: { dpd: 10 } });
  t.teardown(() => p.stop());
  const A = { addr: '192.0.2.1', port: 4500 };
  const NAT = { addr: '192.0.2.1', port: 45000 };
  const B = { addr: ADDR_B, port: 4500 };
  // The NAT's new mapping: A's packets to B now leave from 45000; what B sends there reaches A.
  const mapped = p.net.attach(NAT);
  mapped.onDatagram((d, from) => p.net.carry(d, from, A));
  p.net.fault = (d, from, to) => {
    if (from.port === A.port && from.addr === A.addr && to.addr === B.addr) {
      p.net.carry(d, NAT, to);
      return [];
    }
    return [d];
  };
  t.ok(await p.ping('a'), 'A -> B through the new mapping');
  t.ok(await p.ping('b'), 'B -> A: ESP followed the authenticated packet to the new port');
  await p.advance(25_000, 5_000); // liveness checks both ways
  const sa = p.b.agent.ike.sas()[0]!;
  t.same(sa.remote, NAT, "B's IKE SA talks to the new mapping");
  t.same(states(p.a), ['established']);
  t.same(states(p.b), ['established']);
  t.ok(await p.ping('b'), 'still flowing');
});
