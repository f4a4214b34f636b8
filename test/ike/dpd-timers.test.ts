/**
 * Dead peer detection on the edge of its intervals. Node's timers count in the whole
 * milliseconds of the event loop's cached time, so a `setTimeout(fn, 3000)` can run when
 * performance.now() says 2999.2 ms have passed. The DPD tick sets the silence clock to its own
 * time when ESP came in; the next tick, and the dpd-timeout timer armed with the liveness check,
 * then find the silence a fraction of a millisecond short of the interval. Found by
 * test/faults/crash.test.ts: a crashed responder was sometimes given up one whole `dpd` late
 * ("nothing heard for 9 s" with dpd 3 s + dpd-timeout 4 s). Here a fake clock whose timers fire
 * 1 ms early, as Node's can.
 */
import t from 'tap';
import { icmpEcho } from '../../src/sa/icmp.js';
import { FakeClock, type Timer } from '../../src/util/clock.js';
import { MemoryNetwork } from '../../src/transport/memory.js';
import { childCount, HOST_A, HOST_B, peerConfig, startSide, states, timeControls } from './agents.js';

/** Every timer runs 1 ms before it is due, as Node's may by performance.now(). */
class EarlyClock extends FakeClock {
  override after(ms: number, name: string, fn: () => void): Timer {
    return super.after(Math.max(0, ms - 1), name, fn);
  }
}

t.test('ESP until the crash, timers 1 ms early: the responder is given up after dpd + dpd-timeout of silence, not a tick later', async (t) => {
  const dpd = { dpd: 5, dpdTimeout: 10 };
  const net = new MemoryNetwork();
  const clock = new EarlyClock();
  const { settle, advance } = timeControls(net, clock);
  const b = await startSide(net, clock, 'b', peerConfig('b', dpd), 2);
  const a = await startSide(net, clock, 'a', peerConfig('a', dpd), 1);
  t.teardown(() => Promise.all([a.agent.stop(), b.agent.stop()]));
  await settle();
  t.same(states(a), ['established'], 'up');
  // ESP from B every second: A's DPD ticks see it and send no liveness check.
  for (let i = 0; i < 12; i++) {
    b.tun.inject(icmpEcho(HOST_B, HOST_A, 9, i));
    await advance(1000, 1000);
  }
  t.equal(a.tun.written.length, 12, 'A got all 12 packets');
  // B crashes: nothing it sends gets out, and it never comes back here.
  net.fault = () => [];
  const crashedAt = clock.now();
  let deadAt: number | undefined;
  while (deadAt === undefined && clock.now() - crashedAt < 60_000) {
    await advance(100, 100);
    if (a.log.some((l) => /peer is not answering/.test(l))) deadAt = clock.now();
  }
  const line = a.log.find((l) => /peer is not answering/.test(l)) ?? '';
  t.ok(deadAt !== undefined, `A gave B up: ${line}`);
  // The last ESP is seen at the next tick at the latest (≤ dpd after the crash); from there,
  // dpd of silence sends the liveness check, dpd-timeout more gives up.
  const ms = deadAt! - crashedAt;
  t.ok(ms <= (2 * 5 + 10) * 1000 + 200, `given up ${ms / 1000} s after the crash (at most dpd + dpd + dpd-timeout = 20 s)`);
  t.match(line, /nothing heard for 15 s with requests unanswered \(dpd 5 s \+ dpd-timeout 10 s\)/, 'after dpd + dpd-timeout of silence, not a tick more');
  t.equal(childCount(a), 0, "the dead peer's child SA is gone");
});
