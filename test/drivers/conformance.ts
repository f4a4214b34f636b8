import type { Test } from 'tap';
import type { Driver, DriverEvent } from '../../src/drivers/driver.js';
import { manualSas, mirror, type ManualPeer } from '../../src/sa/manual.js';
import { prefix, subnetSelector } from '../../src/sa/selector.js';
import type { FakeClock } from '../../src/util/clock.js';
import type { CipherSuite } from '../../src/crypto/types.js';
import { icmpEcho } from '../helpers/packets.js';

/**
 * One conformance suite for every driver (DESIGN.md, "The driver seam"), in two parts:
 * - keying: what the agent asks of a driver (SPIs, installing and refusing SAs, updates,
 *   deletes); every driver runs it, the kernel driver against a scripted `ip`;
 * - data: packets moving between two drivers wired back to back; the drivers that move packets
 *   in this process (memory, userspace) run it. The kernel driver moves packets in the kernel,
 *   where test/kernel-vm/ checks them (ping, counters, rekey) under a real one.
 * `conformance()` runs both parts.
 */
export interface KeyingFixture {
  a: Driver;
  b: Driver;
  close(): Promise<void>;
  /** Outer endpoints where they are not the defaults (real UDP sockets on loopback). */
  endA?: { addr: string; port: number };
  endB?: { addr: string; port: number };
}

/** Two drivers A and B wired back to back, a way to send a host packet into A, and what B's host got. */
export interface DriverPair extends KeyingFixture {
  clock: FakeClock;
  sendFromA(packet: Uint8Array): void;
  deliveredAtB(): Uint8Array[];
  settle(): Promise<void>;
}

/** A peer config whose outer endpoints are the pair's own. */
const cfg = (p: KeyingFixture, over: Partial<ManualPeer> = {}) =>
  peerConfig({ ...(p.endA && p.endB ? { local: p.endA, remote: p.endB } : {}), ...over });

const A_NET = '198.51.100.0/24';
const B_NET = '203.0.113.0/24';

export function peerConfig(over: Partial<ManualPeer> = {}, suite: CipherSuite = 'aes256gcm16'): ManualPeer {
  const key = (n: number, fill: number) => new Uint8Array(n).fill(fill);
  const len = suite === 'aes128gcm16' ? 20 : suite.endsWith('sha256') ? (suite.startsWith('aes128') ? 48 : 64) : 36;
  return {
    peer: 'b',
    reqid: 1,
    suite,
    mode: 'tunnel',
    esn: true,
    replayWindow: 64,
    spiIn: 0x0a000001,
    spiOut: 0x0b000001,
    keyIn: key(len, 0x11),
    keyOut: key(len, 0x22),
    local: { addr: '192.0.2.1', port: 4500 },
    remote: { addr: '192.0.2.2', port: 4500 },
    selectors: [subnetSelector(prefix(A_NET), prefix(B_NET))],
    ...over,
  };
}

/** Install A's view of the peer on A and the mirrored view on B. */
export async function installBoth(p: KeyingFixture, m: ManualPeer, policies = true): Promise<void> {
  const a = manualSas(m);
  const b = manualSas(mirror(m, 'a'));
  await p.a.addSa(a.outbound);
  await p.a.addSa(a.inbound);
  await p.b.addSa(b.inbound);
  await p.b.addSa(b.outbound);
  if (!policies) return;
  for (const pol of a.policies) await p.a.addPolicy(pol);
  for (const pol of b.policies) await p.b.addPolicy(pol);
}

const ping = (i: number, src = '198.51.100.10', dst = '203.0.113.10') => icmpEcho(src, dst, 7, i);

/** Both parts, for drivers that move packets in this process. */
export function conformance(t: Test, name: string, make: () => Promise<DriverPair>): void {
  keyingConformance(t, name, make);
  dataConformance(t, name, make);
}

function fixtureOf<P extends KeyingFixture>(make: () => Promise<P>) {
  return async (t: Test): Promise<P> => {
    const p = await make();
    t.teardown(() => p.close());
    return p;
  };
}

export function keyingConformance(t: Test, name: string, make: () => Promise<KeyingFixture>): void {
  const fixture = fixtureOf(make);

  t.test(`${name}: allocSpi gives unique SPIs outside 1..255`, async (t) => {
    const p = await fixture(t);
    const seen = new Set<number>();
    for (let i = 0; i < 200; i++) {
      const spi = await p.a.allocSpi();
      t.ok(spi >= 256 && spi <= 0xffffffff);
      seen.add(spi);
    }
    t.equal(seen.size, 200);
  });

  t.test(`${name}: bad SAs are refused with a typed error`, async (t) => {
    const p = await fixture(t);
    const { inbound } = manualSas(cfg(p));
    await t.rejects(p.a.addSa({ ...inbound, spi: 255 }), { code: 'BAD_SA' });
    await t.rejects(p.a.addSa({ ...inbound, replayWindow: 5000 }), { code: 'BAD_SA' });
    await p.a.addSa(inbound);
    await t.rejects(p.a.addSa(inbound), { code: 'SA_EXISTS' });
  });

  t.test(`${name}: an installed SA has zero counters; a deleted one has none, and deleting again is harmless`, async (t) => {
    const p = await fixture(t);
    const m = cfg(p);
    await installBoth(p, m);
    t.same(p.a.counters('out', m.spiOut), { packets: 0, bytes: 0, drops: {} });
    t.same(p.a.counters('in', m.spiIn), { packets: 0, bytes: 0, drops: {} });
    await p.a.deleteSa('out', m.spiOut);
    await p.a.deleteSa('out', m.spiOut);
    t.equal(p.a.counters('out', m.spiOut), undefined);
    t.ok(p.a.counters('in', m.spiIn), 'the other direction stays');
    const { policies } = manualSas(m);
    await p.a.deletePolicy(policies[0]!.id);
    await p.a.deletePolicy(policies[0]!.id);
  });

  t.test(`${name}: updateSa accepts a known SA and refuses an unknown SPI`, async (t) => {
    const p = await fixture(t);
    const m = cfg(p);
    await installBoth(p, m);
    await p.a.updateSa('out', m.spiOut, { remote: { addr: m.remote.addr, port: m.remote.port } });
    await t.rejects(p.a.updateSa('out', 0x7777, { remote: m.remote }), { code: 'NO_SA' });
  });
}

export function dataConformance(t: Test, name: string, make: () => Promise<DriverPair>): void {
  const fixture = fixtureOf(make);

  t.test(`${name}: protected packets flow and are counted on both sides`, async (t) => {
    const p = await fixture(t);
    const m = cfg(p);
    await installBoth(p, m);
    const sent = [1, 2, 3, 4, 5].map((i) => ping(i));
    for (const pkt of sent) p.sendFromA(pkt);
    await p.settle();
    t.same(p.deliveredAtB(), sent);
    const bytes = sent.reduce((n, x) => n + x.length, 0);
    t.match(p.a.counters('out', m.spiOut), { packets: 5, bytes });
    t.match(p.b.counters('in', m.spiOut), { packets: 5 });
  });

  t.test(`${name}: no SA for a protect policy raises acquire and drops`, async (t) => {
    const p = await fixture(t);
    const { policies } = manualSas(cfg(p));
    const events: DriverEvent[] = [];
    p.a.onEvent((e) => events.push(e));
    await p.a.addPolicy(policies[0]!);
    p.sendFromA(ping(1));
    await p.settle();
    t.match(events, [{ type: 'acquire', reqid: 1 }]);
    t.equal(p.a.drops()['no-sa'], 1);
    p.sendFromA(ping(2));
    t.equal(p.a.drops()['no-policy'] ?? 0, 0);
  });

  t.test(`${name}: wrong keys are not delivered`, async (t) => {
    const p = await fixture(t);
    const m = cfg(p);
    const a = manualSas(m);
    const b = manualSas({ ...mirror(m, 'a'), keyIn: new Uint8Array(36).fill(0x33) });
    await p.a.addSa(a.outbound);
    await p.a.addPolicy(a.policies[0]!);
    await p.b.addSa(b.inbound);
    p.sendFromA(ping(1));
    await p.settle();
    t.same(p.deliveredAtB(), []);
    t.equal(p.b.counters('in', m.spiOut)?.drops['auth'], 1);
  });

  t.test(`${name}: an authenticated packet outside the SA's selectors is dropped`, async (t) => {
    const p = await fixture(t);
    const m = cfg(p);
    await installBoth(p, m, false);
    // A's policy is wider than what B's SA admits.
    const wide = manualSas({ ...m, selectors: [subnetSelector(prefix('0.0.0.0/0'), prefix(B_NET))] });
    await p.a.addPolicy(wide.policies[0]!);
    p.sendFromA(ping(1, '192.0.2.99'));
    await p.settle();
    t.same(p.deliveredAtB(), []);
    t.equal(p.b.counters('in', m.spiOut)?.drops['policy'], 1);
  });

  t.test(`${name}: soft then hard packet limits, each reported once`, async (t) => {
    const p = await fixture(t);
    const m = cfg(p, { soft: { packets: 3 }, hard: { packets: 5 } });
    const events: DriverEvent[] = [];
    p.a.onEvent((e) => events.push(e));
    await installBoth(p, m);
    for (let i = 1; i <= 6; i++) p.sendFromA(ping(i));
    await p.settle();
    const expires = events.filter((e) => e.type === 'expire' && e.dir === 'out');
    t.match(expires, [
      { type: 'expire', spi: m.spiOut, hard: false },
      { type: 'expire', spi: m.spiOut, hard: true },
    ]);
    t.equal(p.a.counters('out', m.spiOut), undefined, 'hard limit removes the SA');
    t.equal(p.deliveredAtB().length, 5);
    t.match(events.filter((e) => e.type === 'acquire'), [{ reqid: 1 }], 'the 6th packet asks for a new SA');
  });

  t.test(`${name}: make-before-break: a new outbound SA takes over, the old inbound still accepts`, async (t) => {
    const p = await fixture(t);
    const m = cfg(p);
    await installBoth(p, m);
    p.sendFromA(ping(1));
    const next = { ...m, spiIn: 0x0a000002, spiOut: 0x0b000002, keyIn: m.keyIn.map((x) => x ^ 1), keyOut: m.keyOut.map((x) => x ^ 1) };
    const a2 = manualSas(next);
    const b2 = manualSas(mirror(next, 'a'));
    await p.b.addSa(b2.inbound); // inbound first on the receiver, then outbound on the sender
    await p.a.addSa(a2.outbound);
    p.sendFromA(ping(2));
    await p.settle();
    t.equal(p.deliveredAtB().length, 2);
    t.equal(p.b.counters('in', m.spiOut)?.packets, 1);
    t.equal(p.b.counters('in', next.spiOut)?.packets, 1);
    await p.a.deleteSa('out', next.spiOut);
    p.sendFromA(ping(3));
    await p.settle();
    t.equal(p.b.counters('in', m.spiOut)?.packets, 2, 'deleting the new SA falls back to the old');
  });

  t.test(`${name}: updateSa moves an SA to a new outer endpoint; unknown SPIs are refused`, async (t) => {
    const p = await fixture(t);
    const m = cfg(p);
    await installBoth(p, m);
    await p.a.updateSa('out', m.spiOut, { remote: { addr: m.remote.addr, port: m.remote.port } });
    p.sendFromA(ping(1));
    await p.settle();
    t.equal(p.deliveredAtB().length, 1, 'still delivered after an update to the same endpoint');
    await t.rejects(p.a.updateSa('out', 0x7777, { remote: m.remote }), { code: 'NO_SA' });
  });

  t.test(`${name}: deleting the policy stops traffic`, async (t) => {
    const p = await fixture(t);
    const m = cfg(p);
    await installBoth(p, m);
    const { policies } = manualSas(m);
    await p.a.deletePolicy(policies[0]!.id);
    p.sendFromA(ping(1));
    await p.settle();
    t.same(p.deliveredAtB(), []);
    t.equal(p.a.drops()['no-policy'], 1);
  });
}
