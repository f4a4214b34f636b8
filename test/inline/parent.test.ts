/**
 * IKE parents (README.md §7.1): spawned SAs move with an IKE SA rekey and go with its deletion;
 * a peer without inline=on (like strongSwan) gets plain IKEv2.
 */
import t from 'tap';
import { HOST_A, HOST_B, ikePair, messages, type Pair } from '../ike/agents.js';
import { icmpEcho, udp4 } from '../helpers/packets.js';
import { deleteIkeSa } from '../../src/ike/tasks/info.js';
import { startIkeRekey } from '../../src/ike/tasks/ike-rekey.js';
import { inl, inlineIkePair, parentSpec } from './world.js';

const ping = (n: number) => icmpEcho(HOST_A, HOST_B, 3, n);
const pong = (n: number) => icmpEcho(HOST_B, HOST_A, 3, n, undefined, true);

/** One host pair pings and is answered: an established inline SA pair on both sides. */
async function establish(p: Pair): Promise<void> {
  p.a.tun.inject(ping(1));
  await p.settle();
  p.b.tun.inject(pong(1));
  await p.settle();
}

t.test('an IKE SA rekey keeps the flows; new flows use the new parent secret', async (t) => {
  const p = await inlineIkePair();
  t.teardown(() => p.stop());
  await establish(p);
  const flow = inl(p.a).flowList()[0]!;
  const sa = p.a.agent.ike.sas()[0]!;
  startIkeRekey(p.a.agent.ike, sa);
  await p.advance(60_000);
  t.ok(sa.rekeyedTo, 'IKE SA rekeyed');
  p.a.tun.inject(ping(2));
  p.b.tun.inject(pong(2));
  await p.settle();
  t.equal(p.b.tun.written.length, 2, 'the old flow still carries traffic after the IKE rekey');
  t.equal(inl(p.a).flowList()[0], flow, 'same flow');
  p.a.tun.inject(udp4('198.51.100.7', HOST_B, 1, 2, new Uint8Array(4)));
  await p.settle();
  const fresh = inl(p.a).flowList().find((f) => f !== flow)!;
  t.ok(fresh, 'a new flow');
  t.not(fresh.secret, flow.secret, 'keyed from the new IKE SA secret');
  t.equal(p.b.tun.written.length, 3);
});

t.test('deleting the IKE SA removes its spawned SAs on both sides', async (t) => {
  const p = await inlineIkePair();
  t.teardown(() => p.stop());
  await establish(p);
  t.equal(inl(p.a).size, 1);
  t.equal(inl(p.b).size, 1);
  deleteIkeSa(p.a.agent.ike, p.a.agent.ike.sas()[0]!, 'test');
  await p.settle();
  t.equal(inl(p.a).size, 0, 'A dropped the flow with the IKE SA');
  t.equal(inl(p.b).size, 0, 'B dropped it on the DELETE');
});

t.test('with a peer that does not announce inline keying, IKEv2 stays plain', async (t) => {
  const p = await ikePair({ a: { inline: true }, inline: { a: { parents: [parentSpec('a')] } } });
  t.teardown(() => p.stop());
  t.notOk(p.a.agent.ike.sas()[0]!.inline, 'not negotiated');
  const authOut = messages(p.a, 'out').find((m) => m.payloads.includes('AUTH'))!;
  const authIn = messages(p.a, 'in').find((m) => m.payloads.includes('AUTH'))!;
  t.equal(authOut.payloads.filter((x) => x === 'N').length, 2, 'A announced it (INITIAL_CONTACT + inline)');
  t.equal(authIn.payloads.filter((x) => x === 'N').length, 0, 'B did not answer it');
  p.a.tun.inject(ping(1));
  await p.settle();
  t.equal(p.b.tun.written.length, 1, 'traffic flows on the child SA');
  t.equal(inl(p.a).counters.spawned, 0, 'no inline flow');
});
