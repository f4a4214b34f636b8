/**
 * A crashed responder (world.ts has the picture): the initiator, keyline in A with `dpd=3s
 * dpd-timeout=4s`, must find out by itself that the peer behind the NAT lost its SAs, within
 * dpd (the silence before a liveness check) + dpd (the tick that sends it) + dpd-timeout, not
 * after the retransmission budget (126 s), and set the connection up again at once.
 * Root only; never skips.
 *
 * 1. keyline ↔ keyline: B (`start=wait`) killed with SIGKILL while pings flow and started again
 *    with its key file. A says why it gave up ("peer is not answering: …"); the tunnel is back,
 *    both sides hold exactly one IKE SA with one child SA, and they are the same; A's routes are
 *    as before the crash.
 * 2. keyline → charon: charon killed with SIGKILL and a new charon started in its namespace with
 *    the same configuration: keyline and charon end with the same single IKE SA and child SA.
 */
import t from 'tap';
import type * as Tap from 'tap';
import { randomBytes } from 'node:crypto';
import { execIn } from '../netns/ns.js';
import { ping, startKeyline, until, type Keyline } from '../interop/keyline-peer.js';
import { NET, agree, charonSettled, charonWorld, faultWorld, ikeSas, keyFiles, pinger, restartKeyline, show } from './world.js';

const DPD_S = 3;
const DPD_TIMEOUT_S = 4;
const EXTRA = `dpd=${DPD_S}s dpd-timeout=${DPD_TIMEOUT_S}s`;
/** The last ESP is seen at the next DPD tick at the latest; one more silent interval sends the check, then dpd-timeout. */
const DETECT_MS = (2 * DPD_S + DPD_TIMEOUT_S) * 1000;
/** Timers firing late on a loaded 2-core machine; for the tunnel, one IKE_SA_INIT + IKE_AUTH on top. */
const DETECT_SLACK_MS = 1500;
const SLACK_MS = 3000;

const sock = (k: Keyline) => k.keyFile.replace(/\.keys$/, '.sock');
const s = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

/** Routes and rules of a namespace, for comparing before and after (nothing left behind, nothing doubled). */
async function routing(ns: string): Promise<string> {
  const r = await execIn(ns, ['ip', '-4', 'route', 'show', 'table', 'all']);
  const rules = await execIn(ns, ['ip', '-4', 'rule', 'show']);
  return `${r.stdout.trim()}\n--\n${rules.stdout.trim()}`;
}

/** Pings keep being answered after the tunnel came back: at least 5 more, none lost since. */
async function steady(t: Tap.Test, p: ReturnType<typeof pinger>, backAt: number) {
  await until('5 more pings answered', async () => (p.since(backAt).length >= 6 ? true : undefined), 10_000).catch(() => undefined);
  const back = p.since(backAt);
  const last = await p.finish();
  const lostSince = last.lost.filter((seq) => seq > back[0]!.seq);
  t.ok(back.length >= 6 && lostSince.length === 0, `${back.length} pings answered since the tunnel came back, none lost since (${last.replies.length} of ${last.transmitted} in all)`);
}

t.test('keyline responder SIGKILLed and restarted: the initiator notices within dpd + dpd + dpd-timeout', { timeout: 60_000 }, async (t) => {
  const w = await faultWorld(t);
  await w.startRelay({ seed: 1 });
  const keys = keyFiles(randomBytes(32).toString('hex'), EXTRA);
  const b = await startKeyline(t, w.ns.b, w.dir, keys.b);
  const a = await startKeyline(t, w.ns.a, w.dir, keys.a);
  const showA = () => show(sock(a));
  await a.waitLog(/child SA up/, { timeoutMs: 20_000 });
  const before = await agree(t, showA, () => show(sock(b)), 'before the crash');
  const p = pinger(t, w.ns.a);
  await until('pings through the tunnel', async () => (p.replies.length >= 5 ? true : undefined), 10_000);
  const routesA = await routing(w.ns.a);

  const from = a.mark();
  const killedAt = Date.now();
  process.kill(b.pid, 'SIGKILL');
  await b.proc.exited;
  const restartedAt = Date.now();
  const b2 = await restartKeyline(t, w.ns.b, b);
  const restartMs = Date.now() - restartedAt;

  const dead = await a.waitLog(/peer is not answering: /, { from, timeoutMs: DETECT_MS + SLACK_MS + 5000 });
  const deadMs = Date.now() - killedAt;
  // Only ESP told A that B was alive, and A's DPD tick saw the last of it: from that tick, dpd
  // of silence sends the liveness check and dpd-timeout more gives up, 7 s and not a tick more.
  t.match(dead, /peer is not answering: nothing heard for 7 s with requests unanswered \(dpd 3 s \+ dpd-timeout 4 s\)/, `A says why: ${dead.replace(/^.*?: /, '')}`);
  t.ok(deadMs <= DETECT_MS + DETECT_SLACK_MS, `A gave B up ${s(deadMs)} after the kill (at most dpd + dpd + dpd-timeout = ${DETECT_MS / 1000} s, + ${DETECT_SLACK_MS / 1000} s slack)`);
  await a.waitLog(/child SA up/, { from, timeoutMs: 10_000 });
  await until('a ping answered after the restart', async () => (p.since(restartedAt).length > 0 ? true : undefined), 10_000);
  const backMs = p.since(restartedAt)[0]!.at - restartedAt;
  t.ok(backMs <= DETECT_MS + SLACK_MS, `ping answered ${s(backMs)} after B's restart (B took ${s(restartMs)} to start; killed ${s(restartedAt - killedAt)} before)`);
  t.comment(`keyline responder crash: dead peer found ${s(deadMs)} after the SIGKILL, tunnel back (first ping answered) ${s(backMs)} after the restart, ${s(restartedAt + backMs - killedAt)} after the kill`);

  const after = await agree(t, showA, () => show(sock(b2)), 'after the restart');
  t.comment(`both sides agreed (show --json) ${s(Date.now() - restartedAt)} after the restart`);
  t.not(after?.a.spiI, before?.a.spiI, 'A holds only the new IKE SA');
  t.match(a.grep(/IKE SA closed/, from).join('\n'), /peer is not answering|nothing heard/, "A closed the old IKE SA for the dead peer's sake");
  t.equal(await routing(w.ns.a), routesA, "A's routes and rules are as before the crash (none left behind, none doubled)");
  await steady(t, p, restartedAt + backMs);
  t.same(b2.grep(/error: /), [], 'no errors at the restarted B');
});

t.test('charon responder SIGKILLed and started again: keyline notices and sets the tunnel up again', { timeout: 60_000 }, async (t) => {
  const { w, charon, kl, showKl, startCharonAgain } = await charonWorld(t, { seed: 1 }, EXTRA);
  await kl.waitLog(/child SA up/, { timeoutMs: 20_000 });
  const before = await charonSettled(charon);
  t.equal((await ping(w.ns.a, `${NET.a}.1`, `${NET.b}.1`)).replies.length, 3, 'tunnel up');
  const p = pinger(t, w.ns.a);
  await until('pings through the tunnel', async () => (p.replies.length >= 5 ? true : undefined), 10_000);
  const routesKl = await routing(w.ns.a);

  const from = kl.mark();
  const killedAt = Date.now();
  process.kill(charon.pid, 'SIGKILL');
  await charon.stop(); // reaps it (SIGTERM to a process already dead is a no-op for it)
  const restartedAt = Date.now();
  const charon2 = await startCharonAgain();
  const restartMs = Date.now() - restartedAt;

  const dead = await kl.waitLog(/peer is not answering: /, { from, timeoutMs: DETECT_MS + SLACK_MS + 5000 });
  const deadMs = Date.now() - killedAt;
  t.match(dead, /peer is not answering: nothing heard for \d+ s with requests unanswered/, `keyline says why: ${dead.replace(/^.*?: /, '')}`);
  t.ok(deadMs <= DETECT_MS + DETECT_SLACK_MS, `keyline gave charon up ${s(deadMs)} after the kill (at most ${DETECT_MS / 1000} s + ${DETECT_SLACK_MS / 1000} s slack)`);
  await kl.waitLog(/child SA up/, { from, timeoutMs: 10_000 });
  await until('a ping answered after the restart', async () => (p.since(restartedAt).length > 0 ? true : undefined), 10_000);
  const backMs = p.since(restartedAt)[0]!.at - restartedAt;
  t.ok(backMs <= DETECT_MS + SLACK_MS, `ping answered ${s(backMs)} after charon's restart (charon took ${s(restartMs)} to start)`);
  t.comment(`charon responder crash: dead peer found ${s(deadMs)} after the SIGKILL, tunnel back (first ping answered) ${s(backMs)} after the restart, ${s(restartedAt + backMs - killedAt)} after the kill`);

  const after = await charonSettled(charon2, 10_000);
  t.comment(`charon settled (swanctl --list-sas) ${s(Date.now() - restartedAt)} after the restart`);
  t.not(after.sa.spiI, before.sa.spiI, `charon: a new IKE SA (${after.sa.spiI})`);
  t.equal(after.sa.children.length, 1, 'charon: one child SA, nothing left over');
  const ours = ikeSas(await showKl());
  const hex = (spi: string) => spi.replace(/^0x/, '').toLowerCase().padStart(8, '0');
  t.same(ours.map((x) => [x.spiI, x.spiR]), [[after.sa.spiI, after.sa.spiR]], 'keyline and charon hold the same single IKE SA');
  const children = ours[0]?.children ?? [];
  t.same(
    children.map((c) => [c.state, hex(c.spiIn), hex(c.spiOut)]),
    [['installed', after.child.spiOut, after.child.spiIn]],
    `keyline holds one child SA, charon's (in ${after.child.spiIn}, out ${after.child.spiOut})`,
  );
  t.equal(await routing(w.ns.a), routesKl, "keyline's routes and rules are as before the crash");
  await steady(t, p, restartedAt + backMs);
});
