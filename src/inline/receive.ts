import type { Endpoint, Selector } from '../sa/types.js';
import { parseIp, type IpInfo } from '../sa/ip.js';
import { matches } from '../sa/selector.js';
import { hex } from '../wire/bytes.js';
import { IPPROTO } from '../wire/iana.js';
import { INLINE_LIMITS } from '../limits.js';
import { compareNonces, decodeHeader, HEADER_TYPE, INLINE_NEXT_HEADER, NONCE_LEN, type InlineHeader } from './header.js';
import { canonicalFlow, flowKey, flowSelector, inboundView, isScope } from './flow.js';
import { saKey, tagOk } from './keys.js';
import { suiteIds, type Parent, type Secret } from './parent.js';
import { concat2, equal, innerIp, mirrorIp, sampleOf } from './packets.js';
import type { Flow, InlineEngine } from './engine.js';

/**
 * What the inline engine does with headers that arrive (README.md §6.2, §6.3, §6.4): checks in
 * the specification's order, each failure counted by reason and nothing changed, then the state
 * change. Functions over the engine's tables, kept apart from the sending side.
 */

export function onCarrierHeader(eng: InlineEngine, p: Parent, payload: Uint8Array, from: Endpoint): void {
  const d = decodeHeader(payload);
  if ('fail' in d) return eng.host.drop(d.fail);
  const { header: h, len } = d;
  if (h.type === HEADER_TYPE.RETIRE) return onRetire(eng, p, h, payload.subarray(0, len));
  if (h.type !== HEADER_TYPE.OFFER) return eng.host.drop('inline-unexpected');
  const inner = payload.subarray(len);
  const ip = innerIp(h, inner);
  if (!ip) return eng.host.drop('inline-bad-inner');
  const parentSel = p.spec.selectors.find((s) => matches(s, ip, true));
  if (!parentSel) return eng.host.drop('inline-policy');
  const why = offerShape(p, h);
  if (why) return eng.host.drop(why);
  const secret = p.secrets.find((s) => tagOk(p.prf, s.kHdr, payload.subarray(0, len), canonicalFlow(h.scope, ip)));
  if (!secret) return eng.host.drop('inline-tag');
  // Authenticated from here on.
  if (p.spec.static) p.remote = { addr: from.addr, port: from.port };
  onOffer(eng, p, secret, h, ip, parentSel);
  if (h.next !== IPPROTO.NONE) eng.host.deliver(inner);
}

/** README.md §6.2's shape checks: suite, lifetime, SPI, scope. */
function offerShape(p: Parent, h: InlineHeader): string | undefined {
  const ids = suiteIds(p.suite);
  if (h.encrId !== ids.encrId || h.keyBits !== ids.keyBits) return 'inline-suite';
  if (h.lifetime < INLINE_LIMITS.lifetimeMin || h.lifetime > INLINE_LIMITS.lifetimeMax) return 'inline-lifetime';
  if (h.replySpi < 256) return 'inline-spi';
  if (!isScope(h.scope)) return 'inline-scope';
  return undefined;
}

export function onOffer(eng: InlineEngine, p: Parent, secret: Secret, h: InlineHeader, ip: IpInfo, parentSel: Selector): void {
  const n1 = hex(h.nonce);
  const seen = secret.nonces.get(n1);
  if (seen === 'own') return eng.host.drop('inline-reflected');
  const v = inboundView(ip);
  const key = p.spec.reqid + '/' + flowKey(h.scope, 'answerer', v);
  const existing = eng.flows.get(key);
  if (existing?.peerNonce && equal(existing.peerNonce, h.nonce)) {
    // Idempotent (README.md §6.2): the answer rides again; a lone header is answered at once.
    if (h.next === IPPROTO.NONE && existing.side === 'answerer') answerAlone(eng, existing, ip);
    return;
  }
  if (seen === 'peer') return eng.host.drop('inline-nonce-reused');
  if (existing?.state === 'offered') {
    eng.flowEvent(existing, 'collisions');
    if (compareNonces(existing.nonce, h.nonce) > 0) return; // ours wins; the peer answers ours
    eng.remove(existing, false);
  } else if (existing) eng.drain(existing); // the peer started over: a new pair replaces it
  if (!eng.mayKey(p, secret)) return;
  const carrier = p.spec.static ? undefined : eng.host.sad.current(p.spec.reqid);
  if (!p.spec.static && !carrier) return eng.host.drop('inline-no-carrier');
  answer(eng, p, secret, h, v, parentSel, eng.ends(p, carrier), ip);
}

/** Answerer: key both SAs, inbound first (README.md §6.2). */
export function answer(eng: InlineEngine, p: Parent, secret: Secret, h: InlineHeader, v: ReturnType<typeof inboundView>, parentSel: Selector, ends: { local: Endpoint; remote: Endpoint }, ip: IpInfo): void {
  const n2 = eng.opts.random(NONCE_LEN);
  const z = eng.host.allocSpiNow();
  const reqid = eng.nextReqid++;
  const lifetime = Math.min(h.lifetime, p.spec.lifetime);
  const sel = flowSelector(h.scope, 'answerer', v, parentSel);
  const inSa = eng.makeSa(p, 'in', z, reqid, saKey(p.prf, secret.s, p.suite, h.nonce, n2, z), sel, ends);
  const outSa = eng.makeSa(p, 'out', h.replySpi, reqid, saKey(p.prf, secret.s, p.suite, undefined, h.nonce, h.replySpi), sel, ends);
  if (eng.bySpi.has(z) || eng.byOutSpi.has(h.replySpi)) return eng.host.drop('inline-spi');
  try {
    eng.host.sad.add(inSa);
  } catch {
    return eng.host.drop('inline-sad-full');
  }
  try {
    eng.host.sad.add(outSa);
  } catch {
    eng.host.sad.delete('in', z);
    return eng.host.drop('inline-spi');
  }
  const key = flowKey(h.scope, 'answerer', v);
  const f = eng.newFlow({ key, parent: p, secret, side: 'answerer', scope: h.scope, reqid, state: 'answering', nonce: n2, peerNonce: h.nonce, inSa, outSa }, lifetime);
  secret.nonces.set(hex(h.nonce), 'peer');
  secret.spawned++;
  eng.flowEvent(f, 'answered');
  eng.insert(f);
  if (h.next === IPPROTO.NONE) answerAlone(eng, f, ip);
}

/** A header that came alone is answered at once, alone, on Y (README.md §8). */
export function answerAlone(eng: InlineEngine, f: Flow, offerIp: IpInfo): void {
  const mirror = mirrorIp(offerIp);
  eng.host.transmit(f.outSa!, INLINE_NEXT_HEADER, concat2(eng.makeHeader(f, IPPROTO.NONE, mirror), sampleOf(mirror)), 0);
}

/** A header inside a flow's own SA: the ANSWER to our offer (README.md §6.3). */
export function onFlowHeader(eng: InlineEngine, f: Flow, payload: Uint8Array): void {
  const d = decodeHeader(payload);
  if ('fail' in d) return eng.host.drop(d.fail);
  const { header: h, len } = d;
  if (h.type !== HEADER_TYPE.ANSWER || f.side !== 'offerer') return eng.host.drop('inline-unexpected');
  const inner = payload.subarray(len);
  const ip = innerIp(h, inner);
  if (!ip) return eng.host.drop('inline-bad-inner');
  if (!f.inSa.spec.selectors.some((s) => matches(s, ip, true))) return eng.host.drop('inline-policy');
  if (!tagOk(f.parent.prf, f.secret.kHdr, payload.subarray(0, len), canonicalFlow(f.scope, ip))) return eng.host.drop('inline-tag');
  if (!equal(h.peerNonce!, f.nonce)) return eng.host.drop('inline-answer-mismatch');
  if (f.outSa) {
    if (f.outSa.spec.spi !== h.replySpi || !equal(f.peerNonce!, h.nonce)) return eng.host.drop('inline-answer-mismatch');
  } else if (!complete(eng, f, h)) return;
  if (h.next !== IPPROTO.NONE) eng.host.deliver(inner);
}

/** Offerer: the answer keys SA(Z); the pair is complete. */
export function complete(eng: InlineEngine, f: Flow, h: InlineHeader): boolean {
  if (h.replySpi < 256 || h.lifetime < INLINE_LIMITS.lifetimeMin || h.lifetime > f.lifetime) {
    eng.host.drop('inline-answer-mismatch');
    return false;
  }
  const p = f.parent;
  const outSa = eng.makeSa(p, 'out', h.replySpi, f.reqid, saKey(p.prf, f.secret.s, p.suite, f.nonce, h.nonce, h.replySpi), f.inSa.spec.selectors[0]!, {
    local: f.inSa.spec.local,
    remote: f.inSa.spec.remote,
  });
  try {
    eng.host.sad.add(outSa);
  } catch {
    eng.host.drop('inline-spi');
    return false;
  }
  f.outSa = outSa;
  f.peerNonce = h.nonce;
  eng.byOutSpi.set(h.replySpi, f);
  if (f.state === 'offered' || f.state === 'plain') f.state = 'established';
  f.lifetime = h.lifetime;
  f.sendUntil = f.createdAt + h.lifetime * 1000;
  eng.flowEvent(f, 'acknowledged');
  if (f.queued) {
    const q = f.queued;
    delete f.queued;
    const ip = parseIp(q);
    if (ip) eng.host.transmit(outSa, ip.version === 4 ? IPPROTO.IPV4 : IPPROTO.IPV6, q, q.length);
  }
  return true;
}


export function onRetire(eng: InlineEngine, p: Parent, h: InlineHeader, encoded: Uint8Array): void {
  if (!p.secrets.some((s) => tagOk(p.prf, s.kHdr, encoded, new Uint8Array(0)))) return eng.host.drop('inline-tag');
  const f = eng.byOutSpi.get(h.replySpi);
  if (!f || f.parent !== p) return eng.host.drop('inline-retire-unknown');
  eng.flowEvent(f, 'retired');
  eng.remove(f, false);
}

/** README.md §6.4: tell the peer to stop using an SPI we no longer have (rate-limited). */
