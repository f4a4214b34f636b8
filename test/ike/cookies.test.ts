import t from 'tap';
import { CookieJar, cookiesRequired } from '../../src/ike/cookies.js';
import { FakeClock } from '../../src/util/clock.js';
import { IKE_LIMITS } from '../../src/limits.js';

const ni = new Uint8Array(32).fill(7);

t.test('a cookie checks only for the initiator it was made for', async (t) => {
  const jar = new CookieJar(new FakeClock());
  const c = jar.make(ni, '192.0.2.1', 0x1122334455667788n);
  t.equal(c.length, 33);
  t.ok(jar.check(c, ni, '192.0.2.1', 0x1122334455667788n));
  t.notOk(jar.check(c, ni, '192.0.2.99', 0x1122334455667788n), 'another address');
  t.notOk(jar.check(c, ni, '192.0.2.1', 0x1122334455667789n), 'another SPI');
  t.notOk(jar.check(c, new Uint8Array(32), '192.0.2.1', 0x1122334455667788n), 'another nonce');
  const bad = c.slice();
  bad[10]! ^= 1;
  t.notOk(jar.check(bad, ni, '192.0.2.1', 0x1122334455667788n), 'a forged cookie');
  t.notOk(jar.check(new Uint8Array(0), ni, '192.0.2.1', 0x1122334455667788n), 'empty');
});

t.test('secrets rotate; the previous one is still honoured, older ones are not', async (t) => {
  const clock = new FakeClock();
  const jar = new CookieJar(clock);
  const c = jar.make(ni, '192.0.2.1', 1n);
  clock.advance(IKE_LIMITS.cookieSecretMs);
  t.ok(jar.check(c, ni, '192.0.2.1', 1n), 'made just before a rotation');
  t.not(jar.make(ni, '192.0.2.1', 1n)[0], c[0], 'new cookies carry the new version');
  clock.advance(IKE_LIMITS.cookieSecretMs);
  t.notOk(jar.check(c, ni, '192.0.2.1', 1n), 'two rotations later it is stale');
});

t.test('cookies are demanded once half-open SAs reach the threshold', async (t) => {
  t.notOk(cookiesRequired(IKE_LIMITS.cookieThreshold - 1));
  t.ok(cookiesRequired(IKE_LIMITS.cookieThreshold));
});
