/**
 * What a side's IKE and SA state is, as data, for the engine-level fuzzers: every IKE SA (state,
 * SPIs, message IDs both ways, which keys), its child SAs, and the driver's SAD and SPD with each
 * inbound SA's replay window. Two snapshots are equal when nothing that matters changed.
 */
import { createHash } from 'node:crypto';
import type { UserspaceDriver } from '../../src/drivers/userspace/driver.js';
import type { IkeSa } from '../../src/ike/ike-sa.js';
import type { Side } from '../ike/agents.js';

/** Which keys an SA holds (a digest: a snapshot is printed when a test fails, keys are not). */
const keysId = (sa: IkeSa) => (sa.keys ? createHash('sha256').update(sa.keys.skD).digest('hex').slice(0, 12) : '-');

export function ikeSnapshot(sa: IkeSa) {
  const w = sa.window as unknown as { nextId: number; expectedId: number };
  return {
    state: sa.fsm.state,
    spiI: sa.spiI.toString(16),
    spiR: sa.spiR.toString(16),
    ids: [w.nextId, w.expectedId],
    keys: keysId(sa),
    children: sa.children.map((c) => [c.spiIn, c.spiOut, c.state]),
  };
}

export function sadSnapshot(s: Side) {
  const d = s.agent.driver as unknown as UserspaceDriver;
  const sad = [...d.sad.all()].map((x) => [x.spec.dir, x.spec.spi, x.recv?.replay.highest ?? null, x.counters.packets, x.counters.bytes]);
  return { sad, spd: d.spd.all().map((p) => p.id), delivered: s.tun.written.length };
}

export const snapshot = (s: Side) => ({ ike: s.agent.ike.sas().map(ikeSnapshot), ...sadSnapshot(s) });

/** The sum of a side's drop counters (IKE engine, driver, each SA), and of cached answers re-sent. */
export function drops(s: Side): number {
  const sum = (o: Readonly<Record<string, number>>) => Object.values(o).reduce((n, v) => n + v, 0);
  const resent = s.agent.ike.sas().reduce((n, sa) => n + sa.window.counters.resent, 0);
  const perSa = [...(s.agent.driver as unknown as UserspaceDriver).sad.all()].reduce((n, x) => n + sum(x.counters.drops), 0);
  return sum(s.agent.ike.drops.byReason) + sum(s.agent.driver.drops()) + perSa + resent;
}

export const internal = (s: Side): number => (s.agent.ike.drops.byReason['internal'] ?? 0) + ((s.agent.driver.drops() as Record<string, number>)['internal'] ?? 0);
