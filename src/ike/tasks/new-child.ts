/**
 * A new child SA on a live IKE SA (RFC 7296 §1.3.1): CREATE_CHILD_SA without REKEY_SA, when the
 * connection's child SA is gone and its IKE SA is not.
 *
 *   HDR, SK {SA, Ni, [KEi], TSi, TSr}  -->
 *                             <--  HDR, SK {SA, Nr, [KEr], TSi, TSr}
 *
 * The engine decides when (wantChild, childGone); the peer's side is answerCreateChild in
 * child.ts, as for a rekey.
 */
import { IKE_TIMERS } from '../../limits.js';
import { name } from '../../wire/iana.js';
import { EXCHANGE, NOTIFY } from '../constants.js';
import type { IkeEngine } from '../engine.js';
import { errorNotify, first, saName, type ChildSa, type IkeSa } from '../ike-sa.js';
import { acceptChild, childRequest, NONCE_LEN } from './child.js';
import { wantedGroup } from './ke.js';

/** The connection has a child SA that carries, or soon will carry, its traffic. */
export const hasLiveChild = (sa: IkeSa): boolean => sa.children.some((c) => c.state === 'installed' || c.state === 'rekeying');

/**
 * Ask for a new child SA on an established IKE SA (§1.3.1, CREATE_CHILD_SA without REKEY_SA):
 * the connection's child is gone (its hard lifetime came after a failed rekey, or the peer deleted
 * it alone) while the IKE SA lives. One request at a time per IKE SA, and attempts at least
 * `newChildSpacingMs` apart: a later call within the spacing arms one timer for the rest of it.
 */
export function startNewChild(eng: IkeEngine, sa: IkeSa, group = sa.peer.esp[0]?.group): void {
  if (!sa.fsm.is('established') || hasLiveChild(sa)) return;
  const nc = (sa.newChild ??= { state: 'idle', askedAt: -Infinity });
  if (nc.state !== 'idle') return;
  const wait = nc.askedAt + IKE_TIMERS.newChildSpacingMs - eng.now;
  if (wait > 0) {
    nc.state = 'waiting';
    eng.timer(sa, wait, 'new-child', () => {
      nc.state = 'idle';
      eng.wantChild(sa.peer);
    });
    return;
  }
  nc.state = 'asking';
  nc.askedAt = eng.now;
  void askChild(eng, sa, group).catch((e: unknown) => {
    nc.state = 'idle';
    eng.failed(`${saName(sa)}: new child SA`, e);
  });
}

async function askChild(eng: IkeEngine, sa: IkeSa, group: number | undefined): Promise<void> {
  const ni = eng.deps.random(NONCE_LEN);
  const req = await childRequest(eng, sa, sa.peer.esp, group);
  const notes = req.payloads.filter((x) => x.type === 'N');
  const [sap, ...tail] = req.payloads.filter((x) => x.type !== 'N');
  eng.log.info(`${saName(sa)}: asking for a new child SA`);
  eng.request(sa, EXCHANGE.CREATE_CHILD_SA, [...notes, sap!, { type: 'NONCE', data: ni }, ...tail], {
    what: 'new child',
    onResponse: async (m) => {
      const nc = sa.newChild!;
      const nr = first(m, 'NONCE')?.data;
      const err = errorNotify(m);
      let made: ChildSa | string | undefined;
      try {
        made = err || !nr ? undefined : await acceptChild(eng, sa, m, req, ni, nr, false);
      } finally {
        nc.state = 'idle'; // only now: until the child is in, the exchange counts as out (ike-rekey.ts)
      }
      if (made && typeof made !== 'string') return;
      await eng.deps.driver.deleteSa('in', req.spiIn).catch(() => {});
      const g = err?.notify === NOTIFY.INVALID_KE_PAYLOAD && err.data ? wantedGroup(err.data) : undefined;
      if (g !== undefined && g !== group && sa.peer.esp.some((p) => p.group === g)) {
        nc.askedAt = -Infinity; // the peer named its group: asking again at once is the protocol
        return startNewChild(eng, sa, g);
      }
      eng.log.warn(`${saName(sa)}: new child SA failed: ${made ?? (err ? `peer answered ${name(NOTIFY, err.notify)}` : 'no nonce in the answer')}`);
      eng.childGone(sa); // start=initiate asks again after the spacing; on-traffic waits for traffic
    },
  });
}
