/** TimerBook (src/control/timers.ts): rekey times for `keyline show`, bounded by pending timers. */
import t from 'tap';
import { TimerBook, timerKey } from '../../src/control/timers.js';
import { FakeClock } from '../../src/util/clock.js';

t.test('records rekey timers by their last two words; forgets them when fired or cancelled', async (t) => {
  const clock = new FakeClock();
  const book = new TimerBook(clock);
  let fired = 0;
  book.after(5000, 'gw-b[0011_2233] ike-rekey', () => fired++);
  const child = book.after(3000, 'gw-b[0011_2233] 0x0000abcd child-rekey', () => fired++);
  book.after(1000, 'gw-b[0011_2233] dpd', () => fired++);
  t.equal(timerKey('gw-b[0011_2233] 0x0000abcd child-rekey'), '0x0000abcd child-rekey');
  t.equal(book.dueAt('gw-b[0011_2233] ike-rekey'), 5000);
  t.equal(book.dueAt('0x0000abcd child-rekey'), 3000, 'a child is found by its SPI, whichever IKE SA it moved to');
  t.equal(book.dueAt('gw-b[0011_2233] dpd'), undefined, 'other timers are not recorded');
  t.equal(book.size, 2);
  child.cancel();
  t.equal(book.dueAt('0x0000abcd child-rekey'), undefined, 'cancelled');
  clock.advance(5000);
  t.equal(fired, 2, 'dpd and ike-rekey fired, the cancelled one did not');
  t.equal(book.size, 0, 'nothing left once they fired');
  t.same(clock.pending(), [], 'the inner clock has nothing either');
});

t.test('a timer re-armed under the same key: the newer one counts, the older one cannot erase it', async (t) => {
  const clock = new FakeClock();
  const book = new TimerBook(clock);
  const first = book.after(1000, 'x[1_2] ike-rekey', () => {});
  book.after(9000, 'x[1_2] ike-rekey', () => {});
  t.equal(book.dueAt('x[1_2] ike-rekey'), 9000);
  first.cancel();
  t.equal(book.dueAt('x[1_2] ike-rekey'), 9000);
  t.equal(book.now(), 0);
});
