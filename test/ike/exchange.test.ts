import t from 'tap';
import { ExchangeWindow } from '../../src/ike/exchange.js';
import type { RetransmitTiming } from '../../src/ike/peer.js';
import { ADDR_B, ikePair } from './agents.js';
import { FakeClock } from '../../src/util/clock.js';

function setup(first = { ours: 0, theirs: 0 }, timing?: RetransmitTiming) {
  const clock = new FakeClock();
  const sent: string[] = [];
  const gaveUp: number[] = [];
  const w = new ExchangeWindow(clock, { send: (b) => sent.push(Buffer.from(b).toString()), onGiveUp: (id) => gaveUp.push(id), ...(timing && { timing: () => timing }) }, first);
  return { clock, sent, gaveUp, w };
}

/** Seconds at which `msg` went out again, and at which the window gave up, over `forS` seconds. */
function schedule(timing: RetransmitTiming | undefined, forS: number) {
  const { w, sent, clock, gaveUp } = setup(undefined, timing);
  w.request(msg('INFO'));
  const at: number[] = [];
  let gaveUpAt: number | undefined;
  for (let s = 0; s <= forS; s++) {
    const before = sent.length;
    clock.advance(1000);
    if (sent.length > before) at.push(clock.now() / 1000);
    if (gaveUp.length && gaveUpAt === undefined) gaveUpAt = clock.now() / 1000;
  }
  return { at, gaveUpAt, w };
}
const msg = (s: string) => (id: number) => new Uint8Array(Buffer.from(`${s}#${id}`));

t.test('window size 1: requests go out one at a time with increasing message IDs', async (t) => {
  const { w, sent } = setup();
  w.request(msg('INIT'));
  w.request(msg('AUTH'));
  t.same(sent, ['INIT#0'], 'the second waits for the window');
  t.ok(w.busy);
  t.notOk(w.response(1), 'a response for another ID does not free the window');
  t.ok(w.response(0));
  t.same(sent, ['INIT#0', 'AUTH#1']);
  t.ok(w.response(1));
  t.notOk(w.busy);
  t.notOk(w.response(1), 'a duplicated response is dropped');
  t.equal(w.counters.dropped, 2);
});

t.test('retransmission only on timeout, doubling, then give up', async (t) => {
  const { w, sent, clock, gaveUp } = setup();
  w.request(msg('INFO'));
  const at: number[] = [];
  for (let s = 0; s <= 130; s++) {
    const before = sent.length;
    clock.advance(1000);
    if (sent.length > before) at.push(clock.now() / 1000);
  }
  t.same(at, [2, 6, 14, 30, 62], 'retransmissions at 2, 6, 14, 30, 62 s');
  t.same(gaveUp, [0], 'gave up once, at 126 s');
  t.equal(w.counters.retransmits, 5);
  t.notOk(w.busy);
});

t.test("the peer's retransmit-timeout and retransmit-tries set the schedule; no wait is over 64 s", async (t) => {
  const quick = schedule({ firstMs: 1000, tries: 2 }, 20);
  t.same([quick.at, quick.gaveUpAt], [[1, 3], 7], 'retransmit-timeout=1s retransmit-tries=2: at 1 and 3 s, given up at 7 s');
  const none = schedule({ firstMs: 5000, tries: 0 }, 20);
  t.same([none.at, none.gaveUpAt], [[], 5], 'retransmit-tries=0: never sent again, given up after the first wait');
  const long = schedule({ firstMs: 60_000, tries: 10 }, 800);
  t.same(long.at, [60, 124, 188, 252, 316, 380, 444, 508, 572, 636], 'retransmit-timeout=1m retransmit-tries=10: 60 s, then every 64 s');
  t.equal(long.gaveUpAt, 700, 'given up 64 s after the last');
  t.same(schedule(undefined, 130).at, [2, 6, 14, 30, 62], 'without settings: the defaults');
});

t.test('an answered request is never retransmitted', async (t) => {
  const { w, sent, clock } = setup();
  w.request(msg('X'));
  clock.advance(1500);
  w.response(0);
  clock.advance(200_000);
  t.same(sent, ['X#0']);
});

t.test('their requests: processed once, retransmissions get the cached response', async (t) => {
  const { w, sent } = setup({ ours: 1, theirs: 1 });
  t.equal(w.requestIn(1), 'process');
  w.respond(1, new Uint8Array(Buffer.from('resp1')));
  t.equal(w.requestIn(1), 'resent', 'a retransmitted request is answered from the cache');
  t.same(sent, ['resp1', 'resp1']);
  t.equal(w.requestIn(0), 'drop-old');
  t.equal(w.requestIn(5), 'drop-future');
  t.equal(w.requestIn(2), 'process');
  t.throws(() => w.respond(3, new Uint8Array(1)), { code: 'IKE_RESPONSE_ID' });
});

t.test('message IDs are never reused, and the queue is capped', async (t) => {
  const { w } = setup({ ours: 0xffff_ffff, theirs: 0 });
  w.request(msg('last'));
  w.response(0xffff_ffff);
  t.throws(() => w.request(msg('one too many')), { code: 'IKE_MSGID_EXHAUSTED' });
  const fresh = setup();
  fresh.w.request(msg('a'));
  for (let i = 0; i < 32; i++) fresh.w.request(msg('q'));
  t.throws(() => fresh.w.request(msg('q')), { code: 'IKE_QUEUE_FULL' });
});

t.test('close stops every timer', async (t) => {
  const { w, clock, sent, gaveUp } = setup();
  w.request(msg('X'));
  w.close();
  clock.advance(300_000);
  t.same(sent, ['X#0']);
  t.same(gaveUp, []);
});

t.test('agents: a peer with retransmit-timeout=1s retransmit-tries=1 gives up on a silent responder after 3 s', async (t) => {
  const sent: Uint8Array[] = [];
  const p = await ikePair({ a: { retransmit: { firstMs: 1000, tries: 1 } }, fault: (d, _from, to) => (to.addr === ADDR_B ? (sent.push(d.slice()), []) : [d]) });
  const spiI = (d: Uint8Array) => Buffer.from(d.subarray(4, 12)).toString('hex'); // after the non-ESP marker
  t.teardown(() => p.stop());
  t.equal(sent.length, 1, 'IKE_SA_INIT sent');
  await p.advance(1_000, 100);
  t.equal(sent.length, 2, 'sent again after 1 s');
  t.equal(spiI(sent[1]!), spiI(sent[0]!), 'the same request');
  await p.advance(1_900, 100);
  t.notOk(p.a.log.some((l) => /no answer/.test(l)), 'still waiting at 2.9 s');
  await p.advance(200, 100);
  t.ok(p.a.log.some((l) => /no answer to message 0 after 1 retransmissions/.test(l)), 'given up at 3 s, saying after how many');
  t.equal(sent.length, 3, 'then start=initiate starts over at once');
  t.not(spiI(sent[2]!), spiI(sent[0]!), 'with a new IKE SA, not a third transmission of the old request');
});
