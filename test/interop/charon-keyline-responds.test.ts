/**
 * keyline as IKEv2 responder to strongSwan's charon, end to end: `keyline run` (the bundle) in
 * namespace A with start=wait, charon in namespace B initiating with start_action=start as soon
 * as its config is loaded (keyline-peer.ts has the picture). One case per suite of the interop
 * matrix, each with a fresh namespace pair, keyline and charon:
 *
 *                         <--  HDR, SAi1, KEi, Ni, N(NAT_D…)   (192.0.2.2:500 -> 192.0.2.1:500)
 *   HDR, SAr1, KEr, Nr, N(NAT_D…)  -->
 *                         <--  HDR, SK {IDi, AUTH, SAi2, TSi, TSr}   (4500, non-ESP marker)
 *   HDR, SK {IDr, AUTH, SAr2, TSi, TSr}  -->
 *
 * Both sides fake NAT detection (charon because libipsec only does ESP in UDP, keyline because
 * its userspace driver does), so charon moves to 4500 after IKE_SA_INIT. Then ping both ways;
 * with charon's short lifetimes (child rekey 10 s, IKE rekey 15 s, no jitter) and keyline's long
 * ones charon leads a child rekey and an IKE rekey while pings keep going; charon's
 * `swanctl --terminate` DELETE is honoured; `swanctl --initiate` brings the tunnel back; SIGTERM
 * makes keyline DELETE and exit 0.
 */
import type { Test } from 'tap';
import { randomBytes } from 'node:crypto';
import { registerCleanup } from '../netns/ns.js';
import { charonConf, startCharon } from './charon.js';
import { ID_CHARON, ID_KEYLINE, NET, forEachSuite, interopPair, keylineKeys, startKeyline, type Suite } from './keyline-peer.js';
import { expectCharonDelete, expectKeylineStop, expectPings, expectQuietLogs, expectRekeysUnderTraffic, expectUp } from './ike-steps.js';

forEachSuite('strongSwan charon initiates IKEv2 to keyline', keylineResponds);

async function keylineResponds(t: Test, suite: Suite): Promise<void> {
  const started = Date.now();
  const psk = randomBytes(32);
  const { pair, dir } = await interopPair(t);
  // keyline's lifetimes are long (child 1 h, IKE 4 h): charon leads the rekeys
  const kl = await startKeyline(t, pair.a, dir, keylineKeys({ psk, suite, start: 'wait', lifetime: 3600, ikeLifetime: 4 * 3600, rekeyMargin: 540, dpd: 10 }));
  const charon = await startCharon(pair.b, `init-${suite.id}`, {
    swanctlConf: charonConf({
      psk,
      localId: ID_CHARON,
      remoteId: ID_KEYLINE,
      ikeProposals: [suite.charonIke],
      espProposals: [suite.esp],
      localTs: [NET.charonNet],
      remoteTs: [NET.keylineNet],
      startAction: 'start',
      // child rekeys at 10 s and 20 s, the IKE SA at 15 s; rand_time 0: no jitter
      ikeRekeyTime: 15,
      ikeOverTime: 10,
      ikeRandTime: 0,
      childRekeyTime: 10,
      childLifeTime: 20,
      randTime: 0,
    }),
    t,
  });
  t.comment(`keyline pid ${kl.pid} in ${pair.a}, charon pid ${charon.pid} in ${pair.b}`);

  const before = await expectUp(t, kl, charon, suite, 0);
  const from = kl.mark();
  await expectPings(t, pair);
  await expectRekeysUnderTraffic(t, { kl, charon, pair, before, from, childTimeoutMs: 15_000, ikeTimeoutMs: 20_000 });

  await expectCharonDelete(t, kl, charon);
  const again = kl.mark();
  const r = await charon.swanctl(['--initiate', '--child', 'keyline', '--timeout', '10'], { allowFail: true, timeoutMs: 15_000 });
  t.equal(r.code, 0, `swanctl --initiate --child keyline: ${(r.stdout + r.stderr).trim().split('\n').pop()}`);
  await expectUp(t, kl, charon, suite, again);
  await expectPings(t, pair);

  await expectKeylineStop(t, kl, charon);
  expectQuietLogs(t, kl, charon);
  registerCleanup(t, () => t.comment(`case took ${((Date.now() - started) / 1000).toFixed(1)} s`));
}
