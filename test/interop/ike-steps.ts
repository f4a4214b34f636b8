/**
 * The steps every keyline↔charon IKE case goes through, whoever initiates: both sides agree the
 * SAs are up, ping crosses both ways, rekeys under traffic lose (almost) nothing, and a DELETE
 * from either side is honoured. Each step asserts on `t` and throws when the next step would be
 * pointless (nothing came up), so a case fails at its first real problem.
 */
import { existsSync, readFileSync } from 'node:fs';
import type { Test } from 'tap';
import type { NamespacePair } from '../netns/ns.js';
import type { Charon, ListedIkeSa } from './charon.js';
import { NET, ping, sleep, startPing, until, type Keyline, type Suite } from './keyline-peer.js';

/** Replies a ping stream may miss while a rekey moves traffic to new SAs. */
export const MAX_LOST = 2;

/** keyline's child SA line: "child SA up: in 0x… out 0x… suite" (or "rekeyed"). */
const CHILD_LINE = /child SA (up|rekeyed): in 0x([0-9a-f]{8}) out 0x([0-9a-f]{8})/;

/**
 * The one IKE SA charon has, ESTABLISHED with one INSTALLED child SA (polled: charon may still be
 * finishing), without the DELETED children: after a rekey charon keeps the old inbound SA for late
 * packets until its own life_time (as the rekey initiator) or delete_rekeyed_delay (5 s) ends.
 */
async function settled(charon: Charon, timeoutMs = 5000): Promise<ListedIkeSa> {
  let last: ListedIkeSa[] = [];
  try {
    return await until(
      'charon: one ESTABLISHED IKE SA with one INSTALLED child SA',
      async () => {
        last = await charon.sas();
        const [sa, ...more] = last;
        const children = sa?.children.filter((c) => c.state !== 'DELETED') ?? [];
        const ok = sa && !more.length && sa.state === 'ESTABLISHED' && children.length === 1 && children[0]!.state === 'INSTALLED';
        return ok ? { ...sa, children } : undefined;
      },
      timeoutMs,
    );
  } catch (e) {
    throw new Error(`${(e as Error).message}; swanctl --list-sas says: ${JSON.stringify(last)}`);
  }
}

/**
 * Both sides have the IKE SA and the child SA of `suite`, with the same SPIs. Returns charon's
 * view, to compare with after a rekey.
 */
export async function expectUp(t: Test, kl: Keyline, charon: Charon, suite: Suite, from: number, timeoutMs = 15_000): Promise<ListedIkeSa> {
  const up = await kl.waitLog(/IKE SA established/, { from, timeoutMs });
  t.ok(up.includes(suite.keylineIkeSuite), `keyline: ${up}`);
  // charon as initiator starts on 500 and floats to 4500 with IKE_AUTH (both sides fake a NAT):
  // keyline must answer, and send ESP, there
  t.ok(up.includes(' at 192.0.2.2:4500 '), 'keyline talks to charon on port 4500');
  const child = CHILD_LINE.exec(await kl.waitLog(CHILD_LINE, { from, timeoutMs: 5000 }));
  const sa = await settled(charon);
  const c = sa.children[0]!;
  t.equal(sa.suite, suite.charonIkeSuite, `charon: IKE SA ${sa.suite}`);
  t.equal(c.mode, 'TUNNEL-in-UDP', 'charon: child SA in tunnel mode, ESP in UDP');
  t.equal(c.suite, suite.charonEspSuite, `charon: child SA ${c.suite}`);
  t.same([child?.[2], child?.[3]], [c.spiOut, c.spiIn], `the same child SA on both sides: keyline in 0x${c.spiOut} = charon out, keyline out 0x${c.spiIn} = charon in`);
  return sa;
}

/** Three pings each way, all answered. */
export async function expectPings(t: Test, pair: NamespacePair): Promise<void> {
  for (const [ns, src, dst, what] of [
    [pair.a, NET.keylineTun, NET.charonInner, "keyline's side to charon's"],
    [pair.b, NET.charonInner, NET.keylineTun, "charon's side to keyline's"],
  ] as const) {
    const r = await ping(ns, src, dst);
    t.equal(r.replies.length, 3, `ping ${src} -> ${dst} (${what}): ${r.replies.length} of 3 answered`);
    if (r.replies.length !== 3) t.comment(r.output);
  }
}

/**
 * A ping each way every 200 ms while the leading side rekeys the child SA and then the IKE SA:
 * at most MAX_LOST replies missing per stream, and afterwards one IKE SA and one child SA with
 * new SPIs on both sides (the old ones deleted).
 */
export async function expectRekeysUnderTraffic(
  t: Test,
  o: { kl: Keyline; charon: Charon; pair: NamespacePair; before: ListedIkeSa; from: number; childTimeoutMs: number; ikeTimeoutMs: number },
): Promise<void> {
  const { kl, charon, pair, before, from } = o;
  const started = Date.now();
  const streams = [
    { what: 'keyline -> charon', p: startPing(t, pair.a, NET.keylineTun, NET.charonInner) },
    { what: 'charon -> keyline', p: startPing(t, pair.b, NET.charonInner, NET.keylineTun) },
  ];
  try {
    const child = await kl.waitLog(/child SA rekeyed/, { from, timeoutMs: o.childTimeoutMs });
    t.pass(`keyline: ${child}`);
    const ike = await kl.waitLog(/IKE SA rekeyed to/, { from, timeoutMs: o.ikeTimeoutMs });
    t.pass(`keyline: ${ike}`);
    // the old IKE SA's DELETE, and a few more pings on the new SAs
    await sleep(1500);
  } finally {
    for (const s of streams) {
      const r = await s.p.finish();
      const sum = `${r.transmitted} sent, ${r.replies.length} answered`;
      t.ok(r.replies.length >= 10, `ping ${s.what} kept going over ${((Date.now() - started) / 1000).toFixed(1)} s: ${sum}`);
      t.ok(r.lost.length <= MAX_LOST, `ping ${s.what}: ${r.lost.length} lost during the rekeys (at most ${MAX_LOST})${r.lost.length ? `: icmp_seq ${r.lost.join(' ')}` : ''}`);
    }
  }
  const after = await settled(charon, 8000);
  const c = after.children[0]!;
  const was = before.children[0]!;
  t.not(`${after.spiI}_${after.spiR}`, `${before.spiI}_${before.spiR}`, `charon: the IKE SA has new SPIs ${after.spiI}_i ${after.spiR}_r`);
  t.ok(c.spiIn !== was.spiIn && c.spiOut !== was.spiOut, `charon: the child SA has new SPIs in ${c.spiIn} out ${c.spiOut} (was ${was.spiIn}/${was.spiOut})`);
  const same = kl.grep(new RegExp(`child SA (up|rekeyed): in 0x${c.spiOut} out 0x${c.spiIn} `), from);
  t.equal(same.length, 1, `keyline has charon's child SA: ${same[0] ?? `no "in 0x${c.spiOut} out 0x${c.spiIn}" in its log`}`);
}

/**
 * `swanctl --terminate --child`: charon deletes the child SA alone. keyline (start=initiate) asks
 * for a new one on the same IKE SA with CREATE_CHILD_SA (no REKEY_SA), and charon installs it.
 */
export async function expectChildRecreated(t: Test, kl: Keyline, charon: Charon, pair: NamespacePair, name = 'keyline'): Promise<ListedIkeSa> {
  const before = await settled(charon, 8000);
  const from = kl.mark();
  const r = await charon.swanctl(['--terminate', '--child', name, '--timeout', '10'], { allowFail: true, timeoutMs: 15_000 });
  t.equal(r.code, 0, `swanctl --terminate --child ${name}: ${(r.stdout + r.stderr).trim().split('\n').pop()}`);
  t.pass(`keyline: ${await kl.waitLog(/child SA in 0x[0-9a-f]+ out 0x[0-9a-f]+ removed \(deleted by peer\)/, { from, timeoutMs: 5000 })}`);
  t.pass(`keyline: ${await kl.waitLog(/asking for a new child SA/, { from, timeoutMs: 5000 })}`);
  const child = CHILD_LINE.exec(await kl.waitLog(CHILD_LINE, { from, timeoutMs: 5000 }));
  const after = await settled(charon, 8000);
  const c = after.children[0]!;
  t.equal(`${after.spiI}_${after.spiR}`, `${before.spiI}_${before.spiR}`, 'charon: the same IKE SA');
  t.ok(c.spiIn !== before.children[0]!.spiIn, `charon: a new child SA in ${c.spiIn} out ${c.spiOut}`);
  t.same([child?.[2], child?.[3]], [c.spiOut, c.spiIn], 'the same child SA on both sides');
  await expectPings(t, pair);
  return after;
}

/** `swanctl --terminate --ike`: keyline hears the DELETE, drops the IKE SA and its child SA. */
export async function expectCharonDelete(t: Test, kl: Keyline, charon: Charon, name = 'keyline'): Promise<void> {
  const from = kl.mark();
  const r = await charon.swanctl(['--terminate', '--ike', name, '--timeout', '10'], { allowFail: true, timeoutMs: 15_000 });
  t.equal(r.code, 0, `swanctl --terminate --ike ${name}: ${(r.stdout + r.stderr).trim().split('\n').pop()}`);
  t.pass(`keyline: ${await kl.waitLog(/peer deleted the IKE SA/, { from, timeoutMs: 5000 })}`);
  t.pass(`keyline: ${await kl.waitLog(/child SA in 0x[0-9a-f]+ out 0x[0-9a-f]+ removed/, { from, timeoutMs: 5000 })}`);
  const sas = await charon.sas();
  t.same(sas, [], 'charon: no SAs left');
}

/** SIGTERM: keyline DELETEs its IKE SA, exits 0, and charon has nothing left. */
export async function expectKeylineStop(t: Test, kl: Keyline, charon: Charon): Promise<void> {
  const from = kl.mark();
  const stopped = Date.now();
  const exit = await kl.stop();
  t.same(exit, { code: 0, signal: null }, `keyline exits 0 on SIGTERM, after ${Date.now() - stopped} ms`);
  t.equal(kl.grep(/deleting IKE SA \(shutting down\)/, from).length, 1, 'keyline sent DELETE for its IKE SA');
  await until('charon to drop the SAs', async () => ((await charon.sas()).length === 0 ? true : undefined), 5000).then(
    () => t.pass('charon: no SAs left'),
    async (e: Error) => t.fail(`${e.message}: ${JSON.stringify(await charon.sas())}`),
  );
  t.match(charon.log(), /received DELETE for IKE_SA/, 'charon logged the DELETE');
}

/** What neither side should have logged in a case where everything works. */
const CHARON_TROUBLE = /retransmit|unsupported IKE version|failed|error|invalid|unacceptable|TEMP_FAIL|NO_PROP/i;

/** No warnings or errors from keyline, no retransmissions or failures in charon's brief log. */
export function expectQuietLogs(t: Test, kl: Keyline, charon: Charon): void {
  t.same(kl.grep(/^(warn|error):/), [], 'keyline logged no warnings or errors');
  const brief = existsSync(charon.briefLogPath) ? readFileSync(charon.briefLogPath, 'utf8') : '';
  t.same(brief.split('\n').filter((l) => CHARON_TROUBLE.test(l)), [], 'charon logged no retransmissions, failures or invalid messages');
}
