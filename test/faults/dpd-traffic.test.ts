/**
 * Dead peer detection only after silence (RFC 7296 §2.4): ESP arriving on a child SA proves the
 * peer alive, so a liveness check is not sent while traffic comes in. Found through the fault
 * relay: under 30% loss, a check sent every `dpd` seconds regardless held the IKE SA's one-slot
 * window when a child rekey was due, and the rekey missed the hard lifetime.
 */
import t from 'tap';
import { EXCHANGE } from '../../src/ike/constants.js';
import { ikePair, messages } from '../ike/agents.js';

const dpdRequests = (p: Awaited<ReturnType<typeof ikePair>>) =>
  messages(p.a, 'out').filter((m) => m.exchange === EXCHANGE.INFORMATIONAL && !m.response && m.payloads.length === 0).length;

t.test('ESP coming in: no liveness check; silence: one every interval', async (t) => {
  const p = await ikePair({ a: { dpd: 10 }, b: { dpd: 0 } });
  t.teardown(() => p.stop());
  for (let s = 0; s < 60; s += 2) {
    t.ok(await p.ping('b'), `B -> A at ${s} s`);
    await p.advance(2000);
  }
  t.equal(dpdRequests(p), 0, 'A sent no liveness check in 60 s of inbound ESP');
  await p.advance(60_000);
  const quiet = dpdRequests(p);
  t.ok(quiet >= 4 && quiet <= 6, `then ${quiet} liveness checks in 60 s of silence (one per 10 s interval)`);
});
