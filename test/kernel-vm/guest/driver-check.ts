/**
 * Runs INSIDE the kernel-vm guest (bundled to one .mjs by xfrm-vm.test.ts): the xfrm driver's
 * own commands against a real kernel, without IKE. Two namespaces (set up by the caller, names
 * in argv) each get an XfrmDriver running `ip -n NS`; manual SAs of every suite go in, a ping
 * crosses, and the counters the driver reads back must show it. Then the monitor: soft and hard
 * packet limits and an acquire must come back as driver events; allocspi + update; and close()
 * must leave the kernel empty. Prints "ok: …" / "FAIL: …" lines like the shell checks.
 */
import { execFileSync } from 'node:child_process';
import { XfrmDriver } from '../../../src/drivers/xfrm/driver.js';
import { ipMonitor, ipRunner } from '../../../src/drivers/xfrm/runner.js';
import type { DriverEvent } from '../../../src/drivers/driver.js';
import { manualSas, mirror, type ManualPeer } from '../../../src/sa/manual.js';
import { prefix, subnetSelector } from '../../../src/sa/selector.js';
import type { CipherSuite } from '../../../src/crypto/types.js';
import { SUITES } from '../../../src/crypto/suites.js';

let pass = 0;
let fail = 0;
const ok = (m: string) => (pass++, console.log(`ok: driver: ${m}`));
const bad = (m: string) => (fail++, console.log(`FAIL: driver: ${m}`));
const check = (cond: boolean, m: string, detail = '') => (cond ? ok(m) : bad(detail ? `${m}: ${detail}` : m));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function sh(argv: string[], allowFail = false): string {
  try {
    return execFileSync(argv[0]!, argv.slice(1), { encoding: 'utf8', timeout: 30_000, stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    if (allowFail) return String((e as { stdout?: string }).stdout ?? '');
    throw e;
  }
}

const ping = (ns: string, src: string, dst: string, n: number) =>
  /(\d+) received/.exec(sh(['ip', 'netns', 'exec', ns, 'ping', '-c', String(n), '-i', '0.2', '-W', '2', '-I', src, dst], true))?.[1] ?? '0';

function open(ns: string): Promise<XfrmDriver> {
  return XfrmDriver.open({ ip: ipRunner('ip', ['-n', ns]), monitor: ipMonitor('ip', ['-n', ns]), readStat: async () => sh(['ip', 'netns', 'exec', ns, 'cat', '/proc/net/xfrm_stat']) });
}

function peer(suite: CipherSuite, n: number, over: Partial<ManualPeer> = {}): ManualPeer {
  const len = SUITES[suite].encKeyLen + SUITES[suite].integKeyLen;
  return {
    peer: 'b',
    reqid: n,
    suite,
    mode: 'tunnel',
    esn: n % 2 === 0,
    replayWindow: n % 2 === 0 ? 4096 : 32,
    spiIn: 0x0a000000 + n,
    spiOut: 0x0b000000 + n,
    keyIn: new Uint8Array(len).fill(0x10 + n),
    keyOut: new Uint8Array(len).fill(0x20 + n),
    local: { addr: '192.0.2.1', port: 4500 },
    remote: { addr: '192.0.2.2', port: 4500 },
    selectors: [subnetSelector(prefix('198.51.100.0/24'), prefix('203.0.113.0/24'))],
    ...over,
  };
}

async function install(a: XfrmDriver, b: XfrmDriver, m: ManualPeer): Promise<void> {
  const sa = manualSas(m);
  const sb = manualSas(mirror(m, 'a'));
  await a.addSa(sa.inbound);
  await b.addSa(sb.inbound);
  await a.addSa(sa.outbound);
  await b.addSa(sb.outbound);
  for (const p of sa.policies) await a.addPolicy(p);
  for (const p of sb.policies) await b.addPolicy(p);
}

async function remove(a: XfrmDriver, b: XfrmDriver, m: ManualPeer): Promise<void> {
  for (const p of manualSas(m).policies) {
    await a.deletePolicy(p.id);
    await b.deletePolicy(p.id);
  }
  for (const [d, spiA, spiB] of [['out', m.spiOut, m.spiIn], ['in', m.spiIn, m.spiOut]] as const) {
    await a.deleteSa(d, spiA);
    await b.deleteSa(d, spiB);
  }
}

/**
 * SAs (with an SPI) or policies in a namespace. The SPI-less larval SA an ACQUIRE leaves is the
 * kernel's own: it cannot be deleted by ID and expires by itself (net.core.xfrm_acq_expires).
 */
const count = (ns: string, what: 'state' | 'policy') =>
  what === 'policy'
    ? sh(['ip', '-n', ns, 'xfrm', 'policy']).split('\n').filter((l) => l.startsWith('src')).length
    : sh(['ip', '-n', ns, 'xfrm', 'state']).split('\n').filter((l) => /proto esp spi 0x/.test(l) && !/spi 0x0+\b/.test(l)).length;

export async function main(args: string[]): Promise<void> {
  const [nsA, nsB] = args as [string, string];
  const a = await open(nsA);
  const b = await open(nsB);
  const events: DriverEvent[] = [];
  a.onEvent((e) => events.push(e));
  try {
    // Every suite, both modes' worth of options (ESN + 4096 window on even reqids), one at a time.
    const suites: CipherSuite[] = ['aes128gcm16', 'aes256gcm16', 'chacha20poly1305', 'aes128-sha256', 'aes256-sha256'];
    for (const [i, suite] of suites.entries()) {
      const m = peer(suite, i + 1);
      try {
        await install(a, b, m);
      } catch (e) {
        bad(`${suite}: install: ${(e as Error).message}`);
        continue;
      }
      const rx = ping(nsA, '198.51.100.1', '203.0.113.1', 3);
      await a.refresh();
      await b.refresh();
      const out = a.counters('out', m.spiOut);
      const inB = b.counters('in', m.spiOut);
      check(rx === '3' && (out?.packets ?? 0) >= 3 && (inB?.packets ?? 0) >= 3, `${suite}${m.esn ? ' esn, window 4096' : ', window 32'}: ping ${rx}/3, counters A out ${out?.packets}/${out?.bytes} B, B in ${inB?.packets}`);
      await remove(a, b, m);
    }
    check(count(nsA, 'state') + count(nsB, 'state') === 0, 'deleteSa/deletePolicy leave no SA', String(count(nsA, 'state')));

    // Transport mode between the gateways.
    const hosts = subnetSelector(prefix('192.0.2.1/32'), prefix('192.0.2.2/32'));
    const t = peer('aes256gcm16', 7, { mode: 'transport', selectors: [hosts] });
    await install(a, b, t);
    const rxT = /(\d+) received/.exec(sh(['ip', 'netns', 'exec', nsA, 'ping', '-c', '3', '-i', '0.2', '-W', '2', '192.0.2.2'], true))?.[1];
    await a.refresh();
    check(rxT === '3' && (a.counters('out', t.spiOut)?.packets ?? 0) >= 3, `transport mode: ping ${rxT}/3, A out ${a.counters('out', t.spiOut)?.packets}`);
    await remove(a, b, t);

    // Soft and hard packet limits come back from `ip xfrm monitor` as expire events; then the
    // policy without an SA raises an acquire.
    const l = peer('aes128gcm16', 8, { soft: { packets: 3 }, hard: { packets: 5 } });
    await install(a, b, l);
    events.length = 0;
    ping(nsA, '198.51.100.1', '203.0.113.1', 7);
    await sleep(500);
    const ex = events.filter((e) => e.type === 'expire' && e.dir === 'out');
    check(
      ex.length === 2 && ex[0]?.type === 'expire' && !ex[0].hard && ex[1]?.type === 'expire' && ex[1].hard && ex[0].spi === l.spiOut,
      'packet limits: soft then hard expire of the outbound SA reported by the monitor',
      JSON.stringify(ex),
    );
    check(a.counters('out', l.spiOut) === undefined, 'hard expire: the SA is gone from the driver too');
    check(events.some((e) => e.type === 'acquire' && e.reqid === 8), 'after the hard limit, the next packet raises an acquire for reqid 8', JSON.stringify(events.map((e) => e.type)));
    await remove(a, b, l);

    // allocspi reserves the SPI where the SA will live; update completes the larval SA.
    const spi = await a.allocSpi({ reqid: 9, local: { addr: '192.0.2.1', port: 4500 }, remote: { addr: '192.0.2.2', port: 4500 }, mode: 'tunnel' });
    const larval = sh(['ip', '-n', nsA, 'xfrm', 'state']);
    check(larval.includes(`spi 0x${spi.toString(16).padStart(8, '0')}`), `allocspi: SPI 0x${spi.toString(16)} reserved in the kernel`);
    const g = peer('aes256gcm16', 9, { spiIn: spi });
    const sa = manualSas(g);
    await a.addSa(sa.inbound);
    const full = sh(['ip', '-n', nsA, 'xfrm', 'state', 'get', 'src', '192.0.2.2', 'dst', '192.0.2.1', 'proto', 'esp', 'spi', String(spi)]);
    check(full.includes('rfc4106(gcm(aes))') && count(nsA, 'state') === 1, 'allocspi + update: the reserved SPI now holds the complete SA, and only it', full);
    await a.addPolicy(sa.policies[0]!);
  } catch (e) {
    bad(`unexpected: ${(e as Error).stack ?? String(e)}`);
  } finally {
    await a.close();
    await b.close();
  }
  const left = count(nsA, 'state') + count(nsA, 'policy') + count(nsB, 'state') + count(nsB, 'policy');
  check(left === 0, 'close() leaves no SA and no policy (bypasses included) in the kernel', String(left));
  console.log(`driver: ${pass} passed, ${fail} failed`);
  process.exitCode = fail ? 1 : 0;
}
