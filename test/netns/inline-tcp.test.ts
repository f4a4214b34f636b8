/**
 * Inline keying end to end with a REAL TCP connection: two `keyline run` processes (the built
 * bundle) in two network namespaces joined by a veth pair (192.0.2.1 <-> 192.0.2.2), each with
 * a TUN device through the socat bridge, once with `keying=psk-static` and once with
 * `keying=ike` + `inline=on`, both with `inline-scope=port`. A TCP echo server runs in B's
 * namespace on B's inner address, a client in A's namespace opens two connections one after the
 * other (two source ports: two flows in port scope), sends some KB on each and reads the echo.
 *
 * What is checked, and how:
 * - on the wire: every frame on A's veth0 is copied (socat INTERFACE:veth0, a packet socket, one
 *   datagram per frame) to a small collector in A's namespace, which prints the outer UDP header
 *   and the SPI (or the non-ESP marker of IKE). While the TCP connections run, the datagrams must
 *   be ESP only (no IKE message, no port 500), the carrier must carry exactly the two first
 *   packets (the SYNs with their OFFERs) and nothing from B, and the rest must travel on exactly
 *   two new SPIs per direction: each connection got its own inline SA pair;
 * - in the agents' debug logs: the number of IKE message lines does not change (with the static
 *   parent there are none at all); no error lines;
 * - the static carrier's SPI is computed here from the PSK (src/inline/README.md §7.2) and must be
 *   the one on the wire;
 * - `keyline show --json` (the control socket), when this build has it: the carrier child SA's
 *   counters agree with the wire; drops have no authentication or replay failures.
 *
 * Root only; a missing prerequisite fails loudly, never skips. Namespaces, processes and files
 * are cleaned up also on failure (processes by the PIDs we started).
 */
import t from 'tap';
import type * as Tap from 'tap';
import { writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { createHmac, randomBytes } from 'node:crypto';
import { agentTestbed, execIn, registerCleanup, run, spawnIn, type NamespacePair, type Proc } from './ns.js';

const BUNDLE = resolve('dist/keyline.js');
const NET = { a: '198.51.100', b: '203.0.113' } as const;
const ECHO_PORT = 7007;
const CONNECTIONS = 2;
const BYTES = 48 * 1024;
const COLLECT_PORT = 39_999;

type Kind = 'psk-static' | 'ike';

function keyFile(dir: string, side: 'a' | 'b', kind: Kind, addr: { me: string; peer: string }, psk: Buffer): string {
  const [me, them] = side === 'a' ? (['a', 'b'] as const) : (['b', 'a'] as const);
  const path = join(dir, `${me}-${kind}.keys`);
  const nets = `local-net=${NET[me]}.0/24 remote-net=${NET[them]}.0/24 inline-scope=port`;
  const lines =
    kind === 'psk-static'
      ? [
          `local listen=${addr.me}:4500 tun=kl0 tun-addr=${NET[me]}.1/24 log-level=debug`,
          `peer ${them} keying=psk-static psk=base64:${psk.toString('base64')} addr=${addr.peer}:4500`,
          `    ${nets}`,
        ]
      : [
          `local id=fqdn:${me}.example listen=${addr.me}:500,${addr.me}:4500 tun=kl0 tun-addr=${NET[me]}.1/24 log-level=debug`,
          `peer ${them} addr=${addr.peer} id=fqdn:${them}.example psk=base64:${psk.toString('base64')} dpd=off`,
          `    ${nets} start=${side === 'a' ? 'initiate' : 'wait'} inline=on`,
        ];
  writeFileSync(path, [`# ${me}-${kind}.keys: written by inline-tcp.test.ts`, ...lines, ''].join('\n'), { mode: 0o600 });
  return path;
}

/** src/inline/README.md §7.2: the static carrier SPI from the PSK, computed independently. */
function staticCarrierSpi(psk: Buffer): number {
  const s0 = createHmac('sha256', psk).update('keyline inline psk-static').digest();
  const v = createHmac('sha256', s0).update('keyline inline carrier spi').digest().readUInt32BE(0);
  return 256 + (v % (2 ** 32 - 256));
}

/** One outer datagram seen on A's veth0, as the collector prints it. */
interface Frame {
  /** out: sent by A (192.0.2.1); in: sent by B. */
  dir: 'out' | 'in';
  sport: number;
  dport: number;
  /** esp (SPI), ike (non-ESP marker, or port 500), keepalive (one 0xff octet). */
  kind: 'esp' | 'ike' | 'keepalive';
  spi: number;
  len: number;
}

/** Copies each frame of A's veth0 to the collector; the collector prints IPv4/UDP ones as JSON. */
const COLLECTOR = `
const d = require('dgram').createSocket('udp4');
d.on('message', (m) => {
  if (m.length < 42 || m.readUInt16BE(12) !== 0x0800) return;
  const ip = 14, ihl = (m[ip] & 15) * 4;
  if (m[ip + 9] !== 17) return;
  const u = ip + ihl, sport = m.readUInt16BE(u), dport = m.readUInt16BE(u + 2), p = m.subarray(u + 8);
  const src = [...m.subarray(ip + 12, ip + 16)].join('.');
  const kind = sport === 500 || dport === 500 ? 'ike' : p.length === 1 && p[0] === 0xff ? 'keepalive' : p.length >= 4 && p.readUInt32BE(0) === 0 ? 'ike' : 'esp';
  const spi = kind === 'esp' && p.length >= 4 ? p.readUInt32BE(0) : 0;
  console.log(JSON.stringify({ dir: src === process.argv[1] ? 'out' : 'in', sport, dport, kind, spi, len: p.length }));
});
d.bind(${COLLECT_PORT}, '127.0.0.1', () => console.log('collector bound'));
`;

/** Echo server on B's inner address; prints 'listening'. */
const SERVER = `
const srv = require('net').createServer((s) => {
  s.on('data', (d) => s.write(d));
  s.on('end', () => s.end());
  s.on('error', () => s.destroy());
});
srv.listen(${ECHO_PORT}, process.argv[1], () => console.log('listening'));
`;

/**
 * Client in A: CONNECTIONS connections one after the other from A's inner address, each sends
 * BYTES and half-closes, reads the echo to the end and compares; one JSON line per connection.
 * A watchdog ends it (exit 3) if anything hangs.
 */
const CLIENT = `
const net = require('net'), crypto = require('crypto');
const [host, local, n, bytes] = [process.argv[1], process.argv[2], Number(process.argv[3]), Number(process.argv[4])];
setTimeout(() => { console.log(JSON.stringify({ error: 'client timed out' })); process.exit(3); }, 25000).unref();
function one(i) {
  return new Promise((resolve) => {
    const data = crypto.randomBytes(bytes), got = [];
    const t0 = Date.now();
    let localPort;
    const s = net.connect({ host, port: ${ECHO_PORT}, localAddress: local }, () => { localPort = s.localPort; s.write(data); s.end(); });
    s.on('data', (d) => got.push(d));
    s.on('error', (e) => resolve({ i, error: e.message }));
    s.on('close', () => {
      const echo = Buffer.concat(got);
      resolve({ i, localPort, sent: bytes, received: echo.length, same: echo.equals(data), ms: Date.now() - t0 });
    });
  });
}
(async () => {
  let ok = true;
  for (let i = 0; i < n; i++) {
    const r = await one(i);
    console.log(JSON.stringify(r));
    ok = ok && r.same === true;
  }
  console.log('done');
  process.exit(ok ? 0 : 1);
})();
`;

async function waitLog(agent: Proc, re: RegExp, what: string, ms = 15_000): Promise<void> {
  for (const end = Date.now() + ms; Date.now() < end; ) {
    if (re.test(agent.stderr())) return;
    if (!agent.running()) throw new Error(`keyline exited early waiting for ${what}:\n${agent.stderr()}`);
    await sleep(100);
  }
  throw new Error(`no ${what} after ${ms / 1000} s:\n${agent.stderr().split('\n').slice(-30).join('\n')}`);
}

/** Until the agent's route into kl0 for the remote net is there (routes follow the policies). */
async function waitRoute(ns: string, prefix: string, agent: Proc, ms = 15_000): Promise<void> {
  for (const end = Date.now() + ms; Date.now() < end; ) {
    const r = await execIn(ns, ['ip', 'route', 'show', prefix], { allowFail: true });
    if (r.stdout.includes('kl0') && agent.stderr().includes('keyline: listening on')) return;
    if (!agent.running()) throw new Error(`keyline exited early:\n${agent.stderr()}`);
    await sleep(100);
  }
  throw new Error(`no route to ${prefix} via kl0 after ${ms / 1000} s:\n${agent.stderr().split('\n').slice(-30).join('\n')}`);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** `p`, or undefined after `ms` (the timer is cleared either way: nothing keeps the test alive). */
async function within<T>(p: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<undefined>((r) => (timer = setTimeout(() => r(undefined), ms)));
  try {
    return await Promise.race([p, late]);
  } finally {
    clearTimeout(timer);
  }
}

const IKE_LINE = /: (sent|got) [A-Z_]+ (request|response) \d+ \[/;
const ikeLines = (agent: Proc) => agent.stderr().split('\n').filter((l) => IKE_LINE.test(l)).length;
const errorLines = (agent: Proc) => agent.stderr().split('\n').filter((l) => /error:/.test(l));
const hex = (n: number) => '0x' + n.toString(16).padStart(8, '0');

/** Whether this build's `keyline run` takes --socket (the control socket, src/control/); without it the test still runs. */
async function hasControlSocket(): Promise<boolean> {
  const r = await run([process.execPath, BUNDLE, 'help'], { allowFail: true, timeoutMs: 10_000 });
  return /--socket/.test(r.stdout) && /\bshow\b/.test(r.stdout);
}

interface Testbed {
  pair: NamespacePair;
  dir: string;
  frames: Frame[];
  start(side: 'a' | 'b', file: string): Proc;
  socket(side: 'a' | 'b'): string | undefined;
}

async function testbed(t: Tap.Test, control: boolean): Promise<Testbed> {
  const { pair, dir } = await agentTestbed(t, BUNDLE, 'keyline-inline-tcp-');
  // The wire tap first, so that it sees everything the agents send.
  const frames: Frame[] = [];
  const collector = spawnIn(pair.a, [process.execPath, '-e', COLLECTOR, pair.addrA]);
  registerCleanup(t, () => collector.stop());
  collector.onLine((l) => {
    if (l.startsWith('{')) frames.push(JSON.parse(l) as Frame);
  });
  await collector.waitFor(/collector bound/, { timeoutMs: 10_000 });
  const tapper = spawnIn(pair.a, ['socat', '-u', '-b', '65536', `INTERFACE:${pair.ifname}`, `UDP-SENDTO:127.0.0.1:${COLLECT_PORT}`]);
  registerCleanup(t, () => tapper.stop());
  // The tap works when a datagram A sends shows up (to a port nobody listens on; ESP-like, not IKE).
  for (let i = 0; i < 50 && !frames.some((f) => f.dport === 9 && f.dir === 'out'); i++) {
    await execIn(pair.a, [process.execPath, '-e', `require('dgram').createSocket('udp4').send(Buffer.from([1,2,3,4]), 9, '${pair.addrB}', () => process.exit(0))`], { allowFail: true });
    await sleep(100);
  }
  if (!frames.some((f) => f.dport === 9 && f.dir === 'out')) throw new Error(`the wire tap (socat INTERFACE:${pair.ifname}) sees nothing:\n${tapper.stderr()}${collector.stderr()}`);
  return {
    pair,
    dir,
    frames,
    socket: (side) => (control ? join(dir, `${side}.sock`) : undefined),
    start(side, file) {
      const sock = control ? ['--socket', join(dir, `${side}.sock`)] : [];
      const agent = spawnIn(side === 'a' ? pair.a : pair.b, [process.execPath, BUNDLE, 'run', '--config', file, ...sock]);
      registerCleanup(t, () => agent.stop());
      return agent;
    },
  };
}

/** `keyline show --json` of one agent, or why not. */
async function show(sock: string | undefined): Promise<{ status?: Status; why?: string }> {
  if (!sock) return { why: 'this build has no control socket' };
  const r = await run([process.execPath, BUNDLE, 'show', '--json', '--socket', sock], { allowFail: true, timeoutMs: 15_000 });
  if (r.code !== 0) return { why: `keyline show exited ${r.code}: ${r.stderr.trim()}` };
  try {
    return { status: JSON.parse(r.stdout) as Status };
  } catch {
    return { why: `keyline show --json printed no JSON: ${r.stdout.slice(0, 200)}` };
  }
}
interface Status {
  peers?: { name: string; ikeSas?: { children?: { spiIn: string; spiOut: string; in: { packets: number }; out: { packets: number } }[] }[]; inline?: { sas?: unknown[] } }[];
  drops?: { driver?: Record<string, number> };
}

for (const kind of ['psk-static', 'ike'] as const) {
  t.test(`TCP through inline SAs with ${kind === 'ike' ? 'an IKE parent (inline=on)' : 'a psk-static parent'}, scope port: a pair per connection, no extra message`, async (t) => {
    const control = await hasControlSocket();
    const tb = await testbed(t, control);
    const { pair } = tb;
    const psk = randomBytes(32);
    const b = tb.start('b', keyFile(tb.dir, 'b', kind, { me: pair.addrB, peer: pair.addrA }, psk));
    await waitRoute(pair.b, `${NET.a}.0/24`, b);
    const a = tb.start('a', keyFile(tb.dir, 'a', kind, { me: pair.addrA, peer: pair.addrB }, psk));
    await waitRoute(pair.a, `${NET.b}.0/24`, a);

    // The carrier: the IKE child SA (its SPIs from A's log), or the static carrier SPI.
    let carrierOut: number;
    let carrierIn: number;
    if (kind === 'ike') {
      await waitLog(a, /child SA up/, "A's child SA");
      await waitLog(b, /child SA up/, "B's child SA");
      const m = /child SA up: in (0x[0-9a-f]+) out (0x[0-9a-f]+)/.exec(a.stderr())!;
      [carrierIn, carrierOut] = [Number(m[1]), Number(m[2])];
      t.ok(tb.frames.filter((f) => f.kind === 'ike').length >= 4, 'the wire tap saw the IKE set-up (IKE_SA_INIT, IKE_AUTH), both directions');
    } else {
      carrierIn = carrierOut = staticCarrierSpi(psk);
      t.equal(ikeLines(a) + ikeLines(b), 0, 'a static parent: no IKE at all');
    }
    const ikeBefore = [ikeLines(a), ikeLines(b)];
    const server = spawnIn(pair.b, [process.execPath, '-e', SERVER, `${NET.b}.1`]);
    registerCleanup(t, () => server.stop());
    await server.waitFor(/listening/, { timeoutMs: 10_000 });
    await sleep(200);
    const from = tb.frames.length;

    const client = spawnIn(pair.a, [process.execPath, '-e', CLIENT, `${NET.b}.1`, `${NET.a}.1`, String(CONNECTIONS), String(BYTES)]);
    registerCleanup(t, () => client.stop());
    const done = await within(client.exited, 30_000);
    t.ok(done, 'the client finished within 30 s');
    const results = client.lines.filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { i: number; localPort?: number; received?: number; same?: boolean; error?: string });
    t.equal(done?.code, 0, `the client exits 0:\n${client.stdout()}${client.stderr()}`);
    t.equal(results.length, CONNECTIONS, `${CONNECTIONS} connections`);
    for (const r of results) t.ok(r.same, `connection ${r.i} (source port ${r.localPort}): ${BYTES} bytes sent, ${r.received ?? r.error} echoed, identical`);
    t.equal(new Set(results.map((r) => r.localPort)).size, CONNECTIONS, 'each connection from its own source port: its own flow in port scope');
    await sleep(500); // the last frames through the tap

    // --- the wire while the connections ran ---
    const w = tb.frames.slice(from).filter((f) => f.kind !== 'keepalive');
    const out = w.filter((f) => f.dir === 'out');
    const inn = w.filter((f) => f.dir === 'in');
    t.same(
      w.filter((f) => f.kind === 'ike'),
      [],
      'no IKE message on the wire while the connections ran',
    );
    const onCarrierOut = out.filter((f) => f.spi === carrierOut);
    const onCarrierIn = inn.filter((f) => f.spi === carrierIn);
    t.equal(onCarrierOut.length, CONNECTIONS, `A's carrier (${hex(carrierOut)}) carried exactly the ${CONNECTIONS} first packets (the SYNs with their OFFERs)`);
    t.equal(onCarrierIn.length, 0, `nothing from B on the carrier (${hex(carrierIn)}): B answers inside the new SAs`);
    const zs = [...new Set(out.filter((f) => f.spi !== carrierOut).map((f) => f.spi))];
    const ys = [...new Set(inn.filter((f) => f.spi !== carrierIn).map((f) => f.spi))];
    t.equal(zs.length, CONNECTIONS, `A -> B: ${CONNECTIONS} new SPIs, one per connection (${zs.map(hex).join(', ')})`);
    t.equal(ys.length, CONNECTIONS, `B -> A: ${CONNECTIONS} new SPIs, one per connection (${ys.map(hex).join(', ')})`);
    t.same(
      [...zs, ...ys].filter((s) => s === carrierIn || s === carrierOut),
      [],
      'the new SPIs are not the carrier',
    );
    const perSpi = (list: Frame[], spi: number) => list.filter((f) => f.spi === spi).length;
    const segments = Math.ceil(BYTES / 1400);
    for (const z of zs) t.ok(perSpi(out, z) >= segments, `A -> B on ${hex(z)}: ${perSpi(out, z)} datagrams (the data rode on it)`);
    for (const y of ys) t.ok(perSpi(inn, y) >= segments, `B -> A on ${hex(y)}: ${perSpi(inn, y)} datagrams (the echo rode on it)`);
    // The first datagram of each connection is an OFFER on the carrier; the first reply is on Y.
    t.ok(
      onCarrierOut.every((f, i) => i === 0 || f.len === onCarrierOut[0]!.len),
      `the OFFERs are alike in size (${onCarrierOut.map((f) => f.len).join(', ')} octets: SYN + 48-octet header in ESP)`,
    );
    t.equal(w.length, out.length + inn.length, 'every datagram accounted for');
    t.comment(`wire during the connections: ${out.length} datagrams A -> B, ${inn.length} B -> A, ${tb.frames.slice(from).length - w.length} NAT keepalives`);

    // --- the logs ---
    t.same([ikeLines(a), ikeLines(b)], ikeBefore, `no IKE message in either debug log for the new SAs (${ikeBefore.join(' / ')} before and after)`);
    t.same(errorLines(a), [], 'no error lines at A');
    t.same(errorLines(b), [], 'no error lines at B');

    // --- the control socket, when this build has it ---
    for (const [name, s, carrier] of [['A', 'a', { out: onCarrierOut.length, in: 0 }], ['B', 'b', { out: 0, in: onCarrierOut.length }]] as const) {
      const r = await show(tb.socket(s));
      if (!r.status) {
        t.comment(`${name}: no status readout (${r.why}); the wire and the logs are the evidence`);
        continue;
      }
      const drops = r.status.drops?.driver ?? {};
      t.same(
        Object.keys(drops).filter((k) => /auth|replay|inline|policy|internal/.test(k)),
        [],
        `${name}: no authentication, replay, policy or inline drops (${JSON.stringify(drops)})`,
      );
      const child = r.status.peers?.[0]?.ikeSas?.[0]?.children?.[0];
      if (kind === 'ike' && child) {
        t.equal(child.out.packets, carrier.out, `${name}: the carrier child SA sent ${carrier.out} packets in all (keyline show)`);
        t.equal(child.in.packets, carrier.in, `${name}: and received ${carrier.in}`);
      }
      const inline = r.status.peers?.[0]?.inline?.sas;
      if (inline) t.equal(inline.length, CONNECTIONS, `${name}: keyline show lists ${CONNECTIONS} inline SA pairs`);
      else t.comment(`${name}: keyline show has no inline section for this peer`);
    }
    await a.stop();
    await b.stop();
    t.equal((await a.exited).code, 0, 'A exits 0 on SIGTERM');
    t.equal((await b.exited).code, 0, 'B exits 0 on SIGTERM');
    t.notMatch(a.stderr() + b.stderr(), new RegExp(psk.toString('hex').slice(0, 12) + '|' + psk.toString('base64').slice(0, 12).replace(/[+/]/g, '\\$&')), 'no PSK bytes in the logs');
  });
}
