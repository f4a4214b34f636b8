import t from 'tap';
import { ReplayWindow } from '../../src/esp/replay.js';

/** Receive in the order given; return which were accepted. */
function feed(w: ReplayWindow, seqs: number[]): boolean[] {
  return seqs.map((s) => {
    if (!w.check(s)) return false;
    w.commit(s);
    return true;
  });
}

t.test('in order, duplicates and sequence number 0', async (t) => {
  const w = new ReplayWindow(64);
  t.same(feed(w, [1, 2, 3, 3, 2, 0]), [true, true, true, false, false, false]);
});

t.test('reordering inside the window is accepted once; older than the window is not', async (t) => {
  const w = new ReplayWindow(64);
  t.same(feed(w, [100, 50, 37, 36, 50, 99, 101]), [true, true, true, false, false, true, true]);
  // 101 - 64 = 37 is the oldest still inside; 37 was taken, 38 is fresh
  t.same(feed(w, [38, 37]), [true, false]);
});

t.test('a big jump clears the whole ring', async (t) => {
  const w = new ReplayWindow(128);
  feed(w, [1, 2, 3, 64, 65, 127]);
  t.same(feed(w, [10_000, 9_990, 9_990, 9_873, 9_872]), [true, true, false, true, false]);
});

t.test('check does not change state: only commit does', async (t) => {
  const w = new ReplayWindow(64);
  t.ok(w.check(5));
  t.ok(w.check(5));
  t.equal(w.highest, 0);
  w.commit(5);
  t.notOk(w.check(5));
});

t.test('window sizes 32..4096 behave at their edges', async (t) => {
  for (const size of [32, 64, 100, 1024, 4096]) {
    const w = new ReplayWindow(size);
    const top = 50_000;
    feed(w, [top]);
    t.ok(w.check(top - size + 1), `${size}: oldest in-window accepted`);
    t.notOk(w.check(top - size), `${size}: just outside rejected`);
  }
  t.throws(() => new ReplayWindow(4097), RangeError, 'cap on the window size');
});

t.test('window 0 turns replay protection off but keeps counting', async (t) => {
  const w = new ReplayWindow(0);
  t.same(feed(w, [5, 5, 1]), [true, true, true]);
  t.notOk(w.check(0));
});

t.test('ESN: the high half is inferred across the 2^32 boundary (RFC 4303 A.2.2)', async (t) => {
  const w = new ReplayWindow(64);
  const B = 0x1_0000_0000;
  feed(w, [B - 10]);
  t.equal(w.infer(B - 11 >>> 0, true), B - 11, 'just below top, same block');
  t.equal(w.infer(5, true), B + 5, 'small low half after the top: next block');
  feed(w, [B + 5]);
  t.equal(w.infer((B - 3) >>> 0, true), B - 3, 'window straddles: large low half is the previous block');
  t.equal(w.infer(6, true), B + 6);
  t.equal(w.infer(7, false), 7, 'without ESN the high half is 0');
  t.same(feed(w, [B - 3, B - 3, B + 6]), [true, false, true]);
});

t.test('ESN with anti-replay off: a sender that restarted at 1 is not pushed into the next block', async (t) => {
  const w = new ReplayWindow(0);
  w.commit(1000);
  t.equal(w.infer(1, true), 1, 'restart: same block');
  const B = 0x1_0000_0000;
  w.commit(B - 5);
  t.equal(w.infer(3, true), B + 3, 'a real wrap still moves to the next block');
});
