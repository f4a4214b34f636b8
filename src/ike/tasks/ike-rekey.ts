/**
 * Rekeying the IKE SA (RFC 7296 §1.3.2, §2.18):
 *
 *   HDR, SK {SA, Ni, KEi}  -->
 *                     <--  HDR, SK {SA, Nr, KEr}
 *
 * The SA payloads carry the new 8-byte SPIs. The new IKE SA's keys come from the old SK_d and a
 * fresh Diffie-Hellman; whoever started the rekey is the new SA's original initiator. The child
 * SAs move to the new IKE SA, then the initiator DELETEs the old one.
 */
import { deriveRekeyedIkeKeys } from '../../crypto/ike-keys.js';
import { newKeyExchange } from '../../crypto/dh/index.js';
import { IKE_TIMERS } from '../../limits.js';
import { name } from '../../wire/iana.js';
import { EXCHANGE, NOTIFY } from '../constants.js';
import type { IkeEngine } from '../engine.js';
import { errorNotify, first, saName, spi64, spiBytes, spiHex, type IkeSa, type Inbound } from '../ike-sa.js';
import type { Payload } from '../message.js';
import { checkChosen, offersGroup, selectProposal, toSaPayload, type IkeProposal } from '../proposals.js';
import { ivSource, skKeys } from '../sk.js';
import { notifyPayload } from './init.js';
import { groupData, sharedSecret, wantedGroup } from './ke.js';
import { deleteIkeSa } from './info.js';

const NONCE_LEN = 32;

export function startIkeRekey(eng: IkeEngine, sa: IkeSa, group = sa.proposal!.group): void {
  if (!sa.fsm.is('established') || sa.rekeyedTo) return;
  sa.fsm.set('rekeying', 'IKE SA rekey started');
  const spi = eng.newSpi();
  const ni = eng.deps.random(NONCE_LEN);
  const kex = newKeyExchange(group, eng.deps.dh, eng.deps.dhRandom);
  const offer = toSaPayload(preferCurrent(sa.peer.ike, sa.proposal!, group), 'ike', spiBytes(spi));
  eng.log.info(`${saName(sa)}: rekeying IKE SA`);
  const payloads: Payload[] = [{ type: 'SA', ...offer }, { type: 'NONCE', data: ni }, { type: 'KE', group, data: kex.publicKey }];
  eng.request(sa, EXCHANGE.CREATE_CHILD_SA, payloads, {
    what: 'rekey IKE SA',
    onResponse: async (m) => {
      if (!sa.fsm.is('rekeying')) return;
      const why = responseProblem(m, offer, kex.group);
      if (why) return rekeyFailed(eng, sa, m, why);
      const chosen = checkChosen(offer, first(m, 'SA')!, 'ike');
      if (!chosen.ok) return rekeyFailed(eng, sa, m, chosen.reason);
      const shared = sharedSecret(kex, first(m, 'KE')!.data);
      if (typeof shared === 'string') return rekeyFailed(eng, sa, m, shared);
      const next = successor(eng, sa, 'initiator', spi, spi64(chosen.peerSpi)!, chosen.proposal, ni, first(m, 'NONCE')!.data, shared);
      sa.fsm.set('established', 'IKE SA rekeyed');
      deleteIkeSa(eng, sa, `rekeyed to ${spiHex(next.spiI).slice(0, 8)}_${spiHex(next.spiR).slice(0, 8)}`);
    },
  });
}

/** Our proposals with the current one first (no reason to change algorithms on a rekey). */
function preferCurrent(all: readonly IkeProposal[], current: IkeProposal, group: number): IkeProposal[] {
  const same = (p: IkeProposal) => p.suite === current.suite && p.prf === current.prf && p.group === group;
  const head = all.filter(same);
  return head.length ? [...head, ...all.filter((p) => !same(p))] : [...all];
}

function responseProblem(m: Inbound, offer: { proposals: readonly unknown[] }, group: number): string | undefined {
  const err = errorNotify(m);
  if (err) return `peer answered ${name(NOTIFY, err.notify)}`;
  const ke = first(m, 'KE');
  if (!first(m, 'SA') || !first(m, 'NONCE') || !ke) return 'incomplete answer';
  if (ke.group !== group) return `KE group ${ke.group}, sent ${group}`;
  return offer.proposals.length ? undefined : 'nothing offered';
}

function rekeyFailed(eng: IkeEngine, sa: IkeSa, m: Inbound, why: string): void {
  sa.fsm.set('established', `IKE rekey failed: ${why}`);
  const err = errorNotify(m);
  const g = err?.notify === NOTIFY.INVALID_KE_PAYLOAD ? wantedGroup(err.data) : undefined;
  if (g !== undefined && offersGroup(sa.peer.ike, g) && g !== sa.proposal!.group) return startIkeRekey(eng, sa, g);
  eng.log.warn(`${saName(sa)}: IKE rekey failed: ${why}`);
  const retry = err?.notify === NOTIFY.TEMPORARY_FAILURE ? IKE_TIMERS.temporaryFailureMs * (1 + eng.deps.rand01()) : undefined;
  if (retry !== undefined) eng.timer(sa, retry, 'ike-rekey-retry', () => startIkeRekey(eng, sa));
}

/** The new IKE SA: keys from the old SK_d (§2.18), the children moved over, timers started. */
function successor(
  eng: IkeEngine,
  old: IkeSa,
  role: 'initiator' | 'responder',
  ours: bigint,
  theirs: bigint,
  proposal: IkeProposal,
  ni: Uint8Array,
  nr: Uint8Array,
  shared: Uint8Array,
): IkeSa {
  const [spiI, spiR] = role === 'initiator' ? [ours, theirs] : [theirs, ours];
  const next = eng.newSa({ role, spiI, spiR, peer: old.peer, socket: old.socket, remote: old.remote });
  const prf = eng.deps.backend.prf(proposal.prf);
  next.proposal = proposal;
  next.prf = prf;
  next.ni = ni;
  next.nr = nr;
  next.peerId = old.peerId;
  if (old.inline) next.inline = true;
  next.keys = deriveRekeyedIkeKeys(old.prf!, old.keys!.skD, prf, proposal.suite, ni, nr, shared, spiBytes(spiI), spiBytes(spiR));
  shared.fill(0);
  next.sk = skKeys(next.keys, proposal.suite, eng.deps.backend, role);
  next.iv = ivSource(next.sk.send, eng.deps.random);
  next.children.push(...old.children);
  old.children.length = 0;
  old.rekeyedTo = next;
  next.fsm.set('authenticating', 'created by IKE rekey');
  next.fsm.set('established', 'IKE rekey done');
  eng.add(next);
  eng.scheduleIke(next, role === 'initiator');
  eng.log.info(`${saName(old)}: IKE SA rekeyed to ${saName(next)}`);
  eng.emit({ type: 'ike-up', sa: next });
  return next;
}

/** A CREATE_CHILD_SA of ours for a child SA (a rekey or a new one) is sent or queued. */
const childExchangeOut = (sa: IkeSa): boolean => sa.children.some((c) => c.state === 'rekeying') || sa.newChild?.state === 'asking';

/** The peer rekeys our IKE SA. */
export function answerIkeRekey(eng: IkeEngine, sa: IkeSa, m: Inbound): void {
  if (sa.fsm.is('rekeying') || sa.rekeyedTo) {
    // Ours is in flight: say so and let the peer try again (§2.25); the leader rule (DESIGN.md)
    // makes this rare.
    return eng.respond(sa, m, [notifyPayload(NOTIFY.TEMPORARY_FAILURE)]);
  }
  if (childExchangeOut(sa)) {
    // Its answer will come on this IKE SA: were the children moved to a successor first, the
    // child it makes would hang off an IKE SA about to be deleted. The peer retries (§2.25).
    eng.log.info(`${saName(sa)}: refusing the IKE rekey: a child SA exchange of ours is in flight`);
    return eng.respond(sa, m, [notifyPayload(NOTIFY.TEMPORARY_FAILURE)]);
  }
  const ke = first(m, 'KE');
  const ni = first(m, 'NONCE')!.data;
  if (!ke) return eng.respond(sa, m, [notifyPayload(NOTIFY.INVALID_SYNTAX)]);
  const spi = eng.newSpi();
  const chosen = selectProposal(first(m, 'SA')!, sa.peer.ike, 'ike', { spi: spiBytes(spi), keGroup: ke.group });
  const theirs = chosen && spi64(chosen.peerSpi);
  if (!chosen || !theirs) return eng.respond(sa, m, [notifyPayload(NOTIFY.NO_PROPOSAL_CHOSEN)]);
  const g = chosen.proposal.group;
  if (g !== ke.group) return eng.respond(sa, m, [notifyPayload(NOTIFY.INVALID_KE_PAYLOAD, groupData(g))]);
  const kex = newKeyExchange(g, eng.deps.dh, eng.deps.dhRandom);
  const shared = sharedSecret(kex, ke.data);
  if (typeof shared === 'string') return eng.respond(sa, m, [notifyPayload(NOTIFY.INVALID_SYNTAX)]);
  const nr = eng.deps.random(NONCE_LEN);
  eng.respond(sa, m, [{ type: 'SA', ...chosen.sa }, { type: 'NONCE', data: nr }, { type: 'KE', group: g, data: kex.publicKey }]);
  successor(eng, sa, 'responder', spi, theirs, chosen.proposal, ni, nr, shared);
  // The initiator DELETEs the old SA; if that never comes, it goes anyway.
  eng.timer(sa, IKE_TIMERS.rekeyLingerMs, 'rekeyed linger', () => void eng.closeSa(sa, 'replaced by rekey', { keepChildren: true }));
}
