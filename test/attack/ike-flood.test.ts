/**
 * An IKE_SA_INIT flood against `keyline run` (the built bundle, its own process, real UDP): the
 * responder B (an `addr=any` road-warrior connection, so any address may start IKE with it)
 * gets FLOOD.rate requests per second for FLOOD.ms from FLOOD.sources address/port pairs on
 * loopback, each with its own SPI, nonce and key share (test/attack/child.ts). Meanwhile:
 *
 *   - cookies switch on (RFC 7296 §2.6) and half-open SAs stay at the cookie threshold;
 *   - B's heap and RSS stay under MEMORY_CAP (sampled from /proc and `show --json`);
 *   - every request is either handled by B (counted: cookie sent, SA made, refused) or dropped by
 *     B's kernel socket buffer (RcvbufErrors): handled + lost = sent;
 *   - a legitimate peer (agent A, `keyline up b`) establishes its IKE SA and child SA during
 *     the flood, having to return a cookie, and its tunnel carries a ping.
 *
 * Before it, requests with no acceptable proposal: refused without state, counted, and not one
 * log line each. After it, the flood from an attacker that can receive at its addresses and
 * returns every cookie: half-open SAs climb to IKE_LIMITS.halfOpenMax and no further (each new
 * one past it evicts the oldest, `half-open-evicted`), memory still under the cap, A's
 * established SA untouched.
 * Root only; never skips (test/netns/ns.ts requireNetnsTools).
 */
import t from 'tap';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { IKE_LIMITS } from '../../src/limits.js';
import { bundleMain, cleanupLeftovers, registerCleanup, requireNetnsTools } from '../netns/ns.js';
import { FLOOD, ikeFloodRun, MEMORY_CAP } from './floods.js';
import { attackWorld, childOf, ikeSaOf, procMemory } from './world.js';

const BUNDLE = resolve('dist/keyline.js');
/** The cookie-returning flood runs until half-open SAs reach their cap and a second more, at most this long. */
const ECHO_MS = 15_000;

const mb = (n: number) => `${(n / 1e6).toFixed(1)} MB`;
const perS = (n: number, ms: number) => ((n * 1000) / ms).toFixed(0);

t.test('IKE_SA_INIT flood: cookies on, half-open and memory capped, a legitimate peer gets in', async (t) => {
  requireNetnsTools();
  t.ok(existsSync(BUNDLE), `${BUNDLE} exists (npm test builds it first)`);
  await cleanupLeftovers();
  const child = await bundleMain(resolve('test/attack/child.ts'));
  registerCleanup(t, child.remove);
  const w = await attackWorld({ bundle: BUNDLE, childArgv: [process.execPath, child.file], startA: 'wait' });
  registerCleanup(t, w.close);
  const b = w.agents.b;
  const idle = await w.show('b');
  t.equal(idle.ikeLoad.halfOpenMax, IKE_LIMITS.halfOpenMax, 'the default caps are in force');
  t.comment(`idle B: heap ${mb(idle.memory.heapUsed)}, RSS ${mb(idle.memory.rss)}`);

  // ---- requests nobody could accept: refused without state, counted, not one log line each --------
  const np = await ikeFloodRun(w, { rate: FLOOD.rate, ms: 1_500, sources: 256, proposal: 'aes128gcm16-prfsha256-x25519' });
  const refused = (np.after.drops.ike['ike-no-proposal'] ?? 0) - (np.before.drops.ike['ike-no-proposal'] ?? 0);
  t.equal(refused + np.lost, np.flood.sent, `no acceptable proposal: ${refused} of ${np.flood.sent} counted (${np.lost} lost)`);
  t.equal(np.flood.answers['other'], refused, 'each answered NO_PROPOSAL_CHOSEN, statelessly');
  t.equal(np.after.ikeLoad.halfOpenPeak, 0, 'no state kept');
  const lines = b.stderr().split('\n').filter((l) => /no acceptable proposal/.test(l));
  t.ok(lines.length <= 3, `B's log: ${lines.length} lines about it, not one per request (${lines.slice(-1)[0] ?? ''})`);

  // ---- the flood from addresses that never answer -------------------------------------------------
  // HDR, SAi1, KEi, Ni -->  <-- HDR, N(COOKIE);  HDR, N(COOKIE), SAi1, KEi, Ni -->  <-- HDR, SAr1, KEr, Nr;  IKE_AUTH
  const r = await ikeFloodRun(w, { ...FLOOD, legitAtMs: 1_500 });
  t.ok(r.legitMs !== undefined, `A established its IKE SA during the flood in ${r.legitMs?.toFixed(0)} ms (${r.legitState ?? 'established'})`);
  const aShow = await w.show('a');
  t.equal(ikeSaOf(aShow)?.state, 'established', 'A: IKE SA established');
  t.ok(childOf(aShow), 'A: with its child SA');
  t.match(w.agents.a.stderr(), /responder demands a cookie/, 'A had to return a cookie');
  const ping = await w.ping(5);
  t.ok(ping.received >= 4, `the tunnel carries traffic: ${ping.out}`);
  t.ok(r.after.ikeLoad.halfOpenPeak <= IKE_LIMITS.cookieThreshold + 1, `half-open peak ${r.after.ikeLoad.halfOpenPeak}: the threshold (${IKE_LIMITS.cookieThreshold}) and A`);
  t.ok(r.after.ikeLoad.cookies || r.halfOpenPeak >= IKE_LIMITS.cookieThreshold, 'cookies were on');
  t.ok(r.cookies >= (r.flood.sent - r.lost) * 0.99, `cookies sent: ${r.cookies} of ${r.flood.sent} requests`);
  // A's own requests (two IKE_SA_INIT, IKE_AUTH on the other port) are in `handled` too.
  t.ok(Math.abs(r.handled + r.lost - r.flood.sent) <= 5, `handled ${r.handled} + lost in the socket buffer ${r.lost} = sent ${r.flood.sent} (within A's own)`);
  const hwm = procMemory(b.pid).hwm;
  t.ok(r.heapPeak < MEMORY_CAP.heapUsed, `heap peak ${mb(r.heapPeak)} < ${mb(MEMORY_CAP.heapUsed)}`);
  t.ok(hwm < MEMORY_CAP.rss, `RSS high-water mark ${mb(hwm)} < ${mb(MEMORY_CAP.rss)}`);
  t.comment(
    `spoofed flood: offered ${perS(r.flood.sent, r.flood.elapsedMs)}/s from ${r.flood.sources} sources for ${(r.flood.elapsedMs / 1000).toFixed(1)} s, ` +
      `handled ${perS(r.handled, r.flood.elapsedMs)}/s, lost ${r.lost}, cookies ${r.cookies}, half-open peak ${r.after.ikeLoad.halfOpenPeak}, ` +
      `heap peak ${mb(r.heapPeak)}, RSS peak ${mb(r.rssPeak)} (HWM ${mb(hwm)}), legitimate peer ${r.legitMs?.toFixed(0)} ms`,
  );

  // ---- the flood from addresses that return every cookie ----------------------------------------
  const e = await ikeFloodRun(w, { rate: FLOOD.rate, ms: ECHO_MS, sources: FLOOD.sources, echoCookies: true, until: (s) => s.ikeLoad.halfOpenPeak >= IKE_LIMITS.halfOpenMax });
  const capped = (e.after.drops.ike['half-open-evicted'] ?? 0) - (e.before.drops.ike['half-open-evicted'] ?? 0);
  const hwm2 = procMemory(b.pid).hwm;
  t.equal(e.after.ikeLoad.halfOpenPeak, IKE_LIMITS.halfOpenMax, `half-open SAs reached the cap ${IKE_LIMITS.halfOpenMax} and no more`);
  t.ok(capped > 0, `each request past the cap evicted the oldest half-open SA, counted: half-open-evicted ${capped}`);
  t.ok(e.heapPeak < MEMORY_CAP.heapUsed, `heap peak ${mb(e.heapPeak)} < ${mb(MEMORY_CAP.heapUsed)}`);
  t.ok(hwm2 < MEMORY_CAP.rss, `RSS high-water mark ${mb(hwm2)} < ${mb(MEMORY_CAP.rss)}`);
  t.equal(ikeSaOf(await w.show('a'))?.spiI, ikeSaOf(aShow)?.spiI, "A's IKE SA is untouched");
  t.ok((await w.ping(3)).received >= 2, 'and its tunnel still works');
  t.comment(
    `cookie-returning flood: offered ${perS(e.flood.sent, e.flood.elapsedMs)}/s for ${(e.flood.elapsedMs / 1000).toFixed(1)} s, ${e.flood.echoed} cookies returned, ` +
      `half-open ${e.after.ikeLoad.halfOpen} (cap ${IKE_LIMITS.halfOpenMax}), half-open-evicted ${capped}, heap peak ${mb(e.heapPeak)}, RSS HWM ${mb(hwm2)}`,
  );
  t.same(b.stderr().split('\n').filter((l) => /^error:/.test(l)), [], "no errors in B's log");
});
