/**
 * IKE_SA_INIT (RFC 7296 §1.2), both roles:
 *
 *   HDR, [N(COOKIE),] SAi1, KEi, Ni, N(NAT_DETECTION_SOURCE_IP), N(NAT_DETECTION_DESTINATION_IP)  -->
 *                      <--  HDR, SAr1, KEr, Nr, N(NAT_DETECTION_SOURCE_IP), N(NAT_DETECTION_DESTINATION_IP)
 *
 * Nothing here is authenticated yet. The responder does no Diffie-Hellman and keeps no state for
 * a request it refuses (no proposal, wrong group, cookie demanded); the answers to those are
 * stateless. The initiator acts on COOKIE and INVALID_KE_PAYLOAD a bounded number of times.
 */
import { deriveIkeKeys } from '../../crypto/ike-keys.js';
import { newKeyExchange } from '../../crypto/dh/index.js';
import { IKE_TIMERS } from '../../limits.js';
import type { Endpoint } from '../../sa/types.js';
import { endpointText } from '../../transport/transport.js';
import { MalformedError } from '../../wire/errors.js';
import { KE, name } from '../../wire/iana.js';
import { cookiesRequired } from '../cookies.js';
import { EXCHANGE, FLAG, NAT_T_PORT, NOTIFY } from '../constants.js';
import type { IkeEngine } from '../engine.js';
import { errorNotify, first, notifies, saName, spiBytes, type IkeSa, type IkeSocket, type Inbound } from '../ike-sa.js';
import { decodePayload, encodeMessage, encodePayload, type IkeHeader, type Payload, type RawPayload } from '../message.js';
import { natHash } from '../natd.js';
import type { IkePeer } from '../peer.js';
import { checkChosen, offersGroup, selectProposal, toSaPayload } from '../proposals.js';
import { checkRules } from '../rules.js';
import { ivSource, skKeys } from '../sk.js';
import { startAuth } from './auth.js';
import { groupData, sharedSecret, wantedGroup } from './ke.js';

const NONCE_LEN = 32;

export const notifyPayload = (notify: number, data: Uint8Array = new Uint8Array(0), protocol = 0, spi: Uint8Array = new Uint8Array(0)): Payload => ({
  type: 'N',
  protocol,
  notify,
  spi,
  data,
});

/**
 * Our NAT detection pair. With forced encapsulation the source hash is of an address nobody has,
 * so the peer sees "NAT" and both sides move to UDP 4500 with ESP in UDP (RFC 3948), which is all
 * keyline's userspace data plane can send.
 */
function natPayloads(eng: IkeEngine, spiI: bigint, spiR: bigint, local: Endpoint, remote: Endpoint): Payload[] {
  const src = eng.deps.forceEncap ? eng.deps.random(20) : natHash(spiI, spiR, local);
  return [notifyPayload(NOTIFY.NAT_DETECTION_SOURCE_IP, src), notifyPayload(NOTIFY.NAT_DETECTION_DESTINATION_IP, natHash(spiI, spiR, remote))];
}

// ---- initiator ---------------------------------------------------------------------------------

export function startInit(eng: IkeEngine, peer: IkePeer): void {
  const remote = peer.remote!;
  const socket = eng.socketFor(remote);
  if (!socket) {
    eng.log.error(`${peer.name}: no listening socket for ${endpointText(remote)}'s address family`);
    return;
  }
  if (!eng.admit(false)) return;
  const sa = eng.newSa({ role: 'initiator', spiI: eng.newSpi(), spiR: 0n, peer, socket, remote });
  sa.ni = eng.deps.random(NONCE_LEN);
  eng.add(sa);
  eng.log.info(`${peer.name}: initiating IKE SA to ${endpointText(remote)}`);
  sendInit(eng, sa, peer.ike[0]!.group);
}

function sendInit(eng: IkeEngine, sa: IkeSa, group: number): void {
  const kex = newKeyExchange(group, eng.deps.dh, eng.deps.dhRandom);
  sa.kex = kex;
  sa.offer = toSaPayload(sa.peer.ike, 'ike');
  const payloads: Payload[] = [
    ...(sa.cookie ? [notifyPayload(NOTIFY.COOKIE, sa.cookie)] : []),
    { type: 'SA', ...sa.offer },
    { type: 'KE', group, data: kex.publicKey },
    { type: 'NONCE', data: sa.ni },
    ...natPayloads(eng, sa.spiI, 0n, sa.socket.transport.local, sa.remote),
  ];
  const raw = payloads.map(encodePayload);
  const bytes = encodeMessage(eng.header(sa, EXCHANGE.IKE_SA_INIT, false, 0), raw);
  sa.initRequest = bytes;
  sa.window.close();
  sa.window = eng.newWindow(sa);
  sa.window.request(() => bytes);
  eng.trace('out', sa, EXCHANGE.IKE_SA_INIT, false, 0, bytes.length, raw);
}

/** The plain payloads of an IKE_SA_INIT message, or undefined (counted) when they do not parse. */
function decodePlain(eng: IkeEngine, h: IkeHeader, outer: RawPayload[], response: boolean): Payload[] | undefined {
  const rules = checkRules(EXCHANGE.IKE_SA_INIT, response, outer, []);
  if (!rules.ok) {
    eng.drops.bump('ike-init-invalid');
    eng.log.debug(`IKE_SA_INIT ${response ? 'response' : 'request'} from SPI ${h.spiI.toString(16)}: ${rules.reason}`);
    return undefined;
  }
  try {
    return outer.map(decodePayload);
  } catch (e) {
    if (!(e instanceof MalformedError)) throw e;
    eng.drops.bump('ike-malformed');
    return undefined;
  }
}

export function handleInitResponse(eng: IkeEngine, sa: IkeSa, h: IkeHeader, outer: RawPayload[], data: Uint8Array, from: Endpoint): void {
  if (sa.role !== 'initiator' || !sa.fsm.is('connecting') || h.messageId !== 0 || !sa.window.busy || h.spiI !== sa.spiI) {
    return eng.drops.bump('ike-unexpected-response');
  }
  const payloads = decodePlain(eng, h, outer, true);
  if (!payloads) return;
  const m: Inbound = { exchange: EXCHANGE.IKE_SA_INIT, messageId: 0, payloads, inner: outer, raw: data, from };
  eng.trace('in', sa, EXCHANGE.IKE_SA_INIT, true, 0, data.length, outer);
  if (restart(eng, sa, m)) return;
  const err = errorNotify(m);
  const why = err ? `peer answered ${name(NOTIFY, err.notify)}` : completeInit(eng, sa, h, m, data);
  if (why) return unusableAnswer(eng, sa, why);
  void startAuth(eng, sa).catch((e: unknown) => eng.failed(`${saName(sa)}: IKE_AUTH`, e));
}

/**
 * An answer to IKE_SA_INIT that cannot be used (an error notify, a proposal we did not offer, a
 * bad key share) is not authenticated: anyone on the path can send one faster than the real
 * responder (RFC 7296 §2.21.1). So it does not end the attempt at once: the request stays
 * outstanding for IKE_TIMERS.initErrorWaitMs, and a usable answer arriving meanwhile wins. Only
 * then does the attempt fail, with the last reason seen.
 */
function unusableAnswer(eng: IkeEngine, sa: IkeSa, why: string): void {
  eng.drops.bump('ike-init-unusable-answer');
  const first = sa.initError === undefined;
  sa.initError = why;
  if (!first) return;
  eng.log.info(`${saName(sa)}: unauthenticated IKE_SA_INIT answer (${why}); waiting ${IKE_TIMERS.initErrorWaitMs / 1000} s for another`);
  const attempt = sa.initTries; // a COOKIE or INVALID_KE restart begins a new attempt
  eng.timer(sa, IKE_TIMERS.initErrorWaitMs, 'ike-init-error', () => {
    if (!sa.fsm.is('connecting') || sa.initError === undefined || sa.initTries !== attempt) return;
    sa.window.response(0);
    void fail(eng, sa, sa.initError);
  });
}

/** COOKIE or INVALID_KE_PAYLOAD: send IKE_SA_INIT again, at most a few times. True if handled. */
function restart(eng: IkeEngine, sa: IkeSa, m: Inbound): boolean {
  const cookie = notifies(m, NOTIFY.COOKIE)[0];
  const invalidKe = notifies(m, NOTIFY.INVALID_KE_PAYLOAD)[0];
  if (!cookie && !invalidKe) return false;
  if (sa.initTries >= IKE_TIMERS.initRestartsMax) return false;
  sa.initTries++;
  sa.initError = undefined;
  let group = sa.kex!.group;
  if (cookie) {
    sa.cookie = cookie.data;
    eng.log.info(`${sa.peer.name}: responder demands a cookie; sending IKE_SA_INIT again`);
  } else {
    const want = wantedGroup(invalidKe!.data);
    if (want === undefined || !offersGroup(sa.peer.ike, want) || want === group) return false;
    eng.log.info(`${sa.peer.name}: responder wants key exchange ${name(KE, want)}; sending IKE_SA_INIT again`);
    group = want;
  }
  sendInit(eng, sa, group);
  return true;
}

async function fail(eng: IkeEngine, sa: IkeSa, why: string): Promise<void> {
  eng.log.warn(`${saName(sa)}: IKE_SA_INIT failed: ${why}`);
  await eng.closeSa(sa, why, { quiet: true });
  eng.retryLater(sa.peer, why);
}

/** Check the answer, derive the keys and float to 4500. A reason when it cannot be used. */
function completeInit(eng: IkeEngine, sa: IkeSa, h: IkeHeader, m: Inbound, data: Uint8Array): string | undefined {
  const sap = first(m, 'SA');
  const ke = first(m, 'KE');
  const nr = first(m, 'NONCE');
  if (!sap || !ke || !nr || h.spiR === 0n) return 'incomplete response';
  const chosen = checkChosen(sa.offer!, sap, 'ike');
  if (!chosen.ok) return `bad proposal: ${chosen.reason}`;
  if (chosen.proposal.group !== ke.group || ke.group !== sa.kex!.group) return `KE group ${ke.group} does not match the chosen proposal`;
  if (eng.deps.forceEncap && notifies(m, NOTIFY.NAT_DETECTION_SOURCE_IP).length === 0) {
    return 'the peer does not support NAT traversal, and keyline sends ESP in UDP only';
  }
  const shared = sharedSecret(sa.kex!, ke.data);
  if (typeof shared === 'string') return shared;
  sa.window.response(0);
  sa.initError = undefined;
  sa.spiR = h.spiR;
  sa.nr = nr.data;
  sa.initResponse = data;
  setKeys(eng, sa, chosen.proposal, shared);
  float(eng, sa);
  sa.window = eng.newWindow(sa, { ours: 1, theirs: 0 });
  sa.fsm.set('authenticating', 'IKE_SA_INIT done');
  return undefined;
}

export function setKeys(eng: IkeEngine, sa: IkeSa, proposal: NonNullable<IkeSa['proposal']>, shared: Uint8Array): void {
  const prf = eng.deps.backend.prf(proposal.prf);
  sa.proposal = proposal;
  sa.prf = prf;
  sa.keys = deriveIkeKeys(prf, proposal.suite, sa.ni, sa.nr, shared, spiBytes(sa.spiI), spiBytes(sa.spiR));
  shared.fill(0);
  sa.sk = skKeys(sa.keys, proposal.suite, eng.deps.backend, sa.role);
  sa.iv = ivSource(sa.sk.send, eng.deps.random);
}

/** RFC 7296 §2.23: after IKE_SA_INIT, both sides move to port 4500 (we always encapsulate). */
function float(eng: IkeEngine, sa: IkeSa): void {
  if (sa.socket.natt) return;
  const natt = eng.socketFor(sa.remote, true);
  if (!natt) return;
  sa.socket = natt;
  sa.remote = { addr: sa.remote.addr, port: NAT_T_PORT };
}

// ---- responder ---------------------------------------------------------------------------------

/** A stateless answer: one notify, SPIr zero (§2.6, §1.2). */
function answerStateless(eng: IkeEngine, h: IkeHeader, socket: IkeSocket, to: Endpoint, n: Payload): void {
  const bytes = encodeMessage({ spiI: h.spiI, spiR: 0n, major: 2, minor: 0, exchange: EXCHANGE.IKE_SA_INIT, flags: FLAG.R, messageId: 0 }, [encodePayload(n)]);
  eng.sendTo(socket, to, bytes);
}

/** Connections an IKE_SA_INIT from `from` may belong to: by address first, then addr=any ones. */
function candidatesFor(eng: IkeEngine, from: Endpoint): IkePeer[] {
  const byAddr = eng.deps.peers.filter((p) => p.remote?.addr === from.addr);
  return byAddr.length ? byAddr : eng.deps.peers.filter((p) => p.remote === undefined);
}

export function handleInitRequest(eng: IkeEngine, h: IkeHeader, outer: RawPayload[], data: Uint8Array, from: Endpoint, socket: IkeSocket): void {
  if (h.spiR !== 0n || h.messageId !== 0 || (h.flags & FLAG.I) === 0) return eng.drops.bump('ike-init-invalid');
  const key = `${h.spiI}|${endpointText(from)}`;
  const known = eng.saByInit(key);
  if (known) {
    // A retransmission gets the cached answer while IKE_AUTH is pending; later it is a replay.
    const v = known.fsm.is('connecting') ? known.window.requestIn(0, data) : 'replay';
    if (v !== 'resent') eng.drops.bump(`ike-init-${v}`);
    return;
  }
  const candidates = candidatesFor(eng, from);
  if (candidates.length === 0) return eng.drops.bump('ike-no-peer');
  const payloads = decodePlain(eng, h, outer, false);
  if (!payloads) return;
  const m: Inbound = { exchange: EXCHANGE.IKE_SA_INIT, messageId: 0, payloads, inner: outer, raw: data, from };
  const ni = first(m, 'NONCE')!;
  if (!cookieOk(eng, h, m, ni.data, socket, from)) return;
  if (!eng.admit(true)) return;
  const ke = first(m, 'KE')!;
  const offered = first(m, 'SA')!;
  const spiR = eng.newSpi();
  const chosen = selectProposal(offered, candidates.flatMap((p) => p.ike), 'ike', { keGroup: ke.group });
  if (!chosen) {
    eng.drops.bump('ike-no-proposal');
    eng.refusalLog(`IKE_SA_INIT from ${endpointText(from)}: no acceptable proposal`);
    return answerStateless(eng, h, socket, from, notifyPayload(NOTIFY.NO_PROPOSAL_CHOSEN));
  }
  if (chosen.proposal.group !== ke.group) {
    eng.drops.bump('ike-invalid-ke');
    const g = chosen.proposal.group;
    return answerStateless(eng, h, socket, from, notifyPayload(NOTIFY.INVALID_KE_PAYLOAD, groupData(g)));
  }
  const kex = newKeyExchange(ke.group, eng.deps.dh, eng.deps.dhRandom);
  const shared = sharedSecret(kex, ke.data);
  if (typeof shared === 'string') return eng.drops.bump('ike-bad-ke');
  const sa = eng.newSa({ role: 'responder', spiI: h.spiI, spiR, peer: candidates[0]!, candidates, socket, remote: from });
  sa.ni = ni.data;
  sa.nr = eng.deps.random(NONCE_LEN);
  sa.initRequest = data;
  sa.initKey = key;
  setKeys(eng, sa, chosen.proposal, shared);
  const reply: Payload[] = [
    { type: 'SA', ...chosen.sa },
    { type: 'KE', group: ke.group, data: kex.publicKey },
    { type: 'NONCE', data: sa.nr },
    ...natPayloads(eng, sa.spiI, sa.spiR, socket.transport.local, from),
  ];
  const raw = reply.map(encodePayload);
  sa.initResponse = encodeMessage(eng.header(sa, EXCHANGE.IKE_SA_INIT, true, 0), raw);
  eng.add(sa, key);
  eng.trace('in', sa, EXCHANGE.IKE_SA_INIT, false, 0, data.length, outer);
  sa.window.requestIn(0, data);
  sa.window.respond(0, sa.initResponse);
  eng.trace('out', sa, EXCHANGE.IKE_SA_INIT, true, 0, sa.initResponse.length, raw);
}

/**
 * Under load (§2.6) a request must echo our cookie as its first payload; otherwise it gets one,
 * statelessly, and nothing else happens. True when the request may go on.
 */
function cookieOk(eng: IkeEngine, h: IkeHeader, m: Inbound, ni: Uint8Array, socket: IkeSocket, from: Endpoint): boolean {
  if (!cookiesRequired(eng.halfOpenCount, eng.limits.cookieThreshold)) return true;
  const p = m.payloads[0];
  if (p?.type === 'N' && p.notify === NOTIFY.COOKIE && eng.cookies.check(p.data, ni, from.addr, h.spiI)) return true;
  eng.drops.bump('ike-cookie-sent');
  answerStateless(eng, h, socket, from, notifyPayload(NOTIFY.COOKIE, eng.cookies.make(ni, from.addr, h.spiI)));
  return false;
}
