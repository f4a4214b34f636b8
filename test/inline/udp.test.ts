/**
 * The draft's TCP example (README.md §2) between two agents in one process over REAL UDP on
 * 127.0.0.1 (ephemeral ports), with in-memory tunnels in place of TUN, as `keyline demo` runs:
 * the real composition (startAgent → IKE engine → userspace driver → inline engine) with the
 * system clock and real randomness. Every datagram either agent sends is recorded on its way to
 * the socket, so "zero extra messages" is checked on the wire, not only in counters:
 *
 *   A: ESP[X, INLINE{OFFER, N1, Y}, SYN]        -->
 *                                               <--  B: ESP[Y, INLINE{ANSWER, N2, N1, Z}, SYN/ACK]
 *   A: ESP[Z, ACK + data]                       -->
 *                                               <--  B: ESP[Y, ACK]
 *
 * once with an IKE parent (inline=on on both connections, scope port) and once with a static
 * parent (keying=psk-static, no IKE at all); then a second connection (another source port) must
 * get a second pair of its own, again with no IKE message.
 */
import t from 'tap';
import { startAgent, type Agent } from '../../src/agent.js';
import { nodeBackend } from '../../src/crypto/index.js';
import { MemoryTunnel } from '../../src/drivers/userspace/tun/tunnel.js';
import { UdpTransport } from '../../src/transport/udp.js';
import type { Transport } from '../../src/transport/transport.js';
import type { Endpoint } from '../../src/sa/types.js';
import type { EngineEvent } from '../../src/ike/engine.js';
import { makeLogger } from '../../src/util/log.js';
import { readU32 } from '../../src/wire/bytes.js';
import { HOST_A, HOST_B, peerConfig } from '../ike/agents.js';
import { tcp4 } from '../helpers/packets.js';
import { inl, parentSpec } from './world.js';

const SYN = 0x02;
const SYNACK = 0x12;
const ACK = 0x10;
const PSH = 0x18;

/** A datagram as it left an agent: ESP (by SPI), IKE (non-ESP marker) or a NAT keepalive. */
interface Wire {
  from: 'a' | 'b';
  kind: 'esp' | 'ike' | 'keepalive';
  spi: number;
  len: number;
}

function classify(from: 'a' | 'b', d: Uint8Array): Wire {
  if (d.length === 1 && d[0] === 0xff) return { from, kind: 'keepalive', spi: 0, len: 1 };
  const spi = d.length >= 4 ? readU32(d, 0) : 0;
  return { from, kind: spi === 0 ? 'ike' : 'esp', spi, len: d.length };
}

/** The transport with every datagram it sends recorded first. */
function recording(tr: Transport, side: 'a' | 'b', wire: Wire[]): Transport {
  return {
    local: tr.local,
    family: tr.family,
    get sendErrors() {
      return tr.sendErrors;
    },
    send: (d, to) => {
      wire.push(classify(side, d));
      tr.send(d, to);
    },
    onDatagram: (cb) => tr.onDatagram(cb),
    close: () => tr.close(),
  };
}

interface UdpSide {
  agent: Agent;
  tun: MemoryTunnel;
  events: EngineEvent[];
  log: string[];
}

interface UdpPair {
  a: UdpSide;
  b: UdpSide;
  wire: Wire[];
  stop(): Promise<void>;
}

const stubRoutes = { add: async () => {}, remove: async () => {}, clear: async () => {} };

async function udpPair(kind: 'ike' | 'static'): Promise<UdpPair> {
  // Port 0: the kernel picks free ports; the peers are configured with what it picked.
  const [ua, ub] = await Promise.all([UdpTransport.open({ addr: '127.0.0.1', port: 0 }), UdpTransport.open({ addr: '127.0.0.1', port: 0 })]);
  const wire: Wire[] = [];
  const ends = { a: ua.local, b: ub.local };
  const start = async (side: 'a' | 'b', tr: Transport): Promise<UdpSide> => {
    const [me, them]: [Endpoint, Endpoint] = side === 'a' ? [ends.a, ends.b] : [ends.b, ends.a];
    const tun = new MemoryTunnel(`${side}0`);
    const events: EngineEvent[] = [];
    const log: string[] = [];
    const spec = parentSpec(side, { scope: 'port', static: kind === 'static' });
    const parent = kind === 'static' ? { ...spec, static: { ...spec.static!, local: me, remote: them } } : spec;
    const ike = kind === 'ike' ? [peerConfig(side, { remote: them, inline: true })] : [];
    const agent = await startAgent(
      { listen: [me], tun: { name: tun.name, address: '', mtu: 1400 }, manual: [], ike, inline: [parent] },
      {
        log: makeLogger('debug', (l) => log.push(l)),
        backend: nodeBackend,
        openTunnel: async () => ({ tunnel: tun, routes: stubRoutes }),
        openTransport: async () => recording(tr, side, wire),
        onIkeEvent: (e) => events.push(e),
      },
    );
    return { agent, tun, events, log };
  };
  let b: UdpSide | undefined;
  try {
    b = await start('b', ub);
    const a = await start('a', ua);
    return { a, b, wire, stop: async () => void (await Promise.all([a.agent.stop(), b!.agent.stop()])) };
  } catch (e) {
    await b?.agent.stop();
    await Promise.all([ua.close(), ub.close()]);
    throw e;
  }
}

/** Poll `cond` on the real clock; throws with `what` after `ms`. */
async function until(cond: () => boolean, what: string, ms = 5000): Promise<void> {
  for (const end = Date.now() + ms; !cond(); ) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

const ikeMessages = (p: UdpPair) => [...p.a.events, ...p.b.events].filter((e) => e.type === 'message').length;
const espLen = (inner: number) => 8 + 8 + Math.ceil((inner + 2) / 4) * 4 + 16; // AES-GCM: SPI, seq, IV, padded payload + trailer, ICV

for (const kind of ['ike', 'static'] as const) {
  t.test(`the draft's TCP example over UDP on loopback with a${kind === 'ike' ? 'n IKE' : ' static'} parent`, async (t) => {
    const p = await udpPair(kind);
    t.teardown(() => p.stop());
    let carrierOut: number;
    if (kind === 'ike') {
      await until(() => p.a.agent.ike.sas()[0]?.children.length === 1 && p.b.agent.ike.sas()[0]?.children.length === 1, 'the IKE SA and its child on both sides');
      const sa = p.a.agent.ike.sas()[0]!;
      t.ok(sa.inline, 'inline keying negotiated in IKE_AUTH');
      t.ok(p.b.agent.ike.sas()[0]!.inline, 'and on the responder');
      carrierOut = sa.children[0]!.spiOut;
      const m = ikeMessages(p);
      t.equal(m, 8, 'the parent cost IKE_SA_INIT + IKE_AUTH: four messages, seen sent and received');
    } else {
      t.equal(p.a.agent.ike.sas().length + p.b.agent.ike.sas().length, 0, 'no IKE at all');
      carrierOut = -1; // learnt from the first datagram; checked against B's side below
    }
    const ikeBefore = ikeMessages(p);
    p.wire.length = 0;
    const A = inl(p.a);
    const B = inl(p.b);
    const data = new TextEncoder().encode('GET / HTTP/1.0\r\n\r\n');

    // 1. SYN: the OFFER rides on it, in the carrier.
    p.a.tun.inject(tcp4(HOST_A, HOST_B, 40000, 80, SYN));
    await until(() => p.b.tun.written.length === 1, 'the SYN at B');
    t.equal(A.counters.spawned, 1, 'A offered');
    t.equal(B.counters.answered, 1, 'B answered: outbound Y and inbound Z keyed');
    const flowA = A.flowList()[0]!;
    const y = flowA.inSa.spec.spi;
    const offer = p.wire[0]!;
    if (kind === 'ike') t.equal(offer.spi, carrierOut, 'the OFFER went on the carrier (the IKE child SA)');
    else t.ok(offer.spi !== y && offer.spi >= 256, `the OFFER went on the static carrier SPI 0x${offer.spi.toString(16)}`);
    t.equal(offer.len, espLen(40 + 48), 'the OFFER costs the 40-octet SYN exactly 48 octets');

    // 2. SYN/ACK: the ANSWER rides on it, inside Y.
    p.b.tun.inject(tcp4(HOST_B, HOST_A, 80, 40000, SYNACK));
    await until(() => p.a.tun.written.length === 1, 'the SYN/ACK at A');
    const answer = p.wire[1]!;
    t.equal(answer.from, 'b');
    t.equal(answer.spi, y, 'B answered on Y, the SPI A announced');
    t.equal(answer.len, espLen(40 + 64), 'the ANSWER costs the SYN/ACK exactly 64 octets');
    t.equal(A.counters.acknowledged, 1, 'A keyed outbound Z from the answer');
    const z = flowA.outSa!.spec.spi;

    // 3. ACK + data on Z; 4. B's ACK on Y without a header.
    p.a.tun.inject(tcp4(HOST_A, HOST_B, 40000, 80, PSH, data));
    await until(() => p.b.tun.written.length === 2, 'the data at B');
    t.equal(p.wire[2]!.spi, z, 'A sends on Z, no header');
    t.equal(p.wire[2]!.len, espLen(40 + data.length), 'no header on the data');
    t.equal(B.counters.acknowledged, 1, 'B saw Z used: the pair is complete');
    p.b.tun.inject(tcp4(HOST_B, HOST_A, 80, 40000, ACK));
    await until(() => p.a.tun.written.length === 2, "B's ACK at A");
    t.equal(p.wire[3]!.spi, y, 'B sends on Y');
    t.equal(p.wire[3]!.len, espLen(40), "no header on B's later packets");
    t.same(
      p.wire.map((w) => `${w.from}:${w.kind}`),
      ['a:esp', 'b:esp', 'a:esp', 'b:esp'],
      'four datagrams on the wire for four packets: zero extra messages',
    );
    t.equal(ikeMessages(p), ikeBefore, 'no IKE message for the new SAs');
    t.same(new Uint8Array(p.b.tun.written[1]!).subarray(-data.length), data, 'the data arrived intact');

    // A second connection (another source port) gets a pair of its own, again for free.
    p.a.tun.inject(tcp4(HOST_A, HOST_B, 40001, 80, SYN));
    await until(() => p.b.tun.written.length === 3, 'the second SYN at B');
    p.b.tun.inject(tcp4(HOST_B, HOST_A, 80, 40001, SYNACK));
    await until(() => p.a.tun.written.length === 3, 'the second SYN/ACK at A');
    p.a.tun.inject(tcp4(HOST_A, HOST_B, 40001, 80, PSH, data));
    await until(() => p.b.tun.written.length === 4, 'the second data at B');
    t.equal(A.counters.spawned, 2, 'A offered a second flow');
    t.equal(B.counters.answered, 2, 'B answered it');
    t.equal(B.counters.acknowledged, 2, 'and saw its Z used');
    const pairs = A.flowList().map((f) => [f.inSa.spec.spi, f.outSa?.spec.spi]);
    t.equal(pairs.length, 2, 'two flows at A');
    t.equal(new Set(pairs.flat()).size, 4, `four distinct SPIs: ${JSON.stringify(pairs.map((x) => x.map((s) => s?.toString(16))))}`);
    t.equal(p.wire[4]!.spi, kind === 'ike' ? carrierOut : offer.spi, 'its OFFER went on the carrier too');
    t.equal(p.wire.filter((w) => w.kind !== 'esp').length, 0, 'no IKE message and no keepalive on the wire');
    t.equal(p.wire.length, 7, 'seven datagrams for seven packets');
    t.equal(ikeMessages(p), ikeBefore, 'still no IKE message');
    t.same(p.a.agent.driver.drops(), {}, 'nothing dropped at A');
    t.same(p.b.agent.driver.drops(), {}, 'nothing dropped at B');
  });
}
