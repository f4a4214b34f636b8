/**
 * What an operator can do to a running agent: look at it (status), bring a peer up or down, and
 * reload its peers. The agent (src/agent.ts) builds one Operator over its driver and IKE engine;
 * the control socket (server.ts) and SIGHUP (cli/run.ts) call it.
 *
 * Reload takes a plan whose unchanged peers already carry their old reqids (cli/plan.ts
 * assignReqids) and the diff that says which peers are unchanged (config/diff.ts). Unchanged peers
 * are not touched at all: same IkePeer object in the engine, same SAs, same policies, so not a
 * packet is lost. Removed and changed peers lose their SAs (IKE: DELETE), changed and added ones
 * come (back) up. New policies go in before old ones go out, so a route into the tunnel never
 * disappears under traffic that should be protected.
 */
import type { AgentPlan } from '../agent.js';
import type { PeerDiff } from '../config/diff.js';
import type { Driver } from '../drivers/driver.js';
import type { IkeEngine } from '../ike/engine.js';
import type { IkePeer } from '../ike/peer.js';
import { spiText } from '../sa/sad.js';
import { manualSas, type ManualPeer } from '../sa/manual.js';
import type { Direction } from '../sa/types.js';
import { endpointText, type Transport } from '../transport/transport.js';
import type { Clock } from '../util/clock.js';
import type { Logger } from '../util/log.js';
import { VERSION } from '../version.js';
import { KeylineError } from '../wire/errors.js';
import { cookiesRequired } from '../ike/cookies.js';
import { seconds, type AgentStatus, type ChildSaStatus, type IkeLoadStatus, type InlineStatus, type PeerStatus } from './status.js';
import type { TimerBook } from './timers.js';

/** `up` waits this long (wall clock) for the IKE SA to be established before answering. */
export const UP_WAIT_MS = 10_000;
/** `down` waits this long for the peer to answer the DELETE. */
export const DOWN_WAIT_MS = 3_000;
const POLL_MS = 50;

export interface UpResult {
  readonly peer: string;
  readonly keying: 'ike' | 'manual';
  /** initiating / already-up (IKE), installed / already-installed (manual). */
  readonly action: string;
  /** The best IKE SA state after the wait (established, connecting, ...), or 'installed'. */
  readonly state: string;
  readonly established: boolean;
}

export interface DownResult {
  readonly peer: string;
  readonly keying: 'ike' | 'manual';
  /** IKE SAs sent DELETE, or manual SA pairs removed. */
  readonly deleted: number;
}

export interface ReloadResult extends PeerDiff {}

export interface Operator {
  /** The whole status, or only peer `only` (UNKNOWN_PEER if there is none). */
  status(only?: string): AgentStatus;
  up(name: string, o?: { waitMs?: number }): Promise<UpResult>;
  down(name: string, o?: { waitMs?: number }): Promise<DownResult>;
  reload(plan: AgentPlan, diff: PeerDiff): Promise<ReloadResult>;
  /** The plan in force (after the last reload). */
  readonly plan: AgentPlan;
}

export interface OperatorContext {
  readonly driver: Driver;
  readonly ike: IkeEngine;
  readonly log: Logger;
  readonly clock: Clock;
  readonly timers?: TimerBook;
  readonly transports: readonly Transport[];
  readonly tunnel: string;
  readonly plan: AgentPlan;
  /** The agent's own helper, so IKE policy IDs are made in one place. */
  installIkePolicies(p: IkePeer): Promise<void>;
  readonly inlineStatus?: ((peer: string) => InlineStatus | undefined) | undefined;
  /**
   * Called by reload after the IKE and manual steps, before the new plan is in force: the place
   * for other keying methods (inline parents, plan.inline) to follow the same diff.
   */
  readonly onReload?: ((next: AgentPlan, diff: PeerDiff) => Promise<void>) | undefined;
  /** Wall-clock sleep for the bounded waits of up/down (tests may shorten it). */
  readonly sleep?: (ms: number) => Promise<void>;
}

const realSleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const ikePolicyIds = (p: IkePeer) => p.selectors.map((_, i) => p.reqid * 64 + i);

export function unknownPeer(name: string, known: readonly string[]): KeylineError {
  const list = known.length ? `configured: ${known.slice(0, 20).join(', ')}${known.length > 20 ? ', …' : ''}` : 'no peers configured';
  return new KeylineError('UNKNOWN_PEER', `no peer '${name}' (${list})`);
}

export function makeOperator(cx: OperatorContext): Operator {
  const { driver, ike, log, clock } = cx;
  const sleep = cx.sleep ?? realSleep;
  const startedAt = clock.now();
  let plan = cx.plan;
  /** Manual peers with SAs installed, and since when. */
  const installedAt = new Map<string, number>(plan.manual.map((m) => [m.peer, clock.now()]));
  /** Manual peers taken down (SAs out, policies kept: their traffic is dropped, never sent in the clear). */
  const manualDown = new Set<string>();
  // One change at a time: a SIGHUP arriving during `keyline down` waits for it.
  let chain: Promise<unknown> = Promise.resolve();
  const serial = <T>(f: () => Promise<T>): Promise<T> => {
    const r = chain.then(f, f);
    chain = r.catch(() => undefined);
    return r;
  };

  /** psk-static and x25519-static peers: inline parents of their own, with no session. */
  const statics = () => (plan.inline ?? []).filter((p) => p.static);
  const names = () =>
    [...plan.manual.map((m) => [m.peer, m.reqid] as const), ...plan.ike.map((p) => [p.name, p.reqid] as const), ...statics().map((p) => [p.peer, p.reqid] as const)]
      .sort((x, y) => x[1] - y[1])
      .map(([n]) => n);
  const manualOf = (name: string) => plan.manual.find((m) => m.peer === name);
  /** up and down have nothing to act on for a static peer: its SAs come and go with its flows. */
  const refuseStatic = (name: string, cmd: 'up' | 'down') => {
    const s = statics().find((p) => p.peer === name)?.static;
    if (s) throw new KeylineError('STATIC_PEER', `peer '${name}' is keyed ${s.keying}: it has no IKE SA or fixed SA to bring ${cmd}; its inline SAs come with traffic and go after inline-idle`);
  };

  async function addManualSas(m: ManualPeer): Promise<void> {
    const s = manualSas(m);
    await driver.addSa(s.inbound); // inbound first, so the peer's first packet finds its SA
    try {
      await driver.addSa(s.outbound);
    } catch (e) {
      await driver.deleteSa('in', m.spiIn).catch(() => {});
      throw e;
    }
    installedAt.set(m.peer, clock.now());
    log.info(`${m.peer}: manual SAs in ${spiText(m.spiIn)} out ${spiText(m.spiOut)} ${m.suite} ${m.mode} to ${endpointText(m.remote)}`);
  }

  async function removeManualSas(m: ManualPeer, why: string): Promise<boolean> {
    if (!installedAt.delete(m.peer)) return false;
    await driver.deleteSa('out', m.spiOut).catch(() => {});
    await driver.deleteSa('in', m.spiIn).catch(() => {});
    log.info(`${m.peer}: manual SAs in ${spiText(m.spiIn)} out ${spiText(m.spiOut)} removed (${why})`);
    return true;
  }

  const counters = (dir: Direction, spi: number) => driver.counters(dir, spi);

  function manualStatus(m: ManualPeer, now: number): ChildSaStatus | undefined {
    const at = installedAt.get(m.peer);
    if (at === undefined) return undefined;
    const i = counters('in', m.spiIn);
    const o = counters('out', m.spiOut);
    return {
      spiIn: spiText(m.spiIn),
      spiOut: spiText(m.spiOut),
      suite: m.suite + (m.esn ? '-esn' : ''),
      state: 'installed',
      ageS: seconds(now - at),
      in: { bytes: i?.bytes ?? 0, packets: i?.packets ?? 0, drops: { ...i?.drops } },
      out: { bytes: o?.bytes ?? 0, packets: o?.packets ?? 0 },
    };
  }

  function ikeLoad(): IkeLoadStatus {
    const halfOpen = ike.halfOpenCount;
    const l = ike.limits;
    return {
      sas: ike.sas().length,
      halfOpen,
      halfOpenPeak: ike.halfOpenPeak,
      cookies: cookiesRequired(halfOpen, l.cookieThreshold),
      cookieThreshold: l.cookieThreshold,
      halfOpenMax: l.halfOpenMax,
      ikeSaMax: l.ikeSaMax,
    };
  }

  function status(only?: string): AgentStatus {
    if (only !== undefined && !names().includes(only)) throw unknownPeer(only, names());
    const now = clock.now();
    const dueAt = cx.timers ? (k: string) => cx.timers!.dueAt(k) : undefined;
    const peers: PeerStatus[] = [];
    for (const m of plan.manual) {
      if (only !== undefined && m.peer !== only) continue;
      const sa = manualStatus(m, now);
      peers.push({ name: m.peer, keying: 'manual', remote: endpointText(m.remote), reqid: m.reqid, down: manualDown.has(m.peer), ...(sa && { manual: sa }) });
    }
    for (const p of ike.status(dueAt)) if (only === undefined || p.name === only) peers.push(p);
    for (const p of statics()) {
      if (only !== undefined && p.peer !== only) continue;
      peers.push({ name: p.peer, keying: p.static!.keying, remote: endpointText(p.static!.remote), reqid: p.reqid, down: false });
    }
    // The key file's order at first; peers a reload added come last (their reqids are newer).
    peers.sort((a, b) => a.reqid - b.reqid);
    const withInline = cx.inlineStatus
      ? peers.map((p) => {
          const inline = cx.inlineStatus!(p.name);
          return inline ? { ...p, inline } : p;
        })
      : peers;
    return {
      version: VERSION,
      pid: process.pid,
      uptimeS: seconds(now - startedAt),
      tunnel: cx.tunnel,
      listen: cx.transports.map((t) => endpointText(t.local)),
      ikeLoad: ikeLoad(),
      peers: withInline,
      drops: { driver: { ...driver.drops() }, ike: { ...ike.drops.byReason }, control: {} },
    };
  }

  async function up(name: string, o: { waitMs?: number } = {}): Promise<UpResult> {
    const m = manualOf(name);
    if (m) {
      return serial(async () => {
        manualDown.delete(name);
        const had = installedAt.has(name);
        if (!had) await addManualSas(m);
        return { peer: name, keying: 'manual' as const, action: had ? 'already-installed' : 'installed', state: 'installed', established: true };
      });
    }
    refuseStatic(name, 'up');
    const action = ike.up(name);
    if (action === undefined) throw unknownPeer(name, names());
    if (action === 'no-address') throw new KeylineError('NO_ADDRESS', `peer '${name}' has addr=any: it only answers; bring it up from the other side`);
    log.info(`${name}: up requested by the operator (${action})`);
    const deadline = Date.now() + (o.waitMs ?? UP_WAIT_MS);
    for (;;) {
      const state = ikeState(name);
      if (state === 'established' || state === 'rekeying' || Date.now() >= deadline) {
        return { peer: name, keying: 'ike', action, state, established: state === 'established' || state === 'rekeying' };
      }
      await sleep(POLL_MS);
    }
  }

  /** The most advanced state among the peer's IKE SAs, or 'none'. */
  function ikeState(name: string): string {
    const order = ['established', 'rekeying', 'authenticating', 'connecting', 'deleting'];
    const peer = ike.peer(name);
    const states = peer ? ike.sasOf(peer).map((s) => s.fsm.state as string) : [];
    return order.find((s) => states.includes(s)) ?? 'none';
  }

  async function down(name: string, o: { waitMs?: number } = {}): Promise<DownResult> {
    const m = manualOf(name);
    if (m) {
      return serial(async () => {
        manualDown.add(name);
        const n = (await removeManualSas(m, 'taken down by the operator')) ? 1 : 0;
        return { peer: name, keying: 'manual' as const, deleted: n };
      });
    }
    refuseStatic(name, 'down');
    const n = ike.down(name);
    if (n === undefined) throw unknownPeer(name, names());
    log.info(`${name}: down requested by the operator (${n} IKE SA${n === 1 ? '' : 's'})`);
    const peer = ike.peer(name)!;
    const deadline = Date.now() + (o.waitMs ?? DOWN_WAIT_MS);
    while (ike.sasOf(peer).length > 0 && Date.now() < deadline) await sleep(POLL_MS);
    return { peer: name, keying: 'ike', deleted: n };
  }

  function reload(next: AgentPlan, diff: PeerDiff): Promise<ReloadResult> {
    return serial(async () => {
      const keep = new Set(diff.unchanged);
      const oldIke = new Map(plan.ike.map((p) => [p.name, p]));
      const oldManual = new Map(plan.manual.map((m) => [m.peer, m]));
      // Unchanged peers stay the very same objects: the engine keys its SAs by them.
      const ikePeers = next.ike.map((p) => (keep.has(p.name) && oldIke.get(p.name)?.reqid === p.reqid ? oldIke.get(p.name)! : p));
      const manual = next.manual.map((m) => (keep.has(m.peer) && oldManual.get(m.peer)?.reqid === m.reqid ? oldManual.get(m.peer)! : m));
      const keptIke = new Set(ikePeers.filter((p) => oldIke.get(p.name) === p));
      const keptManual = new Set(manual.filter((m) => oldManual.get(m.peer) === m));
      const errors: string[] = [];
      const step = async (what: string, f: () => Promise<void>) => {
        try {
          await f();
        } catch (e) {
          errors.push(`${what}: ${(e as Error).message}`);
        }
      };
      // 1. New policies first (fresh reqids, so their IDs never collide with the old ones).
      for (const p of ikePeers) if (!keptIke.has(p)) await step(`${p.name}: policies`, () => cx.installIkePolicies(p));
      for (const m of manual) {
        if (keptManual.has(m)) continue;
        for (const pol of manualSas(m).policies) await step(`${m.peer}: policy`, () => driver.addPolicy(pol));
      }
      // 2. The engine: DELETE for removed and replaced IKE peers, new ones start.
      ike.setPeers(ikePeers);
      // 3. Old manual SAs and policies out (their SPIs may come back in the new entry).
      for (const [name, m] of oldManual) {
        if (manual.includes(m)) continue;
        await step(`${name}: remove SAs`, async () => void (await removeManualSas(m, 'removed by a reload')));
        for (const pol of manualSas(m).policies) await step(`${name}: remove policy`, () => driver.deletePolicy(pol.id));
      }
      for (const [name, p] of oldIke) {
        if (keptIke.has(p)) continue;
        for (const id of ikePolicyIds(p)) await step(`${name}: remove policy`, () => driver.deletePolicy(id));
      }
      // 4. New manual SAs; kept ones that were taken down come back (a reload ends every `down`).
      manualDown.clear();
      for (const m of manual) if (!installedAt.has(m.peer)) await step(`${m.peer}: SAs`, () => addManualSas(m));
      if (cx.onReload) await step('reload hook', () => cx.onReload!(next, diff));
      plan = { ...next, ike: ikePeers, manual };
      const r: ReloadResult = diff;
      log.info(
        `keyline: reloaded: ${[`${r.added.length} added`, `${r.removed.length} removed`, `${r.changed.length} changed`, `${r.unchanged.length} unchanged`].join(', ')}` +
          detail(r),
      );
      if (errors.length) throw new KeylineError('RELOAD', `reload applied with errors:\n${errors.join('\n')}`);
      return r;
    });
  }

  return {
    status,
    up,
    down,
    reload,
    get plan() {
      return plan;
    },
  };
}

function detail(r: PeerDiff): string {
  const parts = (['added', 'removed', 'changed'] as const).filter((k) => r[k].length).map((k) => `${k} ${r[k].join(' ')}`);
  return parts.length ? ` (${parts.join('; ')})` : '';
}
