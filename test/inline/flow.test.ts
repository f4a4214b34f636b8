/**
 * The draft's example, end to end between two agents in one process (README.md §2):
 *
 *   A: ESP[X, INLINE{OFFER, N1, Y}, SYN]        -->
 *                                               <--  B: ESP[Y, INLINE{ANSWER, N2, N1, Z}, SYN/ACK]
 *   A: ESP[Z, ACK + data]                       -->  (B: use of Z acknowledges)
 *                                               <--  B: ESP[Y, data]
 *
 * with an IKE parent and with a static parent; zero IKE messages for the new SAs.
 */
import t from 'tap';
import { HOST_A, HOST_B, messages } from '../ike/agents.js';
import { tcp4 } from '../helpers/packets.js';
import { readU32 } from '../../src/wire/bytes.js';
import { inl, inlineIkePair, staticPair } from './world.js';
import type { Endpoint } from '../../src/sa/types.js';

interface Seen {
  from: string;
  spi: number;
  len: number;
}

function tap(seen: Seen[]) {
  return (d: Uint8Array, from: Endpoint) => {
    // ESP in UDP: the first four octets are the SPI (IKE has a zero marker there).
    if (d.length >= 8) seen.push({ from: from.addr, spi: readU32(d, 0), len: d.length });
    return [d];
  };
}

const SYN = 0x02;
const SYNACK = 0x12;
const ACK = 0x10;
const PSH = 0x18;

for (const kind of ['ike', 'static'] as const) {
  t.test(`the draft's TCP example with a${kind === 'ike' ? 'n IKE' : ' static'} parent`, async (t) => {
    const seen: Seen[] = [];
    const p = kind === 'ike' ? await inlineIkePair({ scope: 'port' }) : await staticPair({ scope: 'port' });
    t.teardown(() => p.stop());
    if (kind === 'ike') t.ok(p.a.agent.ike.sas()[0]?.inline, 'inline keying negotiated in IKE_AUTH');
    const ikeBefore = messages(p.a, 'out').length + messages(p.b, 'out').length;
    p.net.fault = tap(seen);
    const A = inl(p.a);
    const B = inl(p.b);

    p.a.tun.inject(tcp4(HOST_A, HOST_B, 40000, 80, SYN));
    await p.settle();
    t.equal(p.b.tun.written.length, 1, 'SYN delivered at B');
    t.equal(A.counters.spawned, 1, 'A offered');
    t.equal(B.counters.answered, 1, 'B answered: created outbound Y and inbound Z');
    const offer = seen[0]!;
    const y = A.flowList()[0]!.inSa.spec.spi;

    p.b.tun.inject(tcp4(HOST_B, HOST_A, 80, 40000, SYNACK));
    await p.settle();
    t.equal(p.a.tun.written.length, 1, 'SYN/ACK delivered at A');
    t.equal(seen[1]!.spi, y, 'B answered on Y, the SPI A announced');
    t.equal(A.counters.acknowledged, 1, 'A keyed outbound Z from the answer');
    const z = A.flowList()[0]!.outSa!.spec.spi;

    p.a.tun.inject(tcp4(HOST_A, HOST_B, 40000, 80, PSH, new TextEncoder().encode('GET / HTTP/1.0\r\n\r\n')));
    await p.settle();
    t.equal(seen[2]!.spi, z, 'A sends on Z, no header');
    t.equal(B.counters.acknowledged, 1, 'B saw Z used: the pair is complete');
    p.b.tun.inject(tcp4(HOST_B, HOST_A, 80, 40000, ACK));
    await p.settle();
    t.equal(seen[3]!.spi, y, 'B sends on Y');
    t.ok(seen[3]!.len < seen[1]!.len, `no header on B's later packets (${seen[3]!.len} < ${seen[1]!.len} octets)`);
    t.equal(p.a.tun.written.length, 2);
    t.equal(p.b.tun.written.length, 2);
    t.equal(seen.length, 4, 'four packets for four: zero extra messages');
    t.equal(messages(p.a, 'out').length + messages(p.b, 'out').length, ikeBefore, 'no IKE message for the new SAs');
    // ESP of the 40-octet SYN: SPI, sequence, IV (8 each), payload padded to 4 with its 2-octet
    // trailer, ICV 16. The header adds exactly its 48 octets.
    t.equal(offer.len, 8 + 8 + Math.ceil((40 + 48 + 2) / 4) * 4 + 16, 'the OFFER costs the first packet 48 octets');
    t.same(p.a.agent.driver.drops(), {}, 'nothing dropped at A');
    t.same(p.b.agent.driver.drops(), {}, 'nothing dropped at B');
  });
}
