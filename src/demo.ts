/**
 * `npm start` / `keyline demo`: two keyline agents in one process, each with the IKEv2 engine and
 * the userspace ESP driver on a real UDP socket on loopback, and an in-memory tunnel standing in
 * for its TUN device (no root needed). They set up an IKE SA and a child SA with a pre-shared key
 * (the exchange is printed message by message), hosts behind them ping each other through
 * ESP-in-UDP, the child SA is rekeyed, and then forged and replayed packets are dropped and
 * counted.
 */
import { startAgent, type Agent, type AgentPlan } from './agent.js';
import { MemoryTunnel } from './drivers/userspace/tun/tunnel.js';
import { UdpTransport } from './transport/udp.js';
import type { Transport } from './transport/transport.js';
import { autoBackend } from './crypto/index.js';
import { prefix, subnetSelector, addrText } from './sa/selector.js';
import { parseIp } from './sa/ip.js';
import { icmpEcho } from './sa/icmp.js';
import { spiText } from './sa/sad.js';
import { endpointText } from './transport/transport.js';
import { ID_TYPE, EXCHANGE } from './ike/constants.js';
import type { EngineEvent } from './ike/engine.js';
import type { IkePeer } from './ike/peer.js';
import { parseEspProposals, parseIkeProposals } from './ike/proposals.js';
import { startChildRekey } from './ike/tasks/child.js';
import { name } from './wire/iana.js';
import { readU32 } from './wire/bytes.js';
import { silentLogger } from './util/log.js';
import type { Flow, ParentSpec } from './inline/engine.js';

const PINGS = 5;
const NET = { a: '198.51.100.0/24', b: '203.0.113.0/24' } as const;
const INLINE_NET = { a: '198.51.100.128/25', b: '203.0.113.128/25' } as const;
const FLOWS = 3;

export async function demo(args: string[]): Promise<number> {
  const ike = args[0] ?? 'aes256gcm16-prfsha256-x25519';
  const esp = args[1] ?? 'aes256gcm16';
  const backend = autoBackend;
  const [ua, ub] = await Promise.all([UdpTransport.open({ addr: '127.0.0.1', port: 0 }), UdpTransport.open({ addr: '127.0.0.1', port: 0 })]);
  const sent: Uint8Array[] = [];
  const tunA = new MemoryTunnel('kl-a');
  const tunB = new MemoryTunnel('kl-b');
  const psk = backend.randomBytes(32);
  const trace: string[] = [];
  const peer = (side: 'a' | 'b'): IkePeer => {
    const [me, them] = side === 'a' ? (['a', 'b'] as const) : (['b', 'a'] as const);
    return {
      name: `gw-${them}`,
      reqid: 1,
      remote: side === 'a' ? ub.local : ua.local,
      localId: fqdn(`gw-${me}.example`),
      remoteId: fqdn(`gw-${them}.example`),
      psk,
      ike: parseIkeProposals(ike),
      esp: parseEspProposals(esp),
      mode: 'tunnel',
      selectors: [subnetSelector(prefix(NET[me]), prefix(NET[them]))],
      ikeLifetime: 4 * 3600,
      childLifetime: 3600,
      rekeyMargin: 540,
      dpd: 30,
      start: side === 'a' ? 'initiate' : 'wait',
      replayWindow: 64,
      inline: true,
    };
  };
  // Inline keying for the upper halves of the two subnets: hosts there get SA pairs of their own.
  const inline = (side: 'a' | 'b'): ParentSpec => {
    const [me, them] = side === 'a' ? (['a', 'b'] as const) : (['b', 'a'] as const);
    return {
      reqid: 1,
      peer: `gw-${them}`,
      scope: 'host-pair',
      suite: 'aes256gcm16',
      lifetime: 600,
      idle: 120,
      maxSpawn: 10_000,
      selectors: [subnetSelector(prefix(INLINE_NET[me]), prefix(INLINE_NET[them]))],
      replayWindow: 64,
      pathMtu: 1500,
    };
  };
  const start = (side: 'a' | 'b', t: Transport, tun: MemoryTunnel): Promise<Agent> => {
    const plan: AgentPlan = { listen: [t.local], tun: { name: tun.name, address: '', mtu: 1400 }, manual: [], ike: [peer(side)], inline: [inline(side)] };
    return startAgent(plan, {
      log: silentLogger,
      backend,
      openTransport: async () => t,
      openTunnel: async () => ({ tunnel: tun, routes: { add: async () => {}, remove: async () => {}, clear: async () => {} } }),
      ...(side === 'a' && { onIkeEvent: (e: EngineEvent) => traceLine(e, trace) }),
    });
  };
  const b = await start('b', ub, tunB);
  const a = await start('a', recording(ua, sent), tunA);
  try {
    console.log(`keyline demo: IKEv2 (RFC 7296) with a pre-shared key, then ESP in UDP (RFC 4303, RFC 3948); ${backend.name} crypto`);
    console.log(`  agent a  ${endpointText(ua.local)}  protects ${NET.a}   IKE ${ike}  ESP ${esp}`);
    console.log(`  agent b  ${endpointText(ub.local)}  protects ${NET.b}\n`);
    await until(() => childOf(a) !== undefined && childOf(b) !== undefined);
    printTrace(trace, 'set-up');
    const ca = childOf(a);
    if (!ca) return fail(a, 'the IKE SA did not come up');
    const sa = a.ike.sas()[0]!;
    console.log(`\nIKE SA ${sa.spiI.toString(16)}_${sa.spiR.toString(16)} established: ${sa.proposal!.suite} prf${sa.proposal!.prf} group ${sa.proposal!.group}, peer ${sa.peerId}`);
    console.log(`child SA in ${spiText(ca.spiIn)} out ${spiText(ca.spiOut)} ${ca.proposal.suite}, ${NET.a} <-> ${NET.b}\n`);

    answerPings(tunB);
    for (let i = 1; i <= PINGS; i++) tunA.inject(icmpEcho('198.51.100.10', '203.0.113.10', 1, i, new Uint8Array(56)));
    await until(() => tunA.written.length >= PINGS);
    console.log(`198.51.100.10 -> 203.0.113.10: ${PINGS} echo requests, ${tunA.written.length} replies through the tunnel`);

    startChildRekey(a.ike, sa, ca);
    await until(() => childOf(a) !== undefined && childOf(a)!.spiIn !== ca.spiIn && sa.children.length === 1);
    printTrace(trace, 'child SA rekey (make-before-break, then DELETE of the old pair)');
    const rekeyed = childOf(a)!;
    console.log(`now child SA in ${spiText(rekeyed.spiIn)} out ${spiText(rekeyed.spiOut)}`);
    for (let i = 1; i <= PINGS; i++) tunA.inject(icmpEcho('198.51.100.10', '203.0.113.10', 1, PINGS + i, new Uint8Array(56)));
    await until(() => tunA.written.length >= 2 * PINGS);
    console.log(`${PINGS} more pings on the new SA: ${tunA.written.length - PINGS} replies\n`);

    const pinged = tunA.written.length;
    const inlineOk = await showInline(a, tunA, sent, trace);

    console.log('an attacker on the path replays a captured ESP packet, forges one with a fresh sequence number, sends an unknown SPI');
    const onChild = childOf(a)!.spiOut; // ESP of the child SA (not IKE, not an inline flow)
    const esps = sent.filter((d) => d.length > 8 && readU32(d, 0) === onChild);
    const [x, y] = esps.slice(-2);
    if (x && y) {
      ua.send(x, ub.local);
      const bad = y.slice();
      bad[6] = 0x01; // sequence number 2^16+: passes the replay check, fails the ICV
      ua.send(bad, ub.local);
      const forged = y.slice();
      forged[0]! ^= 0x80;
      ua.send(forged, ub.local);
    }
    await sleep(100);
    printTable(a, b);
    return pinged === 2 * PINGS && inlineOk ? 0 : 1;
  } finally {
    await a.stop();
    await b.stop();
  }
}

/**
 * Inline keying (src/inline/README.md): hosts in the upper halves of the subnets ping each
 * other; each host pair gets its own SA pair from a header riding on its first packet (OFFER, on
 * the child SA) and on the reply (ANSWER, on the new SA), with no IKE message.
 */
async function showInline(a: Agent, tunA: MemoryTunnel, sent: Uint8Array[], trace: string[]): Promise<boolean> {
  console.log(`inline keying (${INLINE_NET.a} <-> ${INLINE_NET.b}): each host pair gets its own SA pair, keyed by a header on its first packet`);
  const ikeBefore = trace.length;
  const sentBefore = sent.length;
  const repliesBefore = tunA.written.length;
  for (let h = 1; h <= FLOWS; h++) {
    const [src, dst] = [`198.51.100.${200 + h}`, `203.0.113.${200 + h}`];
    const at = sent.length;
    for (let i = 1; i <= 2; i++) {
      tunA.inject(icmpEcho(src, dst, 2, i, new Uint8Array(56)));
      await until(() => tunA.written.length >= repliesBefore + 2 * (h - 1) + i);
    }
    const f = inlineFlows(a).find((x) => addrText(x.inSa.spec.selectors[0]!.local.addr) === src);
    const sizes = sent.slice(at).map((d) => d.length);
    console.log(`  ${src} -> ${dst}: SA pair in ${spiText(f?.inSa.spec.spi ?? 0)} out ${spiText(f?.outSa?.spec.spi ?? 0)}; a's datagrams ${sizes.join(', ')} octets (the first carries the 48-octet OFFER, the second rides on the new SA)`);
  }
  const datagrams = sent.length - sentBefore;
  const pairs = inlineFlows(a).filter((f) => f.state === 'established').length;
  console.log(`  ${FLOWS} flows, ${pairs} SA pairs, ${trace.length - ikeBefore} IKE messages, ${datagrams} datagrams from a for ${2 * FLOWS} pings\n`);
  return pairs === FLOWS && trace.length === ikeBefore && tunA.written.length === repliesBefore + 2 * FLOWS;
}

const inlineFlows = (ag: Agent) => (ag.driver as { inline?: { flowList(): readonly Flow[] } }).inline?.flowList() ?? [];

const fqdn = (s: string) => ({ type: ID_TYPE.ID_FQDN, data: new TextEncoder().encode(s) });

const childOf = (ag: Agent) => ag.ike.sas().find((s) => s.fsm.is('established'))?.children.at(-1);

function fail(a: Agent, why: string): number {
  console.error(`demo failed: ${why}; drops ${JSON.stringify(a.ike.drops.byReason)}`);
  return 1;
}

function traceLine(e: EngineEvent, out: string[]): void {
  if (e.type !== 'message') return;
  const arrow = e.dir === 'out' ? 'a -> b' : 'a <- b';
  out.push(`  ${arrow}  ${name(EXCHANGE, e.exchange).padEnd(15)} ${(e.response ? 'response' : 'request').padEnd(8)} #${e.messageId}  ${String(e.bytes).padStart(4)} B  ${e.payloads.join(' ')}`);
}

function printTrace(trace: string[], title: string): void {
  const lines = trace.splice(0);
  console.log(`${title}: ${lines.filter((l) => l.includes('request')).length} exchanges, ${lines.length} messages`);
  for (const l of lines) console.log(l);
}

function printTable(a: Agent, b: Agent): void {
  const rows: string[][] = [['agent', 'dir', 'SPI', 'suite', 'packets', 'bytes', 'drops']];
  for (const [n, ag] of [['a', a], ['b', b]] as const) {
    const c = childOf(ag);
    if (!c) continue;
    for (const [dir, spi] of [['out', c.spiOut], ['in', c.spiIn]] as const) {
      const k = ag.driver.counters(dir, spi);
      const drops = Object.entries(k?.drops ?? {}).map(([r, v]) => `${r}=${v}`).join(' ') || '-';
      rows.push([n, dir, spiText(spi), c.proposal.suite, String(k?.packets ?? 0), String(k?.bytes ?? 0), drops]);
    }
    const other = Object.entries(ag.driver.drops()).map(([r, v]) => `${r}=${v}`).join(' ') || '-';
    rows.push([n, '-', '(no SA)', '', '', '', other]);
  }
  const w = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  console.log('\n' + rows.map((r) => r.map((c, i) => c.padEnd(w[i]!)).join('  ')).join('\n'));
}

/** Host B: answer every ICMP echo request that comes out of its tunnel. */
function answerPings(tun: MemoryTunnel): void {
  let seen = 0;
  const poll = setInterval(() => {
    for (; seen < tun.written.length; seen++) {
      const ip = parseIp(tun.written[seen]!);
      if (ip?.proto !== 1) continue;
      const icmp = tun.written[seen]!.subarray(ip.headerLen);
      tun.inject(icmpEcho(addrText(ip.dst), addrText(ip.src), 1, (icmp[6]! << 8) | icmp[7]!, new Uint8Array(56), true));
    }
  }, 5);
  poll.unref();
}

function recording(t: Transport, log: Uint8Array[]): Transport {
  return {
    local: t.local,
    family: t.family,
    get sendErrors() {
      return t.sendErrors;
    },
    send: (d, to) => (log.push(d.slice()), t.send(d, to)),
    onDatagram: (cb) => t.onDatagram(cb),
    close: () => t.close(),
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(cond: () => boolean, ms = 5000): Promise<void> {
  for (const end = Date.now() + ms; !cond() && Date.now() < end; ) await sleep(10);
}
