/**
 * The real TUN bridge, as root, inside a namespace of its own: a Node child (bridge-child.ts)
 * opens socat + TUN + routes there; ping in the namespace sends echo requests into the TUN,
 * they reach the child as IP packets, the test answers with crafted echo replies that the child
 * writes back, and ping counts them. Then socat is killed and must come back with its route.
 * Needs root, socat, iproute2, iputils-ping: missing any fails the test (never skips).
 */
import t, { type Test } from 'tap';
import { fileURLToPath } from 'node:url';
import { bundleMain, cleanupLeftovers, createNamespace, execIn, registerCleanup, requireNetnsTools, run, spawnIn, type Proc } from './ns.js';
import type { ChildConfig } from './bridge-child.js';

const TUN_ADDR = '198.51.100.1';
const REMOTE_NET = '203.0.113.0/24';
const REMOTE_HOST = '203.0.113.7';

t.test('socat TUN bridge inside a network namespace', { timeout: 90_000 }, async (t) => {
  requireNetnsTools();
  const stale = await cleanupLeftovers();
  if (stale.length) t.comment(`removed namespaces left by crashed runs: ${stale.join(' ')}`);

  const ns = await createNamespace();
  registerCleanup(t, ns.destroy);
  const child = await bundleMain(fileURLToPath(new URL('./bridge-child.ts', import.meta.url)));
  registerCleanup(t, child.remove);
  const cfg: ChildConfig = { name: 'kl0', address: `${TUN_ADDR}/24`, routes: [REMOTE_NET] };
  const proc = spawnIn(ns.name, [process.execPath, child.file, JSON.stringify(cfg)]);
  registerCleanup(t, () => proc.stop());
  t.teardown(() => {
    if (t.passing()) return;
    t.comment(`child stderr:\n${proc.stderr()}`);
  });

  const ready = JSON.parse(await proc.waitFor(/"ev":"(ready|error)"/, { timeoutMs: 15_000 })) as { ev: string; socatPid: number; localPort: number; message?: string };
  t.equal(ready.ev, 'ready', ready.message ?? 'bridge open');
  t.ok(ready.socatPid > 0, `socat runs as pid ${ready.socatPid}`);

  const link = await linkInfo(ns.name, 'kl0');
  t.equal(link.mtu, 1400, 'MTU set');
  t.ok(link.flags.includes('UP'), 'interface up');
  t.match((await execIn(ns.name, ['ip', 'route', 'show', REMOTE_NET])).stdout, /dev kl0/, 'remote subnet routed into the TUN');

  // Host -> keyline: echo requests arrive as IP packets. keyline -> host: our replies reach ping.
  const requests: Uint8Array[] = [];
  proc.onLine((line) => {
    const m = JSON.parse(line) as { ev: string; hex?: string };
    if (m.ev !== 'packet' || !m.hex) return;
    const p = new Uint8Array(Buffer.from(m.hex, 'hex')); // a copy; Buffer#slice would share memory
    if (p[0]! >> 4 !== 4 || p[9] !== 1 || p[(p[0]! & 15) * 4] !== 8) return; // IPv4 ICMP echo request only
    requests.push(p);
    proc.write(JSON.stringify({ op: 'write', hex: Buffer.from(echoReply(p)).toString('hex') }) + '\n');
  });
  await pingOk(t, ns.name, 'first');
  const req = requests[0]!;
  t.ok(req, 'echo request seen by keyline');
  t.equal(req[0]! >> 4, 4, 'IP version 4');
  t.equal(req[9], 1, 'protocol ICMP');
  t.equal(ipText(req, 12), TUN_ADDR, 'source is the TUN address');
  t.equal(ipText(req, 16), REMOTE_HOST, 'destination is the pinged host');
  t.equal(checksum(req.subarray(0, (req[0]! & 15) * 4)), 0, 'valid IP header checksum');
  const rx = (await linkInfo(ns.name, 'kl0')).stats64.rx.packets;
  t.ok(rx >= 3, `kernel counted ${rx} packets written into kl0 by keyline`);

  // A local process sending to keyline's port from elsewhere is dropped and counted.
  await execIn(ns.name, ['sh', '-c', `printf 'E-not-a-packet' | socat -u - UDP-SENDTO:127.0.0.1:${ready.localPort}`]);
  const s1 = await stats(proc);
  t.ok(s1.counters.foreign >= 1, `foreign datagram dropped (foreign=${s1.counters.foreign})`);

  // Supervision: socat dies, comes back after the 1 s back-off, with a new device and its route.
  process.kill(ready.socatPid, 'SIGKILL'); // a process this test started (through the child)
  const s2 = await until(async () => {
    const s = await stats(proc);
    const routed = /dev kl0/.test((await execIn(ns.name, ['ip', 'route', 'show', REMOTE_NET])).stdout);
    return s.counters.restarts >= 1 && s.socatPid && s.socatPid !== ready.socatPid && routed ? s : undefined;
  }, 15_000);
  t.not(s2.socatPid, ready.socatPid, `socat restarted as pid ${s2.socatPid}, route re-applied`);
  t.equal((await linkInfo(ns.name, 'kl0')).mtu, 1400, 'MTU set again on the new device');
  await pingOk(t, ns.name, 'after the restart');

  // Orderly close: routes and device gone, nothing left running in the namespace.
  proc.write(JSON.stringify({ op: 'close' }) + '\n');
  await proc.waitFor(/"ev":"closed"/);
  t.same(await Promise.race([proc.exited, sleep(5000).then(() => 'timeout')]), { code: 0, signal: null }, 'child exited');
  t.not((await execIn(ns.name, ['ip', 'link', 'show', 'kl0'], { allowFail: true })).code, 0, 'kl0 removed');
  t.equal((await run(['ip', 'netns', 'pids', ns.name])).stdout.trim(), '', 'no process left in the namespace');
});

async function pingOk(t: Test, ns: string, when: string): Promise<void> {
  const r = await execIn(ns, ['ping', '-n', '-c', '3', '-i', '0.2', '-W', '2', REMOTE_HOST], { allowFail: true, timeoutMs: 15_000 });
  t.equal(r.code, 0, `ping through the bridge (${when})`);
  t.match(r.stdout, /3 packets transmitted, 3 received/, r.stdout.split('\n').at(-3) ?? '');
}

interface LinkInfo {
  mtu: number;
  flags: string[];
  stats64: { rx: { packets: number } };
}

async function linkInfo(ns: string, ifname: string): Promise<LinkInfo> {
  const r = await run(['ip', '-n', ns, '-j', '-s', 'link', 'show', 'dev', ifname]);
  return (JSON.parse(r.stdout) as LinkInfo[])[0]!;
}

interface Stats {
  counters: { rx: number; tx: number; foreign: number; restarts: number };
  socatPid?: number;
}

async function stats(proc: Proc): Promise<Stats> {
  const from = proc.lines.length;
  proc.write(JSON.stringify({ op: 'stats' }) + '\n');
  return JSON.parse(await proc.waitFor(/"ev":"stats"/, { from, timeoutMs: 5000 })) as Stats;
}

/** The echo reply a host at the pinged address would send: addresses swapped, checksums redone. */
function echoReply(req: Uint8Array): Uint8Array {
  const p = Uint8Array.from(req);
  const hl = (p[0]! & 15) * 4;
  p.set(req.subarray(16, 20), 12);
  p.set(req.subarray(12, 16), 16);
  p[8] = 64; // TTL
  p[10] = p[11] = 0;
  const ipc = checksum(p.subarray(0, hl));
  p[10] = ipc >> 8;
  p[11] = ipc & 0xff;
  p[hl] = 0; // type: echo reply
  p[hl + 2] = p[hl + 3] = 0;
  const ic = checksum(p.subarray(hl));
  p[hl + 2] = ic >> 8;
  p[hl + 3] = ic & 0xff;
  return p;
}

/** RFC 1071; over a block that includes its checksum field, 0 means valid. */
function checksum(b: Uint8Array): number {
  let sum = 0;
  for (let i = 0; i + 1 < b.length; i += 2) sum += (b[i]! << 8) | b[i + 1]!;
  if (b.length & 1) sum += b[b.length - 1]! << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

const ipText = (p: Uint8Array, at: number) => [...p.subarray(at, at + 4)].join('.');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until<T>(fn: () => Promise<T | undefined | false | 0>, ms: number): Promise<T> {
  for (const end = Date.now() + ms; ; await sleep(200)) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`condition not reached within ${ms} ms`);
  }
}
