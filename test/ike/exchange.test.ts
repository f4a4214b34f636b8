import t from 'tap';
import { ExchangeWindow } from '../../src/ike/exchange.js';
import { FakeClock } from '../../src/util/clock.js';

function setup(first = { ours: 0, theirs: 0 }) {
  const clock = new FakeClock();
  const sent: string[] = [];
  const gaveUp: number[] = [];
  const w = new ExchangeWindow(clock, { send: (b) => sent.push(Buffer.from(b).toString()), onGiveUp: (id) => gaveUp.push(id) }, first);
  return { clock, sent, gaveUp, w };
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
