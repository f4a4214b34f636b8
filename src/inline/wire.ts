import type { UserspaceDriver } from '../drivers/userspace/driver.js';
import type { EngineEvent, IkeEngine } from '../ike/engine.js';
import type { IkeSa } from '../ike/ike-sa.js';
import { suiteInfo } from '../crypto/suites.js';
import type { Clock } from '../util/clock.js';
import type { Logger } from '../util/log.js';
import type { InlineEngine, InlineOptions, ParentSpec } from './engine.js';
import { ikeParentSecret } from './keys.js';
import type { InlineStatus } from '../control/status.js';
import type { PeerDiff } from '../config/diff.js';
import type { Selector } from '../sa/types.js';

/**
 * Inline keying in the agent: parents from the plan, IKE parents' secrets from the IKE engine's
 * events (README.md §7.1), static parents' policies. Kept out of agent.ts so that the
 * composition root stays a list of steps.
 */
export interface InlineWiring {
  readonly driver: UserspaceDriver;
  readonly ike: IkeEngine;
  readonly parents: readonly ParentSpec[];
  readonly clock: Clock;
  readonly log: Logger;
  readonly random: (n: number) => Uint8Array;
  readonly options?: Partial<InlineOptions>;
}

/** Inline keying as the agent holds it: status for `keyline show`, and reload. */
export interface InlineControl {
  status(peer: string): InlineStatus | undefined;
  /** Apply a reload: parents of removed and changed peers go, added and changed ones come. */
  reload(next: readonly ParentSpec[], diff: PeerDiff): Promise<void>;
}

export async function startInline(w: InlineWiring): Promise<InlineControl> {
  let engine: InlineEngine | undefined;
  let parents: readonly ParentSpec[] = [];
  const open = (): InlineEngine => {
    if (engine) return engine;
    const e = w.driver.enableInline({ clock: w.clock, log: w.log, random: w.random, onSpawnCap: (reqid) => w.ike.rekeyIkeOf(reqid), ...w.options });
    w.ike.on((ev) => onIkeEvent(e, w.log, ev));
    return (engine = e);
  };
  const add = async (p: ParentSpec) => {
    open().addParent(p);
    // Static parents have no IKE to install their policies; IKE peers' go in with the IKE peer.
    if (p.static) for (const [i, selector] of p.selectors.entries()) await w.driver.addPolicy(staticPolicy(p, i, selector));
    w.log.info(`${p.peer}: inline keying ${p.static ? 'with a static parent' : 'offered in IKE_AUTH'}, scope ${p.scope}, ${p.suite}`);
  };
  const remove = async (p: ParentSpec) => {
    engine?.removeParent(p.reqid);
    if (p.static) for (const i of p.selectors.keys()) await w.driver.deletePolicy(p.reqid * 64 + i);
  };
  for (const p of w.parents) await add(p);
  parents = w.parents;
  return {
    status: (peer) => engine?.status(peer),
    async reload(next, diff) {
      const goes = new Set([...diff.removed, ...diff.changed]);
      const comes = new Set([...diff.added, ...diff.changed]);
      for (const p of parents) if (goes.has(p.peer)) await remove(p);
      for (const p of next) if (comes.has(p.peer)) await add(p);
      parents = next;
    },
  };
}

const staticPolicy = (p: ParentSpec, i: number, selector: Selector) =>
  ({ id: p.reqid * 64 + i, selector, action: 'protect', reqid: p.reqid, priority: 100, peer: p.peer }) as const;

function onIkeEvent(engine: InlineEngine, log: Logger, e: EngineEvent): void {
  if (e.type === 'message' || !e.sa.inline || !engine.hasParent(e.sa.peer.reqid)) return;
  const reqid = e.sa.peer.reqid;
  if (e.type === 'ike-up') engine.setSecret(reqid, parentSecret(e.sa));
  else if (e.type === 'ike-down' && !e.sa.rekeyedTo) engine.clearSecrets(reqid);
  else if (e.type === 'child-up') {
    const suite = e.child.proposal.suite;
    if (suiteInfo(suite).combined) engine.setSecret(reqid, parentSecret(e.sa), suite);
    else {
      log.warn(`${e.sa.peer.name}: inline keying off: the child SA uses ${suite}, not an AEAD`);
      engine.clearSecrets(reqid);
    }
  }
}

const parentSecret = (sa: IkeSa): Uint8Array => ikeParentSecret(sa.prf!, sa.keys!.skD, sa.ni, sa.nr);
