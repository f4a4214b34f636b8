/**
 * A request nobody authenticated must not be able to write one log line each: IKE_SA_INIT
 * requests with no acceptable proposal, in a flood, were logged at info one line per request
 * (2,997 lines for 1.5 s of a 2,000/s flood against `keyline run`, test/attack/ike-flood.test.ts).
 * Now: counted each (`ike-no-proposal`), answered statelessly each, logged at most once per
 * IKE_TIMERS.unauthenticatedLogMs with how many were held back.
 */
import t from 'tap';
import { parseIkeProposals } from '../../src/ike/proposals.js';
import { IKE_TIMERS } from '../../src/limits.js';
import { throttled } from '../../src/util/log.js';
import { KE } from '../../src/wire/iana.js';
import { buildInit } from '../interop/initiator.js';
import { ADDR_B, ikePair } from './agents.js';

t.test('throttled: the first line, then at most one per interval with the count held back', async (t) => {
  let now = 0;
  const out: string[] = [];
  const log = throttled((m) => out.push(m), 1000, () => now);
  for (let i = 0; i < 5; i++) log(`line ${i}`);
  now = 999;
  log('line 5');
  now = 1000;
  log('line 6');
  now = 5000;
  log('line 7');
  t.same(out, ['line 0', 'line 6 (5 more like it since the last such line, not logged)', 'line 7']);
});

t.test('a flood of IKE_SA_INIT with no acceptable proposal: each counted and answered, few log lines', async (t) => {
  const p = await ikePair({ a: { start: 'wait' }, b: { remote: undefined, ike: parseIkeProposals('aes128-sha256-modp2048') } });
  t.teardown(() => p.stop());
  const answers: Uint8Array[] = [];
  let next = 0;
  const flood = (n: number) => {
    for (let i = 0; i < n; i++, next++) {
      const sock = p.net.attach({ addr: `192.0.2.${100 + (next % 100)}`, port: 2000 + next });
      sock.onDatagram((d) => answers.push(d));
      sock.send(buildInit([KE.CURVE25519], KE.CURVE25519).message, { addr: ADDR_B, port: 500 });
    }
  };
  flood(200);
  await p.settle();
  await p.advance(IKE_TIMERS.unauthenticatedLogMs);
  flood(1);
  await p.settle();
  t.equal(p.b.agent.ike.drops.byReason['ike-no-proposal'], 201, 'each counted');
  t.equal(answers.length, 201, 'each answered NO_PROPOSAL_CHOSEN');
  const lines = p.b.log.filter((l) => /no acceptable proposal/.test(l));
  t.equal(lines.length, 2, 'two lines');
  t.match(lines[1], /\(199 more like it since the last such line, not logged\)$/);
  t.same(p.b.agent.ike.sas(), [], 'no state');
});
