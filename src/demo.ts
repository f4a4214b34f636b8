/**
 * `npm start` / `keyline demo`: two keyline agents in one process, each with the userspace ESP
 * driver on a real UDP socket on loopback and an in-memory tunnel standing in for its TUN
 * device (no root needed). Hosts behind them ping each other through ESP-in-UDP; then the demo
 * replays, corrupts and forges packets and shows that each is dropped and counted.
 * The keys are fresh random bytes on every run, so sequence-number IVs never repeat under a key;
 * configured manual keys are held to the CBC suites instead (RFC 8221 §5, see the key file).
 */
import { UserspaceDriver } from './drivers/userspace/driver.js';
import { MemoryTunnel } from './drivers/userspace/tun/tunnel.js';
import { UdpTransport } from './transport/udp.js';
import type { Transport } from './transport/transport.js';
import { autoBackend } from './crypto/index.js';
import { manualSas, mirror, keyLength, type ManualPeer } from './sa/manual.js';
import { prefix, subnetSelector, addrText } from './sa/selector.js';
import { parseIp } from './sa/ip.js';
import { icmpEcho } from './sa/icmp.js';
import { spiText } from './sa/sad.js';
import { endpointText } from './transport/transport.js';
import type { CipherSuite } from './crypto/types.js';

const SUITE: CipherSuite = 'aes256gcm16';
const PINGS = 5;

export async function demo(args: string[]): Promise<number> {
  const suite = (args[0] as CipherSuite | undefined) ?? SUITE;
  const backend = autoBackend;
  const [ua, ub] = await Promise.all([UdpTransport.open({ addr: '127.0.0.1', port: 0 }), UdpTransport.open({ addr: '127.0.0.1', port: 0 })]);
  const sent: Uint8Array[] = [];
  const capture = recording(ua, sent);
  const tunA = new MemoryTunnel('kl-a');
  const tunB = new MemoryTunnel('kl-b');
  const a = new UserspaceDriver({ transports: [capture], tunnel: tunA, backend });
  const b = new UserspaceDriver({ transports: [ub], tunnel: tunB, backend });
  try {
    const m: ManualPeer = {
      peer: 'b',
      reqid: 1,
      suite,
      mode: 'tunnel',
      esn: true,
      replayWindow: 64,
      spiIn: await a.allocSpi(),
      spiOut: await b.allocSpi(),
      keyIn: backend.randomBytes(keyLength(suite)),
      keyOut: backend.randomBytes(keyLength(suite)),
      local: ua.local,
      remote: ub.local,
      selectors: [subnetSelector(prefix('198.51.100.0/24'), prefix('203.0.113.0/24'))],
    };
    await install(a, manualSas(m));
    await install(b, manualSas(mirror(m, 'a')));
    console.log(`keyline demo: ESP in UDP (RFC 4303, RFC 3948), ${suite}, fresh random keys, ${backend.name} crypto`);
    console.log(`  agent a  ${endpointText(ua.local)}  protects 198.51.100.0/24  SPI in ${spiText(m.spiIn)} out ${spiText(m.spiOut)}`);
    console.log(`  agent b  ${endpointText(ub.local)}  protects 203.0.113.0/24  SPI in ${spiText(m.spiOut)} out ${spiText(m.spiIn)}\n`);

    answerPings(tunB);
    for (let i = 1; i <= PINGS; i++) tunA.inject(icmpEcho('198.51.100.10', '203.0.113.10', 1, i, new Uint8Array(56)));
    await until(() => tunA.written.length >= PINGS);
    console.log(`198.51.100.10 -> 203.0.113.10: ${PINGS} echo requests, ${tunA.written.length} replies through the tunnel`);

    console.log('an attacker on the path replays a captured packet, forges one with a fresh sequence number, sends an unknown SPI');
    const [first, second] = sent;
    if (first && second) {
      ua.send(first, ub.local);
      const bad = second.slice();
      bad[6] = 0x01; // sequence number 256: passes the replay check, fails the ICV
      ua.send(bad, ub.local);
      const forged = second.slice();
      forged[0]! ^= 0x80;
      ua.send(forged, ub.local);
    }
    await sleep(100);
    printTable(a, b, m);
    return tunA.written.length === PINGS ? 0 : 1;
  } finally {
    await a.close();
    await b.close();
  }
}

async function install(d: UserspaceDriver, s: ReturnType<typeof manualSas>): Promise<void> {
  await d.addSa(s.inbound);
  await d.addSa(s.outbound);
  for (const p of s.policies) await d.addPolicy(p);
}

function printTable(a: UserspaceDriver, b: UserspaceDriver, m: ManualPeer): void {
  const rows: string[][] = [['agent', 'dir', 'SPI', 'suite', 'packets', 'bytes', 'drops']];
  for (const [name, d, inSpi, outSpi] of [['a', a, m.spiIn, m.spiOut], ['b', b, m.spiOut, m.spiIn]] as const) {
    for (const [dir, spi] of [['out', outSpi], ['in', inSpi]] as const) {
      const c = d.counters(dir, spi);
      const drops = Object.entries(c?.drops ?? {}).map(([k, v]) => `${k}=${v}`).join(' ') || '-';
      rows.push([name, dir, spiText(spi), m.suite, String(c?.packets ?? 0), String(c?.bytes ?? 0), drops]);
    }
    const other = Object.entries(d.drops()).map(([k, v]) => `${k}=${v}`).join(' ') || '-';
    rows.push([name, '-', '(no SA)', '', '', '', other]);
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

async function until(cond: () => boolean, ms = 3000): Promise<void> {
  for (const end = Date.now() + ms; !cond() && Date.now() < end; ) await sleep(10);
}
