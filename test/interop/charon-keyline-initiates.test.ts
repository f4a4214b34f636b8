/**
 * keyline as IKEv2 initiator against strongSwan's charon, end to end: `keyline run` (the bundle)
 * in namespace A with start=initiate, charon responding in namespace B (keyline-peer.ts has the
 * picture). One case per suite of the interop matrix, each with a fresh namespace pair, charon
 * and keyline:
 *
 *   HDR, SAi1, KEi, Ni, N(NAT_D…)  -->          (192.0.2.1:4500 -> 192.0.2.2:4500, non-ESP marker:
 *                             <--  HDR, SAr1, KEr, Nr, N(NAT_D…)     addr= without a port is 4500)
 *   HDR, SK {IDi, [IDr,] AUTH, N(INITIAL_CONTACT), SAi2, TSi, TSr}  -->
 *                             <--  HDR, SK {IDr, AUTH, SAr2, TSi, TSr}
 *
 * then ping both ways through the tunnel; charon deleting the child SA alone gets a new one on the
 * same IKE SA; with keyline's short lifetimes (child 20 s, IKE 30 s, margin 5 s) and charon's long
 * ones keyline leads a child rekey and an IKE rekey while pings keep going; charon's
 * `swanctl --terminate` DELETE is honoured; a ping brings the tunnel back
 * (keyline initiates on the acquire); SIGTERM makes keyline DELETE and exit 0.
 */
import type { Test } from 'tap';
import { randomBytes } from 'node:crypto';
import { registerCleanup } from '../netns/ns.js';
import { charonConf, startCharon } from './charon.js';
import { ID_CHARON, ID_KEYLINE, NET, forEachSuite, interopPair, keylineKeys, ping, startKeyline, type Suite } from './keyline-peer.js';
import { expectCharonDelete, expectChildRecreated, expectKeylineStop, expectPings, expectQuietLogs, expectRekeysUnderTraffic, expectUp } from './ike-steps.js';

forEachSuite('keyline initiates IKEv2 to strongSwan charon', keylineInitiates);

async function keylineInitiates(t: Test, suite: Suite): Promise<void> {
  const started = Date.now();
  const psk = randomBytes(32);
  const { pair, dir } = await interopPair(t);
  const charon = await startCharon(pair.b, `resp-${suite.id}`, {
    swanctlConf: charonConf({
      psk,
      localId: ID_CHARON,
      remoteId: ID_KEYLINE,
      ikeProposals: [suite.charonIke],
      espProposals: [suite.esp],
      localTs: [NET.charonNet],
      remoteTs: [NET.keylineNet],
      startAction: 'none',
      // charon's own lifetimes stay at the defaults (IKE 4 h, child 1 h): keyline leads
    }),
    t,
  });
  const kl = await startKeyline(
    t,
    pair.a,
    dir,
    keylineKeys({ psk, suite, start: 'initiate', lifetime: 20, ikeLifetime: 30, rekeyMargin: 5, dpd: 10 }),
  );
  t.comment(`keyline pid ${kl.pid} in ${pair.a}, charon pid ${charon.pid} in ${pair.b}`);

  await expectUp(t, kl, charon, suite, 0);
  await expectPings(t, pair);
  // Early, before the first child rekey is due (10..15 s after the child came up).
  const before = await expectChildRecreated(t, kl, charon, pair);
  const from = kl.mark();
  // child rekey 10..15 s after the new child came up, IKE rekey 20..25 s after the IKE SA
  await expectRekeysUnderTraffic(t, { kl, charon, pair, before, from, childTimeoutMs: 20_000, ikeTimeoutMs: 30_000 });

  await expectCharonDelete(t, kl, charon);
  // The protect policy stays: the first packet raises an acquire and keyline initiates again.
  const again = kl.mark();
  void ping(pair.a, NET.keylineTun, NET.charonInner, 1).catch(() => {});
  await expectUp(t, kl, charon, suite, again);
  await expectPings(t, pair);

  await expectKeylineStop(t, kl, charon);
  expectQuietLogs(t, kl, charon);
  registerCleanup(t, () => t.comment(`case took ${((Date.now() - started) / 1000).toFixed(1)} s`));
}
