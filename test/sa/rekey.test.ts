import t from 'tap';
import { planRekey, collisionLoser, compare } from '../../src/sa/rekey.js';

t.test('the leader rekeys between margin and 2 × margin before expiry, with jitter', async (t) => {
  t.same(planRekey(3600, 540, true, 0), { startMs: (3600 - 540) * 1000, hardMs: 3_600_000 });
  t.equal(planRekey(3600, 540, true, 1).startMs, (3600 - 1080) * 1000);
  t.equal(planRekey(3600, 540, true, 0.5).startMs, (3600 - 810) * 1000);
});

t.test('the other side takes over only at half the margin', async (t) => {
  t.equal(planRekey(3600, 540, false, 0.9).startMs, (3600 - 270) * 1000);
  for (const r of [0, 0.3, 1]) t.ok(planRekey(3600, 540, true, r).startMs < planRekey(3600, 540, false, r).startMs, 'the leader always goes first');
});

t.test('a convoy of 1,000 SAs with one lifetime spreads over the whole margin', async (t) => {
  let seed = 42;
  const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  const starts = Array.from({ length: 1000 }, () => planRekey(600, 60, true, rand()).startMs / 1000);
  const perSecond = new Map<number, number>();
  for (const s of starts) perSecond.set(Math.floor(s), (perSecond.get(Math.floor(s)) ?? 0) + 1);
  t.ok(Math.min(...starts) >= 480 && Math.max(...starts) <= 540);
  t.ok(Math.max(...perSecond.values()) < 50, `no second holds more than 5% (max ${Math.max(...perSecond.values())})`);
});

t.test('a margin longer than half the lifetime is cut to half', async (t) => {
  t.equal(planRekey(60, 100, true, 0).startMs, 30_000);
});

t.test('simultaneous rekey: the exchange with the lowest of the four nonces loses (RFC 7296 §2.8.1)', async (t) => {
  const n = (...b: number[]) => new Uint8Array(b);
  t.equal(collisionLoser({ ni: n(5, 0), nr: n(9, 9) }, { ni: n(6, 0), nr: n(7, 0) }), 'ours');
  t.equal(collisionLoser({ ni: n(8, 0), nr: n(9, 9) }, { ni: n(6, 0), nr: n(2, 0) }), 'theirs');
  t.equal(collisionLoser({ ni: n(8, 0), nr: n(1, 0) }, { ni: n(1, 1), nr: n(7, 0) }), 'ours', 'the responder nonce counts too');
  t.ok(compare(n(1, 2), n(1, 2, 0)) < 0, 'a prefix is lower');
  t.equal(compare(n(3), n(3)), 0);
});
