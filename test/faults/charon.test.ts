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
import type * as Tap from 'tap';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { registerCleanup, run, spawnIn } from '../netns/ns.js';
import { charonConf, requireCharon, startCharon, type Charon } from '../interop/charon.js';
import { parsePing, ping, startKeyline, until, type Keyline } from '../interop/keyline-peer.js';
import { ADDR, NET, faultWorld, ikeSas, restartKeyline, show } from './world.js';

const BUDGET_MS = 2 * 126_000;
const TEMPLATE = fileURLToPath(new URL('../interop/conf/strongswan.conf.in', import.meta.url));
/**
 * charon's own retransmissions (defaults: 4 s, ×1.8, 5 tries, ~165 s) shortened to fit the
 * test: 1 s, ×1.5, 5 tries (about 20 s).
 */
const STRONGSWAN_CONF = readFileSync(TEMPLATE, 'utf8').replace(
  '    port_nat_t = 4500\n',
  '    port_nat_t = 4500\n    retransmit_timeout = 1.0\n    retransmit_base = 1.5\n    retransmit_tries = 5\n',
);

function keylineKeys(psk: Buffer, extra: string): string {
  return [
    '# written by test/faults/charon.test.ts',
    `local id=fqdn:keyline.example listen=${ADDR.a}:500,${ADDR.a}:4500 tun=kl0 tun-addr=${NET.a}.1/24 log-level=debug`,
    `peer charon addr=${ADDR.rIn}:500 id=fqdn:charon.example psk=hex:${psk.toString('hex')} start=initiate`,
    `    ike=aes256gcm16-prfsha256-x25519 esp=aes256gcm16 local-net=${NET.a}.0/24 remote-net=${NET.b}.0/24 ${extra}`,
    '',
  ].join('\n');
}

async function setup(t: Tap.Test, relay: { seed: number; up?: string; down?: string }, extra: string) {
  requireCharon();
  const w = await faultWorld(t);
  await run(['ip', '-n', w.ns.b, 'addr', 'add', `${NET.b}.1/32`, 'dev', 'lo']);
  const r = await w.startRelay(relay);
  const psk = randomBytes(32);
  const charon = await startCharon(w.ns.b, `faults-${relay.seed}`, {
    swanctlConf: charonConf({
      psk,
      localId: 'charon.example',
      remoteId: 'keyline.example',
      localAddr: ADDR.b,
      remoteAddr: '%any',
      ikeProposals: ['aes256gcm16-prfsha256-curve25519'],
      espProposals: ['aes256gcm16'],
      localTs: [`${NET.b}.0/24`],
      remoteTs: [`${NET.a}.0/24`],
      startAction: 'none',
      dpdDelay: 5,
    }),
    strongswanConf: STRONGSWAN_CONF,
    t,
  });
  const started = Date.now();
  const kl = await startKeyline(t, w.ns.a, w.dir, keylineKeys(psk, extra));
  return { w, relay: r, charon, kl, started, psk, showKl: (k: Keyline = kl) => show(k.keyFile.replace(/\.keys$/, '.sock')) };
}

/** charon: exactly one IKE SA, ESTABLISHED, with one INSTALLED child (DELETED ones left aside), and its raw text. */
async function charonSettled(charon: Charon, timeoutMs = 15_000) {
  return until(
    'charon: one ESTABLISHED IKE SA with one INSTALLED child SA',
    async () => {
      const raw = (await charon.swanctl(['--list-sas'])).stdout;
      const sas = await charon.sas();
      const live = sas[0]?.children.filter((c) => c.state !== 'DELETED' && c.state !== 'DELETING') ?? [];
      return sas.length === 1 && sas[0]!.state === 'ESTABLISHED' && live.length === 1 && live[0]!.state === 'INSTALLED' ? { sa: sas[0]!, child: live[0]!, raw } : undefined;
    },
    timeoutMs,
  );
}

t.test('keyline behind a NAT to charon, 30% loss each way: up, rekeys, NAT mapping change', { timeout: 170_000 }, async (t) => {
  const { w, relay, charon, kl, started, showKl } = await setup(t, { seed: 6, up: 'loss=0.3', down: 'loss=0.3' }, 'lifetime=40s ike-lifetime=50s rekey-margin=10s dpd=5s');
  await kl.waitLog(/child SA up/, { timeoutMs: BUDGET_MS });
  const upMs = Date.now() - started;
  const s1 = await relay.stats();
  t.ok(upMs < BUDGET_MS, `up after ${(upMs / 1000).toFixed(1)} s under 30% loss; relay lost ${s1.up.byClass.ike.lost} of ${s1.up.byClass.ike.received} IKE datagrams keyline->charon, ${s1.down.byClass.ike.lost} of ${s1.down.byClass.ike.received} back`);
  const first = await charonSettled(charon);
  t.match(first.raw, /remote 'keyline\.example' @ 192\.0\.2\.129\[\d+\]/, 'charon sees keyline at the NAT address');
  t.match(first.child.mode, /in-UDP/, `charon: ESP in UDP (${first.child.mode})`);

  const pinger = startPingProc(t, w.ns.a);
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
  const answeredBefore = pinger.answered();
  await until('pings answered after the mapping change', async () => (pinger.answered() >= answeredBefore + 3 ? true : undefined), 20_000);
  t.pass(`pings answered again after the mapping change (${((Date.now() - rebindAt) / 1000).toFixed(1)} s for 3 more)`);
  const p = await pinger.finish();
  const ratio = p.replies.length / Math.max(1, p.transmitted);
  t.ok(ratio > 0.3 && ratio < 0.7, `pings: ${p.replies.length} of ${p.transmitted} answered (${(ratio * 100).toFixed(0)}%; 49% expected)`);
  const end = await charonSettled(charon, 20_000);
  const ours = ikeSas(await showKl());
  t.equal(ours.length, 1, 'keyline: one IKE SA');
  t.same([ours[0]?.spiI, ours[0]?.spiR], [end.sa.spiI, end.sa.spiR], 'the same IKE SA on both sides');
  t.same(kl.grep(/^error:/), [], 'no errors at keyline');
});

t.test('keyline SIGKILLed and restarted: back within one exchange, no stale SA at charon', { timeout: 90_000 }, async (t) => {
  const { w, charon, kl, showKl } = await setup(t, { seed: 1 }, 'dpd=10s');
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

/** A ping every 200 ms from keyline's subnet to charon's, stopped by SIGINT (by PID). */
function startPingProc(t: Tap.Test, ns: string) {
  const proc = spawnIn(ns, ['ping', '-n', '-i', '0.2', '-W', '1', '-I', `${NET.a}.1`, `${NET.b}.1`]);
  registerCleanup(t, () => proc.stop());
  return {
    answered: () => proc.lines.filter((l) => /bytes from/.test(l)).length,
    async finish() {
      try {
        process.kill(proc.pid, 'SIGINT');
      } catch {
        // gone
      }
      const timer = setTimeout(() => void proc.stop(), 3000);
      await proc.exited;
      clearTimeout(timer);
      return parsePing(proc.stdout());
    },
  };
}
