/**
 * Child SAs (RFC 7296 §1.3, §2.8, §2.9, §2.17): negotiating one (in IKE_AUTH or CREATE_CHILD_SA),
 * installing it in the driver, rekeying it and taking it down.
 *
 *   HDR, SK {N(REKEY_SA), SA, Ni, [KEi], TSi, TSr}  -->
 *                                      <--  HDR, SK {SA, Nr, [KEr], TSi, TSr}
 *
 * Rekeying is make-before-break (DESIGN.md): the new SAs go in first and outbound moves to them
 * at once (the driver sends on the newest outbound SA of a reqid), the old inbound SA keeps
 * accepting until DELETE clears it away.
 */
import type { ChildSaKeys, DirectionKeys } from '../../crypto/ike-keys.js';
import { deriveChildKeys } from '../../crypto/ike-keys.js';
import { newKeyExchange, type KeyExchange } from '../../crypto/dh/index.js';
import { IKE_TIMERS } from '../../limits.js';
import { collisionLoser, planRekey } from '../../sa/rekey.js';
import { spiText } from '../../sa/sad.js';
import type { SaSpec } from '../../sa/types.js';
import { KE, name } from '../../wire/iana.js';
import { NOTIFY, PROTO } from '../constants.js';
import { EXCHANGE } from '../constants.js';
import type { IkeEngine } from '../engine.js';
import { errorNotify, first, notifies, saName, spi32, spi32Bytes, type ChildSa, type ChildSpec, type IkeSa, type Inbound } from '../ike-sa.js';
import { narrow, within } from '../narrow.js';
import type { Payload } from '../message.js';
import type { Selector as TsRange } from '../payloads/ts.js';
import { checkChosen, selectProposal, toSaPayload, type EspProposal } from '../proposals.js';
import { selectorsToTs, tsToSelectors } from '../ts-map.js';
import { notifyPayload } from './init.js';
import { groupData, sharedSecret, wantedGroup } from './ke.js';

export const NONCE_LEN = 32;

/** IKE_AUTH's child SA has no key exchange of its own (§1.2): our ESP proposals without groups. */
export function authProposals(esp: readonly EspProposal[]): EspProposal[] {
  const out: EspProposal[] = [];
  for (const p of esp) {
    const q: EspProposal = { suite: p.suite, esn: p.esn };
    if (!out.some((o) => o.suite === q.suite && o.esn === q.esn)) out.push(q);
  }
  return out;
}

export interface NewChild extends ChildSpec {
  /** Keys per direction from our point of view. */
  readonly keys: { readonly in: DirectionKeys; readonly out: DirectionKeys };
}

/** Keys of a child SA from our point of view: the exchange initiator's outbound is I→R. */
export function ourKeys(k: ChildSaKeys, weInitiated: boolean): NewChild['keys'] {
  return weInitiated ? { out: k.initiatorToResponder, in: k.responderToInitiator } : { out: k.responderToInitiator, in: k.initiatorToResponder };
}

function spec(sa: IkeSa, c: NewChild, dir: 'in' | 'out'): SaSpec {
  const k = c.keys[dir];
  const p = sa.peer;
  return {
    spi: dir === 'in' ? c.spiIn : c.spiOut,
    dir,
    reqid: p.reqid,
    suite: c.proposal.suite,
    encKey: k.encKey,
    ...(k.integKey && { integKey: k.integKey }),
    mode: p.mode,
    esn: c.proposal.esn,
    replayWindow: p.replayWindow,
    local: sa.socket.transport.local,
    remote: sa.remote,
    selectors: c.selectors,
    soft: {},
    hard: { seconds: p.childLifetime },
    peer: p.name,
  };
}

/** Where the inbound SA on a fresh SPI will live: the kernel driver reserves the SPI there. */
const spiHint = (sa: IkeSa) => ({ reqid: sa.peer.reqid, local: sa.socket.transport.local, remote: sa.remote, mode: sa.peer.mode });

/** Inbound first, so the peer's first packet on the new SA finds it; then outbound. */
export async function installChild(eng: IkeEngine, sa: IkeSa, c: NewChild, rekey: boolean): Promise<ChildSa> {
  const driver = eng.deps.driver;
  await driver.addSa(spec(sa, c, 'in'));
  try {
    await driver.addSa(spec(sa, c, 'out'));
  } catch (e) {
    await driver.deleteSa('in', c.spiIn).catch(() => {});
    throw e;
  }
  const child: ChildSa = {
    reqid: sa.peer.reqid,
    spiIn: c.spiIn,
    spiOut: c.spiOut,
    proposal: c.proposal,
    selectors: c.selectors,
    ni: c.ni,
    nr: c.nr,
    weInitiated: c.weInitiated,
    createdAt: eng.now,
    state: 'installed',
    timers: [],
  };
  sa.children.push(child);
  scheduleChild(eng, sa, child);
  eng.log.info(`${saName(sa)}: child SA ${rekey ? 'rekeyed' : 'up'}: in ${spiText(c.spiIn)} out ${spiText(c.spiOut)} ${c.proposal.suite}${c.proposal.esn ? ' esn' : ''}`);
  eng.emit({ type: 'child-up', sa, child, rekey });
  return child;
}

function scheduleChild(eng: IkeEngine, sa: IkeSa, child: ChildSa): void {
  const p = sa.peer;
  const plan = planRekey(p.childLifetime, p.rekeyMargin, child.weInitiated, eng.deps.rand01());
  const at = (ms: number, what: string, fn: () => void) =>
    child.timers.push(eng.deps.clock.after(ms, `${saName(sa)} ${spiText(child.spiIn)} ${what}`, () => eng.guard(what, fn)));
  at(plan.startMs, 'child-rekey', () => {
    const owner = ownerOf(eng, child);
    if (owner && child.state === 'installed') startChildRekey(eng, owner, child);
  });
  at(plan.hardMs, 'child-expire', () => {
    const owner = ownerOf(eng, child);
    if (owner) void deleteChild(eng, owner, child, 'lifetime reached');
  });
}

/** The IKE SA a child belongs to now (an IKE rekey moves children). */
function ownerOf(eng: IkeEngine, child: ChildSa): IkeSa | undefined {
  return eng.sas().find((s) => s.children.includes(child) && !s.fsm.is('closed'));
}

/** Take a child out of the driver and the SA, without telling the peer. Idempotent. */
export async function removeChild(eng: IkeEngine, sa: IkeSa, child: ChildSa, why: string): Promise<void> {
  const i = sa.children.indexOf(child);
  if (i < 0) return;
  sa.children.splice(i, 1);
  for (const t of child.timers) t.cancel();
  child.timers = [];
  const d = eng.deps.driver;
  await d.deleteSa('out', child.spiOut).catch(() => {});
  await d.deleteSa('in', child.spiIn).catch(() => {});
  eng.log.info(`${saName(sa)}: child SA in ${spiText(child.spiIn)} out ${spiText(child.spiOut)} removed (${why})`);
  eng.emit({ type: 'child-down', sa, child, why });
  eng.childGone(sa);
}

/** INFORMATIONAL with DELETE for one child (its inbound SPI, §3.11); removed when answered. */
export function deleteChild(eng: IkeEngine, sa: IkeSa, child: ChildSa, why: string): void {
  if (child.state === 'deleting') return;
  if (!sa.fsm.is('established', 'rekeying')) return void removeChild(eng, sa, child, why);
  child.state = 'deleting';
  const d: Payload = { type: 'D', protocol: PROTO.ESP, spiSize: 4, spis: [spi32Bytes(child.spiIn)] };
  eng.request(sa, EXCHANGE.INFORMATIONAL, [d], { what: `delete child ${spiText(child.spiIn)}`, onResponse: () => removeChild(eng, sa, child, why) });
}

// ---- the child part of a request we answer (IKE_AUTH and CREATE_CHILD_SA) ----------------------

export interface ChildOffer {
  readonly ni: Uint8Array;
  readonly nr: Uint8Array;
  /** CREATE_CHILD_SA only: our KE payload when the chosen proposal has PFS. */
  readonly withKe: boolean;
}

export type ChildAnswer = { ok: true; payloads: Payload[]; child: ChildSa } | { ok: false; notify: number; data?: Uint8Array; why: string };

const refused = (notify: number, why: string, data?: Uint8Array): ChildAnswer => ({ ok: false, notify, why, ...(data && { data }) });

/**
 * Responder: choose the proposal, narrow the selectors (§2.9), run the key exchange if the
 * proposal has one, allocate our SPI and install the child before answering.
 */
export async function answerChild(eng: IkeEngine, sa: IkeSa, m: Inbound, o: ChildOffer, rekey: boolean): Promise<ChildAnswer> {
  const p = sa.peer;
  const offered = first(m, 'SA');
  const tsi = first(m, 'TSi');
  const tsr = first(m, 'TSr');
  if (!offered || !tsi || !tsr) return refused(NOTIFY.INVALID_SYNTAX, 'SA, TSi and TSr required');
  const transport = notifies(m, NOTIFY.USE_TRANSPORT_MODE).length > 0;
  if (transport !== (p.mode === 'transport')) return refused(NOTIFY.NO_PROPOSAL_CHOSEN, `peer asks for ${transport ? 'transport' : 'tunnel'} mode, configured ${p.mode}`);
  const ke = first(m, 'KE');
  const configured = o.withKe ? p.esp : authProposals(p.esp);
  const chosen = selectProposal(offered, configured, 'esp', ke ? { keGroup: ke.group } : {});
  if (!chosen) return refused(NOTIFY.NO_PROPOSAL_CHOSEN, 'no acceptable ESP proposal');
  const group = chosen.proposal.group ?? KE.NONE;
  if (group !== KE.NONE && ke?.group !== group) return refused(NOTIFY.INVALID_KE_PAYLOAD, `want KE group ${group}`, groupData(group));
  const narrowed = narrow(tsi.selectors, tsr.selectors, p.selectors);
  if (!narrowed) return refused(NOTIFY.TS_UNACCEPTABLE, 'traffic selectors do not overlap the configuration');
  const selectors = tsToSelectors(narrowed.tsr, narrowed.tsi);
  if (!selectors) return refused(NOTIFY.TS_UNACCEPTABLE, 'too many traffic selectors');
  const peerSpi = spi32(chosen.peerSpi);
  if (peerSpi === undefined || peerSpi < 256) return refused(NOTIFY.INVALID_SYNTAX, 'bad ESP SPI');
  let kex: KeyExchange | undefined;
  let shared: Uint8Array | undefined;
  if (group !== KE.NONE) {
    kex = newKeyExchange(group, eng.deps.dh, eng.deps.dhRandom);
    const s = sharedSecret(kex, ke!.data);
    if (typeof s === 'string') return refused(NOTIFY.INVALID_SYNTAX, s);
    shared = s;
  }
  const keys = deriveChildKeys(sa.prf!, sa.keys!.skD, chosen.proposal.suite, o.ni, o.nr, shared);
  shared?.fill(0);
  let spiIn: number;
  let child: ChildSa;
  try {
    spiIn = await eng.deps.driver.allocSpi(spiHint(sa));
    child = await installChild(eng, sa, { spiIn, spiOut: peerSpi, proposal: chosen.proposal, selectors, ni: o.ni, nr: o.nr, weInitiated: false, keys: ourKeys(keys, false) }, rekey);
  } catch (e) {
    // The driver cannot take it (SAD full, the kernel refused): refuse this child and say so.
    // Without an answer the peer retransmits the request and then deletes the IKE SA with all
    // its other child SAs.
    const full = (e as { code?: unknown }).code === 'SAD_FULL';
    if (!full) eng.failed(`${saName(sa)}: installing a child SA`, e);
    return refused(full ? NOTIFY.NO_ADDITIONAL_SAS : NOTIFY.TEMPORARY_FAILURE, `cannot install the child SA: ${(e as Error).message}`);
  }
  const sap = { ...chosen.sa, proposals: chosen.sa.proposals.map((q) => ({ ...q, spi: spi32Bytes(spiIn) })) };
  const payloads: Payload[] = [
    ...(transport ? [notifyPayload(NOTIFY.USE_TRANSPORT_MODE)] : []),
    { type: 'SA', ...sap },
    ...(o.withKe ? [{ type: 'NONCE', data: o.nr } as Payload] : []),
    ...(kex ? [{ type: 'KE', group, data: kex.publicKey } as Payload] : []),
    { type: 'TSi', selectors: narrowed.tsi },
    { type: 'TSr', selectors: narrowed.tsr },
  ];
  return { ok: true, payloads, child };
}

// ---- the child part of a request we send ---------------------------------------------------------

export interface ChildRequest {
  readonly spiIn: number;
  readonly offer: ReturnType<typeof toSaPayload<'esp'>>;
  readonly tsi: TsRange[];
  readonly tsr: TsRange[];
  readonly kex?: KeyExchange;
  readonly payloads: Payload[];
}

/** SA, [KE,] TSi, TSr (and USE_TRANSPORT_MODE) for a child we ask for. */
export async function childRequest(eng: IkeEngine, sa: IkeSa, proposals: readonly EspProposal[], group?: number): Promise<ChildRequest> {
  const p = sa.peer;
  const spiIn = await eng.deps.driver.allocSpi(spiHint(sa));
  const offer = toSaPayload(proposals, 'esp', spi32Bytes(spiIn));
  const ts = selectorsToTs(p.selectors);
  const kex = group !== undefined && group !== KE.NONE ? newKeyExchange(group, eng.deps.dh, eng.deps.dhRandom) : undefined;
  const payloads: Payload[] = [
    ...(p.mode === 'transport' ? [notifyPayload(NOTIFY.USE_TRANSPORT_MODE)] : []),
    { type: 'SA', ...offer },
    ...(kex ? [{ type: 'KE', group: kex.group, data: kex.publicKey } as Payload] : []),
    { type: 'TSi', selectors: ts.local },
    { type: 'TSr', selectors: ts.remote },
  ];
  return { spiIn, offer, tsi: ts.local, tsr: ts.remote, ...(kex && { kex }), payloads };
}

/** Initiator: check the responder's answer (§2.7, §2.9) and install. A reason when unusable. */
export async function acceptChild(eng: IkeEngine, sa: IkeSa, m: Inbound, req: ChildRequest, ni: Uint8Array, nr: Uint8Array, rekey: boolean): Promise<ChildSa | string> {
  const err = errorNotify(m);
  if (err) return `peer answered ${name(NOTIFY, err.notify)}`;
  const sap = first(m, 'SA');
  const tsi = first(m, 'TSi');
  const tsr = first(m, 'TSr');
  if (!sap || !tsi || !tsr) return 'no child SA in the answer';
  const chosen = checkChosen(req.offer, sap, 'esp');
  if (!chosen.ok) return `bad ESP proposal: ${chosen.reason}`;
  const transport = notifies(m, NOTIFY.USE_TRANSPORT_MODE).length > 0;
  if (transport !== (sa.peer.mode === 'transport')) return `peer chose ${transport ? 'transport' : 'tunnel'} mode`;
  if (!tsi.selectors.every((s) => req.tsi.some((o) => within(s, o))) || !tsr.selectors.every((s) => req.tsr.some((o) => within(s, o)))) {
    return 'answered traffic selectors are not within what was asked';
  }
  const selectors = tsToSelectors(tsi.selectors, tsr.selectors);
  if (!selectors) return 'too many traffic selectors';
  const spiOut = spi32(chosen.peerSpi);
  if (spiOut === undefined || spiOut < 256) return 'bad ESP SPI';
  const group = chosen.proposal.group ?? KE.NONE;
  let shared: Uint8Array | undefined;
  if (group !== KE.NONE) {
    const ke = first(m, 'KE');
    if (!req.kex || ke?.group !== group || req.kex.group !== group) return 'KE does not match the chosen proposal';
    const s = sharedSecret(req.kex, ke.data);
    if (typeof s === 'string') return s;
    shared = s;
  }
  const keys = deriveChildKeys(sa.prf!, sa.keys!.skD, chosen.proposal.suite, ni, nr, shared);
  shared?.fill(0);
  return installChild(eng, sa, { spiIn: req.spiIn, spiOut, proposal: chosen.proposal, selectors, ni, nr, weInitiated: true, keys: ourKeys(keys, true) }, rekey);
}

// ---- CREATE_CHILD_SA ---------------------------------------------------------------------------

/** Rekey a child (we lead, or the leader failed): a new child replaces it, then DELETE the old. */
export function startChildRekey(eng: IkeEngine, sa: IkeSa, child: ChildSa, group = child.proposal.group): void {
  if (!sa.fsm.is('established') || child.state !== 'installed') return;
  child.state = 'rekeying';
  void rekeyChild(eng, sa, child, group).catch((e: unknown) => {
    child.state = 'installed';
    eng.failed(`${saName(sa)}: child rekey`, e);
  });
}

async function rekeyChild(eng: IkeEngine, sa: IkeSa, old: ChildSa, group: number | undefined): Promise<void> {
  const ni = eng.deps.random(NONCE_LEN);
  const req = await childRequest(eng, sa, sa.peer.esp, group);
  const rekeySa = notifyPayload(NOTIFY.REKEY_SA, new Uint8Array(0), PROTO.ESP, spi32Bytes(old.spiIn));
  const [sap, ...rest] = req.payloads.filter((x) => x.type !== 'N');
  const payloads: Payload[] = [rekeySa, ...req.payloads.filter((x) => x.type === 'N'), sap!, { type: 'NONCE', data: ni }, ...rest];
  eng.log.info(`${saName(sa)}: rekeying child SA ${spiText(old.spiIn)}`);
  eng.request(sa, EXCHANGE.CREATE_CHILD_SA, payloads, {
    what: `rekey child ${spiText(old.spiIn)}`,
    onResponse: async (m) => {
      const nr = first(m, 'NONCE')?.data;
      const err = errorNotify(m);
      if (err || !nr) return childRekeyFailed(eng, sa, old, req.spiIn, err?.notify, err?.data);
      const made = await acceptChild(eng, sa, m, req, ni, nr, true);
      if (typeof made === 'string') {
        eng.log.warn(`${saName(sa)}: child rekey failed: ${made}`);
        old.state = 'installed';
        return eng.deps.driver.deleteSa('in', req.spiIn).catch(() => {});
      }
      resolveRekey(eng, sa, old, made);
    },
  });
}

async function childRekeyFailed(eng: IkeEngine, sa: IkeSa, old: ChildSa, spiIn: number, notify: number | undefined, data: Uint8Array | undefined): Promise<void> {
  old.state = 'installed';
  await eng.deps.driver.deleteSa('in', spiIn).catch(() => {});
  const why = notify === undefined ? 'no nonce in the answer' : name(NOTIFY, notify);
  if (notify === NOTIFY.CHILD_SA_NOT_FOUND) {
    // The peer already replaced or deleted it (a collision it resolved): ours is redundant.
    eng.log.info(`${saName(sa)}: peer no longer has child ${spiText(old.spiIn)}; not rekeying it`);
    old.state = 'rekeyed';
    return;
  }
  const g = notify === NOTIFY.INVALID_KE_PAYLOAD && data ? wantedGroup(data) : undefined;
  if (g !== undefined && sa.peer.esp.some((p) => p.group === g) && g !== old.proposal.group) return startChildRekey(eng, sa, old, g);
  eng.log.warn(`${saName(sa)}: child rekey refused: ${why}`);
  if (notify === NOTIFY.TEMPORARY_FAILURE) {
    eng.timer(sa, IKE_TIMERS.temporaryFailureMs * (1 + eng.deps.rand01()), 'child-rekey-retry', () => startChildRekey(eng, sa, old));
  }
}

/**
 * Our rekey is done. If the peer rekeyed the same child meanwhile (RFC 7296 §2.8.1), the
 * exchange with the lowest nonce made the redundant child, and its initiator deletes that one;
 * the winner's initiator deletes the old child.
 */
function resolveRekey(eng: IkeEngine, sa: IkeSa, old: ChildSa, ours: ChildSa): void {
  const theirs = old.theirRekey;
  if (theirs && theirs.child && sa.children.includes(theirs.child)) {
    const loser = collisionLoser({ ni: ours.ni, nr: ours.nr }, { ni: theirs.ni, nr: theirs.nr });
    eng.log.info(`${saName(sa)}: simultaneous rekey of ${spiText(old.spiIn)}: ${loser === 'ours' ? 'ours' : "the peer's"} is redundant`);
    if (loser === 'ours') {
      old.state = 'rekeyed';
      return deleteChild(eng, sa, ours, 'redundant after simultaneous rekey');
    }
  }
  old.state = 'installed';
  deleteChild(eng, sa, old, 'rekeyed');
}

/** CREATE_CHILD_SA request for a child: a rekey (N(REKEY_SA)) or a new one. */
export async function answerCreateChild(eng: IkeEngine, sa: IkeSa, m: Inbound): Promise<void> {
  const rekeyOf = notifies(m, NOTIFY.REKEY_SA)[0];
  let old: ChildSa | undefined;
  if (rekeyOf) {
    const spi = spi32(rekeyOf.spi);
    old = sa.children.find((c) => c.spiOut === spi && c.state !== 'deleting');
    if (!old) return eng.respond(sa, m, [notifyPayload(NOTIFY.CHILD_SA_NOT_FOUND, new Uint8Array(0), PROTO.ESP, rekeyOf.spi)]);
  }
  const ni = first(m, 'NONCE')!.data;
  const nr = eng.deps.random(NONCE_LEN);
  const a = await answerChild(eng, sa, m, { ni, nr, withKe: true }, old !== undefined);
  if (sa.fsm.is('closed')) return;
  if (!a.ok) {
    eng.log.warn(`${saName(sa)}: refusing child SA: ${a.why}`);
    return eng.respond(sa, m, [notifyPayload(a.notify, a.data)]);
  }
  if (old) {
    if (old.state === 'rekeying') old.theirRekey = { ni, nr, child: a.child };
    else {
      old.state = 'rekeyed';
      // The initiator deletes the old child; if its DELETE never comes, clean up anyway.
      const o = old;
      old.timers.push(eng.deps.clock.after(IKE_TIMERS.rekeyLingerMs, 'rekeyed child linger', () => void removeChild(eng, sa, o, 'replaced by rekey')));
    }
  }
  eng.respond(sa, m, a.payloads);
}
