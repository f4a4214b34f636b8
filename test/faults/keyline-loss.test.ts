/**
 * keyline ↔ keyline through the fault relay, which is also a NAT (world.ts has the picture).
 * Root only; never skips.
 *
 * 1. 30% loss each way (IKE, ESP and keepalives alike, seeded): the IKE SA and the child SA come
 *    up within the retransmission budget (A starts on port 500 and floats to 4500 behind the
 *    NAT); a child rekey and an IKE rekey succeed under the same loss; pings flow at about
 *    0.7 × 0.7 of the rate; then the NAT moves A's mappings to new ports and traffic goes on
 *    (B's ESP follows the first authenticated packet from the new port, its IKE SA the next
 *    request, RFC 7296 §2.23); at the end both sides hold one IKE SA and agree on the child SA.
 * 2. Duplication, reordering and delay with jitter (no loss): up, every ping answered, the
 *    duplicates dropped by the anti-replay window and counted, rekeys as usual.
 * 3. A (behind the NAT) killed with SIGKILL and started again with its key file: back within one
 *    exchange, B dropped the stale IKE SA on INITIAL_CONTACT (both checked with show --json).
 */
import t from 'tap';
import type * as Tap from 'tap';
import { randomBytes } from 'node:crypto';
import { startKeyline, type Keyline } from '../interop/keyline-peer.js';
import { ADDR, agree, faultWorld, ikeSas, keyFiles, pinger, restartKeyline, show, type RelayProc } from './world.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** IKE_SA_INIT and IKE_AUTH each get six sends (2, 6, 14, 30, 62 s apart), then 64 s more. */
const BUDGET_MS = 2 * 126_000;

async function pair(t: Tap.Test, o: { seed: number; up?: string; down?: string; extra: string }) {
  const w = await faultWorld(t);
  const relay = await w.startRelay(o);
  const psk = randomBytes(32).toString('hex');
  const keys = keyFiles(psk, o.extra);
  const b = await startKeyline(t, w.ns.b, w.dir, keys.b);
  const started = Date.now();
  const a = await startKeyline(t, w.ns.a, w.dir, keys.a);
  const sock = (k: Keyline) => k.keyFile.replace(/\.keys$/, '.sock');
  return { w, relay, a, b, started, showA: () => show(sock(a)), showB: () => show(sock(b)) };
}

/** IKE datagrams A sent that were not first sends: relay count minus the messages A logged. */
async function retransmissions(relay: RelayProc, a: Keyline, b: Keyline) {
  const s = await relay.stats();
  const sent = (k: Keyline) => k.grep(/: sent \S+ (request|response) \d+/).length;
  return { a: s.up.byClass.ike.received - sent(a), b: s.down.byClass.ike.received - sent(b), stats: s };
}

t.test('30% loss each way behind a NAT: up, rekeys, pings, a NAT mapping change', { timeout: 150_000 }, async (t) => {
  const { w, relay, a, b, started, showA, showB } = await pair(t, {
    // Seed 6: the IKE_SA_INIT response is lost once and the IKE_AUTH request twice.
    seed: 6,
    up: 'loss=0.3',
    down: 'loss=0.3',
    extra: 'lifetime=30s ike-lifetime=40s rekey-margin=9s dpd=5s',
  });
  // ---- set-up ---------------------------------------------------------------------------------
  await a.waitLog(/child SA up/, { timeoutMs: BUDGET_MS });
  const upMs = Date.now() - started;
  await b.waitLog(/child SA up/, { timeoutMs: 5000 });
  const r1 = await retransmissions(relay, a, b);
  t.ok(upMs < BUDGET_MS, `IKE SA and child SA up after ${(upMs / 1000).toFixed(1)} s under 30% loss (budget ${BUDGET_MS / 1000} s)`);
  t.comment(
    `set-up: A retransmitted ${r1.a}, B ${r1.b}; relay lost ${r1.stats.up.byClass.ike.lost} of ${r1.stats.up.byClass.ike.received} IKE datagrams A->B, ` +
      `${r1.stats.down.byClass.ike.lost} of ${r1.stats.down.byClass.ike.received} B->A`,
  );
  t.ok(r1.stats.up.byClass.ike.lost + r1.stats.down.byClass.ike.lost > 0, 'the relay did lose IKE messages during the set-up');
  t.match(b.grep(/IKE SA established/)[0] ?? '', new RegExp(`at ${ADDR.rOut.replace(/\./g, '\\.')}:\\d+`), 'B sees A at the NAT address');
  const floated = ikeSas(await showB())[0]?.remote ?? '';
  t.notMatch(floated, /:(500|4500)$/, `B talks to A at the NAT's port ${floated} (A floated from 500 to 4500, the relay rewrote it)`);

  // ---- rekeys under loss --------------------------------------------------------------------------
  const ping = pinger(t, w.ns.a);
  const rekeyFrom = a.mark();
  const childRekey = await a.waitLog(/child SA rekeyed/, { from: rekeyFrom, timeoutMs: 60_000 });
  t.pass(`child rekey under loss: ${childRekey.replace(/^.*?: /, '')}`);
  const ikeRekey = await Promise.race([a.waitLog(/IKE SA rekeyed to/, { from: rekeyFrom, timeoutMs: 60_000 }), b.waitLog(/IKE SA rekeyed to/, { timeoutMs: 60_000 })]);
  t.pass(`IKE rekey under loss: ${ikeRekey.replace(/^.*?: /, '')}`);
  // Rekeys go on all the time with these lifetimes: agreement may wait out a retransmission (2 + 6 + 14 s).
  const before = await agree(t, showA, showB, 'after the rekeys', 45_000);

  // ---- the NAT forgets its mappings ------------------------------------------------------------------
  const oldRemote = before?.b.remote ?? '';
  const moved = await relay.rebind();
  const rebindAt = Date.now();
  t.ok(moved.length >= 1, `NAT rebind: ${moved.map((m) => `${m.inside} ${m.from} -> ${m.to}`).join(', ')}`);
  const newPort = moved.find((m) => m.inside.endsWith(':4500'))?.to;
  for (const end = Date.now() + 20_000; ping.since(rebindAt).length < 3 && Date.now() < end; ) await sleep(200);
  const resumed = ping.since(rebindAt);
  t.ok(resumed.length >= 3, `pings answered again after the mapping change: the first ${resumed[0] ? ((resumed[0].at - rebindAt) / 1000).toFixed(1) : '-'} s after it`);
  let remote = oldRemote;
  for (const end = Date.now() + 30_000; Date.now() < end && remote === oldRemote; await sleep(500)) remote = ikeSas(await showB())[0]?.remote ?? '';
  t.equal(remote, `${ADDR.rOut}:${newPort}`, `B's IKE SA follows A to the new port (${oldRemote} -> ${remote}) after ${((Date.now() - rebindAt) / 1000).toFixed(1)} s`);
  await sleep(3000);
  const p = await ping.finish();
  const ratio = p.replies.length / Math.max(1, p.transmitted);
  t.ok(ratio > 0.3 && ratio < 0.7, `pings: ${p.replies.length} of ${p.transmitted} answered (${(ratio * 100).toFixed(0)}%; 49% expected through 30% loss each way)`);
  await agree(t, showA, showB, 'at the end', 45_000);
  const r2 = await retransmissions(relay, a, b);
  t.comment(`whole run: A retransmitted ${r2.a} IKE messages, B ${r2.b}; relay: ${JSON.stringify({ up: r2.stats.up, down: r2.stats.down, rebinds: r2.stats.rebinds })}`);
  for (const k of [a, b]) t.same(k.grep(/^error:|\berror: /), [], 'no errors logged');
  if (!t.passing()) t.comment(`A's log (info and up, last 80 lines):\n${a.grep(/\b(info|warn|error):/).slice(-80).join('\n')}`);
});

t.test('duplication, reordering, delay with jitter: up, every ping answered, duplicates dropped', { timeout: 90_000 }, async (t) => {
  const faults = 'dup=0.2,reorder=0.2,delay=5,jitter=30,hold=40';
  const { w, relay, a, b, started, showA, showB } = await pair(t, { seed: 5, up: faults, down: faults, extra: 'lifetime=14s ike-lifetime=20s rekey-margin=3s dpd=5s' });
  await a.waitLog(/child SA up/, { timeoutMs: 30_000 });
  t.pass(`up after ${((Date.now() - started) / 1000).toFixed(1)} s`);
  const ping = pinger(t, w.ns.a);
  await a.waitLog(/child SA rekeyed/, { timeoutMs: 30_000 });
  await Promise.race([a.waitLog(/IKE SA rekeyed to/, { timeoutMs: 30_000 }), b.waitLog(/IKE SA rekeyed to/, { timeoutMs: 30_000 })]);
  await sleep(2000);
  const p = await ping.finish();
  t.ok(p.transmitted >= 40, `${p.transmitted} pings sent across a child and an IKE rekey`);
  t.ok(p.lost.length <= 1, `${p.replies.length} of ${p.transmitted} answered, lost ${JSON.stringify(p.lost)} (at most 1 across the rekeys)`);
  t.notMatch(p.output, /DUP!/, 'no duplicate reached ping: ESP anti-replay dropped them');
  const end = await agree(t, showA, showB, 'at the end');
  const s = await relay.stats();
  const [sa, sb] = [await showA(), await showB()];
  const replayDrops = (x: typeof sa) => x.peers.flatMap((p) => (p.ikeSas ?? []).flatMap((i) => i.children.map((c) => c.in.drops.replay ?? 0))).reduce((m, n) => m + n, 0);
  t.comment(`relay: ${s.up.duplicated + s.down.duplicated} duplicated, ${s.up.reordered + s.down.reordered} reordered, ${s.up.delayed + s.down.delayed} delayed; replay drops on the current child SA: A ${replayDrops(sa)}, B ${replayDrops(sb)}`);
  t.ok(s.up.duplicated > 0 && s.down.duplicated > 0 && s.up.reordered > 0 && s.down.reordered > 0, 'the relay did duplicate and reorder both ways');
  t.ok(end !== undefined, 'the two sides agree');
  for (const k of [a, b]) t.same(k.grep(/^error:|\berror: /), [], 'no errors logged');
});

t.test('A behind the NAT killed with SIGKILL and restarted: back within one exchange, no stale SA at B', { timeout: 60_000 }, async (t) => {
  const { w, a, b, showA, showB } = await pair(t, { seed: 1, extra: 'dpd=10s' });
  await a.waitLog(/child SA up/, { timeoutMs: 20_000 });
  const before = await agree(t, showA, showB, 'before the crash');
  process.kill(a.pid, 'SIGKILL');
  await a.proc.exited;
  const restarted = Date.now();
  const a2 = await restartKeyline(t, w.ns.a, a);
  await a2.waitLog(/child SA up/, { timeoutMs: 20_000 });
  const backMs = Date.now() - restarted;
  t.ok(backMs < 5000, `tunnel back ${(backMs / 1000).toFixed(2)} s after the restart (process start included)`);
  await b.waitLog(/peer restarted \(INITIAL_CONTACT\)/, { timeoutMs: 5000 });
  const sock = (k: Keyline) => k.keyFile.replace(/\.keys$/, '.sock');
  const after = await agree(t, () => show(sock(a2)), showB, 'after the restart');
  t.not(after?.b.spiI, before?.b.spiI, 'B holds only the new IKE SA: the stale one went on INITIAL_CONTACT');
  const p = pinger(t, w.ns.a);
  await sleep(1500);
  t.ok((await p.finish()).replies.length >= 5, 'ping after the restart');
});
