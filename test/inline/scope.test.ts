/**
 * Scopes (README.md §4): which packets share an SA pair. Each case sends packets of two
 * different flows and counts the pairs made, on both sides.
 */
import t from 'tap';
import { HOST_B } from '../ike/agents.js';
import { tcp4, udp4 } from '../helpers/packets.js';
import { inl, inlineIkePair } from './world.js';
import type { ScopeName } from '../../src/inline/header.js';

const A1 = '198.51.100.1';
const A2 = '198.51.100.2';
const B2 = '203.0.113.2';

const cases: [ScopeName, string, Uint8Array[], number][] = [
  ['host', 'two local hosts to one remote host share a pair', [udp4(A1, HOST_B, 1, 53, new Uint8Array(4)), udp4(A2, HOST_B, 1, 53, new Uint8Array(4))], 1],
  ['host', 'two remote hosts get a pair each', [udp4(A1, HOST_B, 1, 53, new Uint8Array(4)), udp4(A1, B2, 1, 53, new Uint8Array(4))], 2],
  ['host-pair', 'TCP and UDP between two hosts share a pair', [udp4(A1, HOST_B, 1, 53, new Uint8Array(4)), tcp4(A1, HOST_B, 1, 80, 2)], 1],
  ['host-pair', 'two host pairs get a pair each', [udp4(A1, HOST_B, 1, 53, new Uint8Array(4)), udp4(A2, HOST_B, 1, 53, new Uint8Array(4))], 2],
  ['proto', 'TCP and UDP between two hosts get a pair each', [udp4(A1, HOST_B, 1, 53, new Uint8Array(4)), tcp4(A1, HOST_B, 1, 80, 2)], 2],
  ['proto', 'two UDP ports share a pair', [udp4(A1, HOST_B, 1, 53, new Uint8Array(4)), udp4(A1, HOST_B, 2, 54, new Uint8Array(4))], 1],
  ['port', 'two UDP ports get a pair each', [udp4(A1, HOST_B, 1, 53, new Uint8Array(4)), udp4(A1, HOST_B, 2, 54, new Uint8Array(4))], 2],
  ['port', 'one TCP connection is one pair', [tcp4(A1, HOST_B, 40000, 80, 2), tcp4(A1, HOST_B, 40000, 80, 0x10)], 1],
];

for (const [scope, what, packets, pairs] of cases) {
  t.test(`scope ${scope}: ${what}`, async (t) => {
    const p = await inlineIkePair({ scope });
    t.teardown(() => p.stop());
    for (const pkt of packets) {
      p.a.tun.inject(pkt);
      await p.settle();
    }
    t.equal(p.b.tun.written.length, packets.length, 'all delivered');
    t.equal(inl(p.a).counters.spawned, pairs, `A offered ${pairs}`);
    t.equal(inl(p.b).counters.answered, pairs, `B answered ${pairs}`);
    // The answerer's selectors mirror the offerer's: B's reply on the flow goes back on it.
    const fb = inl(p.b).flowList()[0]!;
    const fa = inl(p.a).flowList()[0]!;
    t.same(fb.inSa.spec.selectors[0]!.remote, fa.inSa.spec.selectors[0]!.local, 'mirrored: B remote = A local');
    t.same(fb.inSa.spec.selectors[0]!.local, fa.inSa.spec.selectors[0]!.remote, 'mirrored: B local = A remote');
  });
}
