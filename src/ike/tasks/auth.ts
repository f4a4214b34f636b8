/**
 * IKE_AUTH with a pre-shared key (RFC 7296 §1.2, §2.15), both roles, carrying the first child SA:
 *
 *   HDR, SK {IDi, [IDr,] AUTH, [N(INITIAL_CONTACT),] SAi2, TSi, TSr}  -->
 *                                          <--  HDR, SK {IDr, AUTH, SAr2, TSi, TSr}
 *
 * AUTH = prf(prf(PSK, "Key Pad for IKEv2"), RealMessage | Nonce | prf(SK_p, ID body)): each side
 * signs its own IKE_SA_INIT message, so a tampered IKE_SA_INIT (a downgraded proposal, a forged
 * NAT hash) fails here.
 */
import { pskAuth, verifyPskAuth } from '../../crypto/psk-auth.js';
import { equalCT } from '../../wire/bytes.js';
import { name } from '../../wire/iana.js';
import { AUTH_METHOD, EXCHANGE, ID_TYPE, INLINE_KEYING_VERSION, NOTIFY, PAYLOAD } from '../constants.js';
import type { IkeEngine } from '../engine.js';
import { errorNotify, first, notifies, saName, type IkeSa, type Inbound } from '../ike-sa.js';
import { encodePayload, type Payload } from '../message.js';
import type { Id } from '../payloads/id.js';
import type { IdSpec, IkePeer } from '../peer.js';
import { acceptChild, answerChild, authProposals, childRequest } from './child.js';
import { notifyPayload } from './init.js';
import { deleteIkeSa } from './info.js';
import { collisionLoser } from '../../sa/rekey.js';
import { addrText } from '../../sa/selector.js';

/** "fqdn:gw.example" style text of an ID payload, for logs and status. */
export function idText(id: Id): string {
  const t = id.idType;
  if (t === ID_TYPE.ID_IPV4_ADDR || t === ID_TYPE.ID_IPV6_ADDR) return `${t === ID_TYPE.ID_IPV4_ADDR ? 'ipv4' : 'ipv6'}:${addrText(id.data)}`;
  if (t === ID_TYPE.ID_FQDN) return `fqdn:${new TextDecoder().decode(id.data)}`;
  if (t === ID_TYPE.ID_RFC822_ADDR) return `user-fqdn:${new TextDecoder().decode(id.data)}`;
  if (t === ID_TYPE.ID_KEY_ID) return `keyid:${Buffer.from(id.data).toString('hex')}`;
  return `${name(ID_TYPE, t)}:${Buffer.from(id.data).toString('hex')}`;
}

const sameId = (want: IdSpec, got: Id): boolean => want.type === got.idType && equalCT(want.data, got.data);

/** The body of the first inner payload of a type, exactly as received (AUTH covers those bytes). */
function rawBody(m: Inbound, type: number): Uint8Array | undefined {
  return m.inner.find((p) => p.type === type)?.body;
}

// ---- initiator ---------------------------------------------------------------------------------

export async function startAuth(eng: IkeEngine, sa: IkeSa): Promise<void> {
  const p = sa.peer;
  const child = await childRequest(eng, sa, authProposals(p.esp));
  if (!sa.fsm.is('authenticating')) return void eng.deps.driver.deleteSa('in', child.spiIn).catch(() => {});
  const idi = encodePayload({ type: 'IDi', idType: p.localId.type, data: p.localId.data });
  const auth = pskAuth(sa.prf!, p.psk, sa.initRequest, sa.nr, sa.keys!.skPi, idi.body);
  const first = !eng.sasOf(p).some((s) => s !== sa && s.fsm.is('established', 'rekeying'));
  const payloads: Payload[] = [
    { type: 'IDi', idType: p.localId.type, data: p.localId.data },
    ...(p.remoteId ? [{ type: 'IDr', idType: p.remoteId.type, data: p.remoteId.data } as Payload] : []),
    { type: 'AUTH', method: AUTH_METHOD.PSK, data: auth },
    // Tell a restarted peer to drop what it still holds from us (§2.4).
    ...(first ? [notifyPayload(NOTIFY.INITIAL_CONTACT)] : []),
    ...(p.inline ? [inlineNotify()] : []),
    ...child.payloads,
  ];
  eng.request(sa, EXCHANGE.IKE_AUTH, payloads, {
    what: 'IKE_AUTH',
    onResponse: async (m) => {
      const why = verifyResponder(sa, m);
      if (why) {
        eng.log.error(`${saName(sa)}: IKE_AUTH failed: ${why}`);
        await eng.deps.driver.deleteSa('in', child.spiIn).catch(() => {});
        await eng.closeSa(sa, why, { quiet: true });
        return eng.retryLater(p, why);
      }
      sa.inline = p.inline === true && offersInline(m);
      established(eng, sa, true);
      const made = await acceptChild(eng, sa, m, child, sa.ni, sa.nr, false);
      if (typeof made === 'string') {
        eng.log.error(`${saName(sa)}: child SA not established: ${made}`);
        await eng.deps.driver.deleteSa('in', child.spiIn).catch(() => {});
      }
    },
  });
}

/** The responder's IDr and AUTH; a reason when they do not check out. */
function verifyResponder(sa: IkeSa, m: Inbound): string | undefined {
  const idr = first(m, 'IDr');
  const auth = first(m, 'AUTH');
  const idrBody = rawBody(m, PAYLOAD.IDr);
  if (!idr || !auth || !idrBody) {
    const err = errorNotify(m);
    return err ? `peer answered ${name(NOTIFY, err.notify)}` : 'no IDr or AUTH in the answer';
  }
  const p = sa.peer;
  if (p.remoteId && !sameId(p.remoteId, idr)) return `peer identified as ${idText(idr)}, expected another identity`;
  if (auth.method !== AUTH_METHOD.PSK) return `peer used auth method ${name(AUTH_METHOD, auth.method)}, expected PSK`;
  if (!verifyPskAuth(sa.prf!, p.psk, sa.initResponse, sa.ni, sa.keys!.skPr, idrBody, auth.data)) return 'AUTH payload does not verify (wrong PSK?)';
  sa.peerId = idText(idr);
  return undefined;
}

function established(eng: IkeEngine, sa: IkeSa, weInitiated: boolean): void {
  sa.fsm.set('established', 'IKE_AUTH done');
  eng.settle(sa);
  // AUTH was the last use of these; an established SA keeps only what it needs.
  sa.initRequest = sa.initResponse = new Uint8Array(0);
  sa.candidates = [sa.peer];
  sa.kex = undefined;
  sa.offer = undefined;
  eng.scheduleIke(sa, weInitiated);
  const pr = sa.proposal!;
  eng.log.info(`${saName(sa)}: IKE SA established with ${sa.peerId} at ${sa.remote.addr}:${sa.remote.port} (${pr.suite} prf${pr.prf} ke${pr.group})`);
  eng.emit({ type: 'ike-up', sa });
  dropDuplicate(eng, sa);
}

/**
 * Both ends initiated (start=initiate on both, at once): two IKE SAs, each with a child SA, for
 * one connection, and twice the rekeys and liveness checks from then on. Both sides reach the same
 * verdict without a message: the IKE SA whose lower nonce is the lower of the two is redundant
 * (the rule RFC 7296 §2.8.1 gives for simultaneous rekeys), and its initiator deletes it as soon
 * as it holds both, which it does last. Only for a connection with a peer address: an addr=any
 * connection may serve several clients with one identity.
 */
function dropDuplicate(eng: IkeEngine, sa: IkeSa): void {
  if (!sa.peer.remote) return;
  for (const other of eng.sasOf(sa.peer)) {
    if (other === sa || !other.fsm.is('established') || other.rekeyedTo || other.peerId !== sa.peerId) continue;
    const redundant = collisionLoser(sa, other) === 'ours' ? sa : other;
    eng.log.info(`${saName(redundant)}: both ends initiated; ${saName(redundant === sa ? other : sa)} stays`);
    if (redundant.role === 'initiator') deleteIkeSa(eng, redundant, 'duplicate: both ends initiated');
    return;
  }
}

// ---- responder ---------------------------------------------------------------------------------

/** The connection the initiator proved to be: its ID matches and the IKE proposal is one of ours. */
function pickPeer(sa: IkeSa, idi: Id): IkePeer | undefined {
  const pr = sa.proposal!;
  const acceptsProposal = (p: IkePeer) => p.ike.some((q) => q.suite === pr.suite && q.prf === pr.prf && q.group === pr.group);
  return sa.candidates.find((p) => (p.remoteId ? sameId(p.remoteId, idi) : true) && acceptsProposal(p));
}

export async function handleAuthRequest(eng: IkeEngine, sa: IkeSa, m: Inbound): Promise<void> {
  if (sa.role !== 'responder' || !sa.fsm.is('connecting')) return eng.refuse(sa, m, NOTIFY.INVALID_SYNTAX, 'IKE_AUTH out of place');
  sa.fsm.set('authenticating', 'IKE_AUTH received');
  const idi = first(m, 'IDi')!;
  const auth = first(m, 'AUTH')!;
  const idiBody = rawBody(m, PAYLOAD.IDi)!;
  const peer = pickPeer(sa, idi);
  const ok = peer && auth.method === AUTH_METHOD.PSK && verifyPskAuth(sa.prf!, peer.psk, sa.initRequest, sa.nr, sa.keys!.skPi, idiBody, auth.data);
  if (!peer || !ok) {
    const why = peer ? `AUTH from ${idText(idi)} does not verify (wrong PSK?)` : `no connection for ${idText(idi)}`;
    eng.log.warn(`${saName(sa)}: authentication failed: ${why}`);
    eng.respond(sa, m, [notifyPayload(NOTIFY.AUTHENTICATION_FAILED)]);
    return eng.closeSa(sa, 'authentication failed', { quiet: true });
  }
  sa.peer = peer;
  sa.peerId = idText(idi);
  if (notifies(m, NOTIFY.INITIAL_CONTACT).length) await dropOlder(eng, sa);
  const idr = encodePayload({ type: 'IDr', idType: peer.localId.type, data: peer.localId.data });
  sa.inline = peer.inline === true && offersInline(m);
  const ours: Payload[] = [
    { type: 'IDr', idType: peer.localId.type, data: peer.localId.data },
    { type: 'AUTH', method: AUTH_METHOD.PSK, data: pskAuth(sa.prf!, peer.psk, sa.initResponse, sa.ni, sa.keys!.skPr, idr.body) },
    ...(sa.inline ? [inlineNotify()] : []),
  ];
  const wantsChild = first(m, 'SA') !== undefined;
  const child = wantsChild ? await answerChild(eng, sa, m, { ni: sa.ni, nr: sa.nr, withKe: false }, false) : undefined;
  if (sa.fsm.is('closed')) return;
  if (child && !child.ok) eng.log.warn(`${saName(sa)}: refusing child SA: ${child.why}`);
  const childPayloads = !child ? [] : child.ok ? child.payloads.filter((x) => x.type !== 'NONCE') : [notifyPayload(child.notify, child.data)];
  eng.respond(sa, m, [...ours, ...childPayloads]);
  established(eng, sa, false);
}

/** keyline's inline keying announcement (src/inline/README.md §7.1); other peers ignore it. */
const inlineNotify = (): Payload => notifyPayload(NOTIFY.INLINE_KEYING_SUPPORTED, Uint8Array.of(INLINE_KEYING_VERSION));

function offersInline(m: Inbound): boolean {
  return notifies(m, NOTIFY.INLINE_KEYING_SUPPORTED).some((n) => n.data[0] === INLINE_KEYING_VERSION);
}

/** INITIAL_CONTACT (§2.4): the peer restarted, so every other IKE SA with it is stale. */
async function dropOlder(eng: IkeEngine, sa: IkeSa): Promise<void> {
  for (const old of eng.sasOf(sa.peer)) {
    if (old !== sa && !old.fsm.is('connecting', 'authenticating')) await eng.closeSa(old, 'peer restarted (INITIAL_CONTACT)');
  }
}
