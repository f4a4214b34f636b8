/**
 * keyline ↔ strongSwan charon through the fault relay (world.ts has the picture; charon takes
 * B's place at 192.0.2.130, protecting 203.0.113.0/24 with 203.0.113.1/32 on lo). keyline is
 * behind the NAT and initiates on port 500 to the relay; charon sees it at 192.0.2.129 with a
 * rewritten port. Root only; never skips.
 *
 * 1. 30% loss each way: up within the retransmission budget, keyline leads a child rekey and an
 *    IKE rekey under the loss, the NAT moves keyline's mappings, pings go on, and charon ends
 *    with one IKE SA and one child SA at keyline's new port.
 * 2. keyline killed with SIGKILL and started again (as procd's respawn would): the tunnel is
 *    back within one exchange time (IKE_SA_INIT + IKE_AUTH) and charon holds no stale SA
 *    (INITIAL_CONTACT).
 */
import t from 'tap';
import { ping, until } from '../interop/keyline-peer.js';
import { ADDR, NET, charonSettled, charonWorld, ikeSas, pinger, restartKeyline } from './world.js';

const BUDGET_MS = 2 * 126_000;

t.test('keyline behind a NAT to charon, 30% loss each way: up, rekeys, NAT mapping change', { timeout: 170_000 }, async (t) => {
  const { w, relay, charon, kl, started, showKl } = await charonWorld(t, { seed: 6, up: 'loss=0.3', down: 'loss=0.3' }, 'lifetime=40s ike-lifetime=50s rekey-margin=10s dpd=5s');
  await kl.waitLog(/child SA up/, { timeoutMs: BUDGET_MS });
  const upMs = Date.now() - started;
  const s1 = await relay.stats();
  t.ok(upMs < BUDGET_MS, `up after ${(upMs / 1000).toFixed(1)} s under 30% loss; relay lost ${s1.up.byClass.ike.lost} of ${s1.up.byClass.ike.received} IKE datagrams keyline->charon, ${s1.down.byClass.ike.lost} of ${s1.down.byClass.ike.received} back`);
  const first = await charonSettled(charon);
  t.match(first.raw, /remote 'keyline\.example' @ 192\.0\.2\.129\[\d+\]/, 'charon sees keyline at the NAT address');
  t.match(first.child.mode, /in-UDP/, `charon: ESP in UDP (${first.child.mode})`);

  const pings = pinger(t, w.ns.a);
  const from = kl.mark();
  t.pass(`child rekey under loss: ${await kl.waitLog(/child SA rekeyed/, { from, timeoutMs: 60_000 })}`);
  t.pass(`IKE rekey under loss: ${await kl.waitLog(/IKE SA rekeyed to/, { from, timeoutMs: 60_000 })}`);
  const afterRekeys = await charonSettled(charon, 30_000);
  t.not(afterRekeys.sa.spiI, first.sa.spiI, 'charon has the rekeyed IKE SA, and only it');

  const moved = await relay.rebind();
  const rebindAt = Date.now();
  const newPort = moved.find((m) => m.inside.endsWith(':4500'))?.to;
  t.ok(newPort, `NAT rebind: ${moved.map((m) => `${m.inside} ${m.from} -> ${m.to}`).join(', ')}`);
  const moveSeen = await until(
    "charon following keyline's new port",
    async () => ((await charon.swanctl(['--list-sas'])).stdout.includes(`@ ${ADDR.rOut}[${newPort}]`) ? Date.now() - rebindAt : undefined),
    30_000,
  ).catch(() => undefined);
  t.ok(moveSeen !== undefined, `charon's IKE SA moved to ${ADDR.rOut}[${newPort}] after ${moveSeen === undefined ? '-' : (moveSeen / 1000).toFixed(1)} s (keyline's next request, RFC 7296 §2.23)`);
  const answeredBefore = pings.replies.length;
  await until('pings answered after the mapping change', async () => (pings.replies.length >= answeredBefore + 3 ? true : undefined), 20_000);
  t.pass(`pings answered again after the mapping change (${((Date.now() - rebindAt) / 1000).toFixed(1)} s for 3 more)`);
  const p = await pings.finish();
  const ratio = p.replies.length / Math.max(1, p.transmitted);
  t.ok(ratio > 0.3 && ratio < 0.7, `pings: ${p.replies.length} of ${p.transmitted} answered (${(ratio * 100).toFixed(0)}%; 49% expected)`);
  const end = await charonSettled(charon, 20_000);
  const ours = ikeSas(await showKl());
  t.equal(ours.length, 1, 'keyline: one IKE SA');
  t.same([ours[0]?.spiI, ours[0]?.spiR], [end.sa.spiI, end.sa.spiR], 'the same IKE SA on both sides');
  t.same(kl.grep(/^error:/), [], 'no errors at keyline');
});

t.test('keyline SIGKILLed and restarted: back within one exchange, no stale SA at charon', { timeout: 90_000 }, async (t) => {
  const { w, charon, kl, showKl } = await charonWorld(t, { seed: 1 }, 'dpd=10s');
  await kl.waitLog(/child SA up/, { timeoutMs: 20_000 });
  const before = await charonSettled(charon);
  t.equal((await ping(w.ns.a, `${NET.a}.1`, `${NET.b}.1`)).replies.length, 3, 'tunnel up');
  process.kill(kl.pid, 'SIGKILL');
  await kl.proc.exited;
  const restarted = Date.now();
  const kl2 = await restartKeyline(t, w.ns.a, kl);
  await kl2.waitLog(/child SA up/, { timeoutMs: 20_000 });
  const backMs = Date.now() - restarted;
  const exchange = kl2.lines.find((l) => /IKE SA established/.test(l.text))!.ms - kl2.lines.find((l) => /sent IKE_SA_INIT request/.test(l.text))!.ms;
  t.ok(backMs < 5000, `tunnel back ${(backMs / 1000).toFixed(2)} s after the restart (process start included); IKE_SA_INIT + IKE_AUTH took ${exchange} ms`);
  const after = await charonSettled(charon, 10_000);
  t.not(after.sa.spiI, before.sa.spiI, `charon: only the new IKE SA (${after.sa.spiI}), the stale ${before.sa.spiI} is gone`);
  t.match(charon.log(), /INITIAL_CONTACT|initial contact/i, 'charon saw INITIAL_CONTACT');
  const ours = ikeSas(await showKl(kl2));
  t.same(ours.map((s) => [s.spiI, s.spiR]), [[after.sa.spiI, after.sa.spiR]], 'keyline and charon hold the same single IKE SA');
  t.equal((await ping(w.ns.a, `${NET.a}.1`, `${NET.b}.1`)).replies.length, 3, 'ping after the restart');
});
