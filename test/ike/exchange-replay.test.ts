/**
 * Only a bitwise retransmission of the last request gets the cached answer again (RFC 7296 §2.1:
 * "A retransmission from the initiator MUST be bitwise identical to the original request").
 * Before, any message with that message ID and the right IKE SPIs did, unauthenticated: a 28-byte
 * forged header made the responder send its cached IKE_AUTH answer (~200 bytes) to the peer,
 * once per forged packet. Found by test/attack/replay.test.ts against `keyline run`.
 */
import t from 'tap';
import { ExchangeWindow } from '../../src/ike/exchange.js';
import { FakeClock } from '../../src/util/clock.js';
import { ADDR_B, ikePair, states } from './agents.js';

const bytes = (s: string) => new Uint8Array(Buffer.from(s));

t.test('the window: the cached answer only for the same bytes', async (t) => {
  const sent: string[] = [];
  const w = new ExchangeWindow(new FakeClock(), { send: (b) => sent.push(Buffer.from(b).toString()), onGiveUp: () => {} }, { ours: 0, theirs: 1 });
  const request = bytes('request 1');
  t.equal(w.requestIn(1, request), 'process');
  request.fill(0); // the window keeps its own copy
  w.respond(1, bytes('answer 1'));
  t.equal(w.requestIn(1, bytes('request 1')), 'resent', 'a bitwise retransmission');
  t.equal(w.requestIn(1, bytes('request 1 with other bytes')), 'drop-mismatch', 'same ID, other bytes');
  t.equal(w.requestIn(1, bytes('request X')), 'drop-mismatch', 'same length, other bytes');
  t.same(sent, ['answer 1', 'answer 1'], 'answered again once');
  t.equal(w.counters.dropped, 2);
  // A forged message with the expected ID (it fails authentication later) is not the cache's key.
  t.equal(w.requestIn(2, bytes('forged 2')), 'process');
  t.equal(w.requestIn(2, bytes('request 2')), 'process');
  w.respond(2, bytes('answer 2'));
  t.equal(w.requestIn(2, bytes('forged 2')), 'drop-mismatch');
  t.equal(w.requestIn(2, bytes('request 2')), 'resent');
});

/** IKE_AUTH after the non-ESP marker (exchange type: byte 18 of the IKE header). */
const isAuth = (d: Uint8Array) => d.length > 32 && d[0] === 0 && d[1] === 0 && d[2] === 0 && d[3] === 0 && d[4 + 18] === 35;

t.test('the engine: a forged message with the last request ID gets no answer; a replay gets the cached one, counted', async (t) => {
  const toB: Uint8Array[] = [];
  const toA: Uint8Array[] = [];
  const p = await ikePair({ fault: (d, _from, to) => ((to.addr === ADDR_B ? toB : toA).push(d), [d]) });
  t.teardown(() => p.stop());
  const authRequest = toB.find(isAuth)!;
  const answersBefore = toA.length;
  const from = { addr: '192.0.2.1', port: 4500 };
  const to = { addr: ADDR_B, port: 4500 };
  // HDR(IKE_AUTH, ID 1) with nothing after it, and the real one with its last byte changed.
  const header = authRequest.slice(0, 4 + 28);
  header[4 + 16] = 0; // no payloads
  new DataView(header.buffer).setUint32(4 + 24, 28);
  const flipped = authRequest.slice();
  flipped[flipped.length - 1]! ^= 1;
  p.net.carry(header, from, to);
  p.net.carry(flipped, from, to);
  await p.settle();
  const drops = p.b.agent.ike.drops.byReason;
  t.equal(drops['ike-drop-mismatch'], 2, 'both counted as not a retransmission');
  t.equal(toA.length, answersBefore, 'B sent nothing');
  p.net.carry(authRequest, from, to);
  await p.settle();
  t.equal(drops['ike-resent'], 1, 'the replayed request: counted');
  t.equal(toA.length, answersBefore + 1, 'and answered from the cache, once');
  t.same(states(p.b), ['established'], 'B unchanged');
  t.ok(await p.ping('a'));
});
