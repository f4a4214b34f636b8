import type { Aead, Backend, CipherSuite } from '../crypto/types.js';
import type { Endpoint, Policy, Selector } from '../sa/types.js';
import type { IpInfo } from '../sa/ip.js';
import { matches } from '../sa/selector.js';
import { espOverhead } from '../esp/esp.js';
import { makeUserSa, type UserSa } from '../drivers/userspace/sa-state.js';
import { INLINE_DEFAULTS, INLINE_LIMITS, inlineGraceMs } from '../limits.js';
import type { Clock, Timer } from '../util/clock.js';
import type { Logger } from '../util/log.js';
import { hex } from '../wire/bytes.js';
import { IPPROTO } from '../wire/iana.js';
import { encodeHeader, HEADER_TYPE, INLINE_NEXT_HEADER, NONCE_LEN } from './header.js';
import { canonicalFlow, flowKey, flowSelector, KEY_KINDS, keyOfKind, kindOf, outboundView, type KeyKind, type Side } from './flow.js';
import { saKey, tagHeader } from './keys.js';
import { makeParent, newSecret, suiteIds, zeroCounters, type InlineCounters, type Parent, type ParentSpec, type Secret } from './parent.js';

export type { InlineCounters } from './parent.js';
import { Tombstones } from './tables.js';
import type { InlineSaStatus, InlineStatus } from '../control/status.js';
import { spiText } from '../sa/sad.js';
import { prefixText } from '../sa/selector.js';
import { concat2, equal, flowSample } from './packets.js';
import { sameEndpoint } from '../transport/transport.js';
import { onCarrierHeader, onFlowHeader } from './receive.js';
import { StaticCarrier } from './static-carrier.js';

export type { ParentSpec } from './parent.js';

/**
 * Inline keying on the userspace data path (README.md §6): flows spawn SA pairs with a header on
 * their first packet; the table of flows is capped, idle flows go, removed SPIs are tombstoned.
 * Every input from the network is checked in the order of README.md §6.2 before any state
 * changes; failures are counted by reason on the driver, never thrown.
 */

/** What the inline engine needs from the data path (the userspace driver). */
export interface InlineHost {
  readonly sad: { add(sa: UserSa): void; delete(dir: 'in' | 'out', spi: number): unknown; current(reqid: number): UserSa | undefined };
  readonly backend: Backend;
  now(): number;
  allocSpiNow(): number;
  /** Seal on an SA and send to its peer; false when it could not (counted by the caller). */
  transmit(sa: UserSa, next: number, payload: Uint8Array, innerLen: number): boolean;
  sendRaw(esp: Uint8Array, remote: Endpoint): boolean;
  deliver(packet: Uint8Array): void;
  drop(reason: string): void;
}

export interface InlineOptions {
  readonly clock: Clock;
  readonly log: Logger;
  readonly random: (n: number) => Uint8Array;
  /** Unix time in seconds; static parents put it in their carrier's sequence field. */
  readonly wallSeconds?: () => number;
  readonly maxFlows?: number;
  readonly msl?: number;
  readonly k1?: number;
  readonly k2?: number;
  /** A parent reached its spawn cap: the agent rekeys the IKE SA (README.md §9). */
  readonly onSpawnCap?: (reqid: number) => void;
}

type FlowState = 'offered' | 'answering' | 'established' | 'plain' | 'draining';

export interface Flow {
  readonly key: string;
  readonly parent: Parent;
  readonly secret: Secret;
  readonly side: Side;
  readonly scope: number;
  readonly reqid: number;
  state: FlowState;
  /** Ours: N1 (offerer) or N2 (answerer). */
  readonly nonce: Uint8Array;
  peerNonce?: Uint8Array;
  readonly inSa: UserSa;
  outSa?: UserSa;
  /** Seconds, as agreed. */
  lifetime: number;
  readonly createdAt: number;
  sendUntil: number;
  lastActive: number;
  touchedAt: number;
  /** Static parents, header alone (README.md §8): the data packet waiting for the answer. */
  queued?: Uint8Array;
}

/** Flow reqids live above every connection's, so flows never share an outbound group. */
export const INLINE_FLOW_REQID_BASE = 0x4000_0000;
const IPV4_UDP = 28;
const IPV6_UDP = 48;

export class InlineEngine {
  /** Every connection's together; each Parent has its own (`count`). */
  readonly counters: InlineCounters = zeroCounters();
  readonly parents = new Map<number, Parent>();
  readonly carriers = new Map<number, Parent>();
  readonly flows = new Map<string, Flow>();
  readonly bySpi = new Map<number, Flow>();
  readonly byOutSpi = new Map<number, Flow>();
  /** Flows in least-recently-used order (refreshed at most once a second per flow). */
  readonly lru = new Set<Flow>();
  readonly kinds = new Map<number, Map<KeyKind, number>>();
  readonly tombstones = new Tombstones(INLINE_LIMITS.tombstonesMax);
  readonly statics: StaticCarrier;
  nextReqid = INLINE_FLOW_REQID_BASE;
  sweepTimer: Timer | undefined;

  constructor(
    readonly host: InlineHost,
    readonly opts: InlineOptions,
  ) {
    const wall = opts.wallSeconds ?? (() => Math.floor(Date.now() / 1000));
    this.statics = new StaticCarrier(host, wall, opts.random);
    this.sweep();
  }

  get size(): number {
    return this.bySpi.size;
  }

  // --- parents --------------------------------------------------------------------------------

  addParent(spec: ParentSpec): void {
    const p = makeParent(spec, this.host.backend, this.statics.nowSec());
    this.parents.set(spec.reqid, p);
    if (p.carrierSpi !== undefined) this.carriers.set(p.carrierSpi, p);
    this.kinds.set(spec.reqid, new Map());
  }

  /** IKE parents: a new IKE SA (or its rekey) brought a new secret; the previous one lingers. */
  setSecret(reqid: number, s: Uint8Array, suite?: CipherSuite): void {
    const p = this.parents.get(reqid);
    if (!p) return;
    if (suite) p.suite = suite;
    if (p.secrets[0] && equal(p.secrets[0].s, s)) return; // a child rekey: same IKE SA, same secret
    p.secrets = [newSecret(p.prf, s), ...p.secrets].slice(0, 2);
    p.spawnCapLogged = false;
  }

  /** The IKE SA went away without a successor: its flows go with it (README.md §7.1). */
  clearSecrets(reqid: number): void {
    const p = this.parents.get(reqid);
    if (!p) return;
    p.secrets = [];
    for (const f of [...this.bySpi.values()]) if (f.parent === p) this.remove(f, false);
    this.tombstones.dropReqid(reqid);
  }

  removeParent(reqid: number): void {
    this.clearSecrets(reqid);
    const p = this.parents.get(reqid);
    if (p?.carrierSpi !== undefined) this.carriers.delete(p.carrierSpi);
    this.parents.delete(reqid);
    this.kinds.delete(reqid);
  }

  hasParent(reqid: number): boolean {
    return this.parents.has(reqid);
  }

  /** The static parent whose peer is at `from` (an unknown SPI from it: the peer lost its flows). */
  private staticAt(from: Endpoint): Parent | undefined {
    for (const p of this.carriers.values()) if (p.remote && sameEndpoint(p.remote, from)) return p;
    return undefined;
  }

  /** SPIs the driver must not allocate: static carriers, and tombstones (a late packet must meet RETIRE). */
  ownsSpi(spi: number): boolean {
    return this.carriers.has(spi) || this.tombstones.get(spi, this.host.now()) !== undefined;
  }

  // --- outbound -------------------------------------------------------------------------------

  /**
   * An outbound packet matched `policy`. True when inline keying handled it (sent, queued or
   * dropped and counted); false sends it the ordinary way, on the connection's own SA.
   */
  outbound(policy: Policy, ip: IpInfo, packet: Uint8Array): boolean {
    const p = this.parents.get(policy.reqid);
    // Inline keying may cover part of a connection's traffic: its selectors say which.
    const parentSel = p?.spec.selectors.find((sel) => matches(sel, ip));
    if (!p || !parentSel) return false;
    let flow = this.lookup(p, ip);
    const now = this.host.now();
    if (flow && now >= flow.sendUntil) {
      this.drain(flow);
      flow = undefined;
    }
    if (!flow) {
      flow = this.spawn(p, parentSel, ip);
      if (!flow) return this.refusedPath(p);
    }
    this.touch(flow, now);
    return this.sendFlow(flow, ip, packet);
  }

  refusedPath(p: Parent): boolean {
    if (!p.spec.static) return false; // IKE parent: the connection's own SA carries it
    this.host.drop('inline-refused');
    return true;
  }

  lookup(p: Parent, ip: IpInfo): Flow | undefined {
    const kinds = this.kinds.get(p.spec.reqid)!;
    if (kinds.size === 0) return undefined;
    const v = outboundView(ip);
    for (const k of KEY_KINDS) {
      if (!kinds.get(k)) continue;
      const f = this.flows.get(p.spec.reqid + '/' + keyOfKind(k, v));
      if (f) return f;
    }
    return undefined;
  }

  sendFlow(f: Flow, ip: IpInfo, packet: Uint8Array): boolean {
    const next = ip.version === 4 ? IPPROTO.IPV4 : IPPROTO.IPV6;
    switch (f.state) {
      case 'established':
      case 'draining':
        return this.host.transmit(f.outSa!, next, packet, packet.length) || true;
      case 'answering':
        return this.sendWithHeader(f, f.outSa!, ip, packet) || true;
      case 'plain':
        return false;
      case 'offered': {
        if (!f.parent.spec.static && this.host.now() - f.createdAt > INLINE_LIMITS.offerMs) {
          f.state = 'plain'; // README.md §6.1 step 4: an offer nobody answers stops riding
          return false;
        }
        if (f.parent.spec.static) return this.staticOffer(f, ip, packet);
        const carrier = this.carrierOut(f.parent);
        return carrier ? this.sendWithHeader(f, carrier, ip, packet) || true : false;
      }
    }
  }

  carrierOut(p: Parent): UserSa | undefined {
    return p.spec.static ? undefined : this.host.sad.current(p.spec.reqid);
  }

  /** Header + packet on `sa`, or the header alone first when that would not fit (README.md §8). */
  sendWithHeader(f: Flow, sa: UserSa, ip: IpInfo, packet: Uint8Array): boolean {
    const next = ip.version === 4 ? IPPROTO.IPV4 : IPPROTO.IPV6;
    const hdr = this.makeHeader(f, next, ip);
    if (!this.fits(f.parent, sa.spec.remote, sa.send!.aead, hdr.length + packet.length)) {
      this.host.transmit(sa, INLINE_NEXT_HEADER, concat2(this.makeHeader(f, IPPROTO.NONE, ip), flowSample(packet, ip)), 0);
      return this.host.transmit(f.state === 'offered' ? sa : f.outSa!, next, packet, packet.length);
    }
    return this.host.transmit(sa, INLINE_NEXT_HEADER, concat2(hdr, packet), packet.length);
  }

  staticOffer(f: Flow, ip: IpInfo, packet: Uint8Array): boolean {
    const p = f.parent;
    const next = ip.version === 4 ? IPPROTO.IPV4 : IPPROTO.IPV6;
    const hdr = this.makeHeader(f, next, ip);
    const remote = p.remote!;
    if (!this.fits(p, remote, this.statics.aeadOf(p), hdr.length + packet.length)) {
      f.queued = packet; // one packet waits for the answer; a newer one replaces it
      this.statics.send(p, concat2(this.makeHeader(f, IPPROTO.NONE, ip), flowSample(packet, ip)));
      return true;
    }
    this.statics.send(p, concat2(hdr, packet));
    return true;
  }

  fits(p: Parent, remote: Endpoint, aead: Aead, len: number): boolean {
    const outer = (remote.addr.includes(':') ? IPV6_UDP : IPV4_UDP) + espOverhead(aead, len) + len;
    return outer <= p.spec.pathMtu;
  }

  /** The flow's header for a packet (OFFER from the offerer, ANSWER from the answerer), tagged. */
  makeHeader(f: Flow, next: number, ip: IpInfo): Uint8Array {
    const ids = suiteIds(f.parent.suite);
    const answer = f.side === 'answerer';
    const h = encodeHeader({
      next,
      type: answer ? HEADER_TYPE.ANSWER : HEADER_TYPE.OFFER,
      scope: f.scope,
      ...ids,
      replySpi: f.inSa.spec.spi,
      lifetime: f.lifetime,
      nonce: f.nonce,
      ...(answer && { peerNonce: f.peerNonce! }),
    });
    tagHeader(f.parent.prf, f.secret.kHdr, h, canonicalFlow(f.scope, ip));
    return h;
  }

  // --- spawning -------------------------------------------------------------------------------

  currentSecret(p: Parent): Secret | undefined {
    return p.spec.static ? this.statics.today(p) : p.secrets[0];
  }

  /** Offerer: a new flow for an outbound packet (README.md §6.1 step 2). */
  spawn(p: Parent, parentSel: Selector, ip: IpInfo): Flow | undefined {
    const secret = this.currentSecret(p);
    if (!secret || !this.mayKey(p, secret)) return undefined;
    const carrier = p.spec.static ? undefined : this.host.sad.current(p.spec.reqid);
    if (!p.spec.static && !carrier) return undefined;
    const v = outboundView(ip);
    const n1 = this.opts.random(NONCE_LEN);
    const ends = this.ends(p, carrier);
    const sel = flowSelector(p.scope, 'offerer', v, parentSel);
    const y = this.host.allocSpiNow();
    const reqid = this.nextReqid++;
    const inSa = this.makeSa(p, 'in', y, reqid, saKey(p.prf, secret.s, p.suite, undefined, n1, y), sel, ends);
    const f = this.newFlow({ key: flowKey(p.scope, 'offerer', v), parent: p, secret, side: 'offerer', scope: p.scope, reqid, state: 'offered', nonce: n1, inSa }, p.spec.lifetime);
    this.host.sad.add(inSa); // before the offer leaves: the answer must find it
    secret.nonces.set(hex(n1), 'own');
    secret.spawned++;
    this.insert(f);
    this.flowEvent(f, 'spawned');
    return f;
  }

  /** A flow record, its times starting now; `key` is prefixed with the parent's reqid. */
  newFlow(o: Omit<Flow, 'lifetime' | 'createdAt' | 'sendUntil' | 'lastActive' | 'touchedAt'>, lifetime: number): Flow {
    const now = this.host.now();
    return { ...o, key: o.parent.spec.reqid + '/' + o.key, lifetime, createdAt: now, sendUntil: now + lifetime * 1000, lastActive: now, touchedAt: now };
  }

  /** Spawn cap and table room (README.md §9); false counts a refusal. */
  mayKey(p: Parent, secret: Secret): boolean {
    if (secret.spawned >= p.spec.maxSpawn) {
      this.count(p, 'refused');
      if (!p.spawnCapLogged) {
        p.spawnCapLogged = true;
        this.opts.log.warn(`${p.spec.peer}: inline: ${secret.spawned} SAs spawned from this parent secret (cap ${p.spec.maxSpawn}); ${p.spec.static ? 'no new flows until the next day' : 'rekeying the IKE SA'}`);
        this.opts.onSpawnCap?.(p.spec.reqid);
      }
      return false;
    }
    if (this.bySpi.size < (this.opts.maxFlows ?? INLINE_DEFAULTS.maxFlows) || this.evictOne()) return true;
    this.count(p, 'refused');
    this.opts.log.debug(`${p.spec.peer}: inline: new flow refused: ${this.bySpi.size} flows, none idle for ${INLINE_LIMITS.evictIdleMs / 1000} s to evict`);
    return false;
  }

  evictOne(): boolean {
    const oldest = this.lru.values().next().value;
    if (!oldest || this.host.now() - oldest.lastActive < INLINE_LIMITS.evictIdleMs) return false;
    this.flowEvent(oldest, 'evicted');
    this.remove(oldest, true);
    return true;
  }

  ends(p: Parent, carrier: UserSa | undefined): { local: Endpoint; remote: Endpoint } {
    if (carrier) return { local: carrier.spec.local, remote: carrier.remote };
    return { local: p.spec.static!.local, remote: p.remote! };
  }

  makeSa(p: Parent, dir: 'in' | 'out', spi: number, reqid: number, key: Uint8Array, sel: Selector, ends: { local: Endpoint; remote: Endpoint }): UserSa {
    return makeUserSa(
      {
        spi,
        dir,
        reqid,
        suite: p.suite,
        encKey: key,
        mode: 'tunnel',
        esn: true,
        replayWindow: p.spec.replayWindow,
        local: ends.local,
        remote: ends.remote,
        selectors: [sel],
        soft: {},
        hard: {},
        peer: p.spec.peer,
      },
      this.host.backend,
      this.host.now(),
    );
  }

  // --- inbound --------------------------------------------------------------------------------

  /** A payload with Next Header 253 opened on `sa` (a carrier or a flow's inbound SA). */
  onHeader(sa: UserSa, payload: Uint8Array, from: Endpoint): void {
    const flow = this.bySpi.get(sa.spec.spi);
    if (flow) return onFlowHeader(this, flow, payload);
    const p = this.parents.get(sa.spec.reqid);
    if (!p) return this.host.drop('inline-no-parent');
    onCarrierHeader(this, p, payload, from);
  }

  /** An ESP packet for an SPI the SAD does not have: a static carrier, or a tombstone. */
  unknownSpi(spi: number, data: Uint8Array, from: Endpoint): boolean {
    const p = this.carriers.get(spi);
    if (p) {
      const payload = this.statics.open(p, data);
      if (payload) onCarrierHeader(this, p, payload, from);
      return true;
    }
    return this.retireFor(spi, from);
  }

  /** Any authenticated packet on a flow's inbound SA: activity, and the answerer's acknowledgement. */
  received(sa: UserSa): void {
    const f = this.bySpi.get(sa.spec.spi);
    if (!f) return;
    const now = this.host.now();
    f.lastActive = now;
    if (f.state === 'answering') {
      f.state = 'established'; // use of Z acknowledges the answer (README.md §2)
      this.flowEvent(f, 'acknowledged');
    }
    this.touch(f, now);
  }

  // --- retire ---------------------------------------------------------------------------------

  retireFor(spi: number, from: Endpoint): boolean {
    const now = this.host.now();
    let t = this.tombstones.get(spi, now);
    if (!t) {
      const p = this.staticAt(from);
      if (!p) return false;
      this.tombstones.add(spi, p.spec.reqid, now + 60_000); // a peer that restarted: a minute is enough
      t = this.tombstones.get(spi, now)!;
    }
    this.host.drop('inline-tombstone');
    if (now - t.lastRetire < INLINE_LIMITS.retireIntervalMs) return true;
    t.lastRetire = now;
    const p = this.parents.get(t.reqid);
    const secret = p && this.currentSecret(p);
    if (!p || !secret) return true;
    const h = encodeHeader({ next: IPPROTO.NONE, type: HEADER_TYPE.RETIRE, scope: 0, encrId: 0, keyBits: 0, replySpi: spi, lifetime: 0, nonce: this.opts.random(NONCE_LEN) });
    tagHeader(p.prf, secret.kHdr, h, new Uint8Array(0));
    const carrier = this.carrierOut(p);
    if (carrier) this.host.transmit(carrier, INLINE_NEXT_HEADER, h, 0);
    else if (p.spec.static) this.statics.send(p, h);
    return true;
  }

  // --- table ----------------------------------------------------------------------------------

  insert(f: Flow): void {
    this.flows.set(f.key, f);
    this.bySpi.set(f.inSa.spec.spi, f);
    if (f.outSa) this.byOutSpi.set(f.outSa.spec.spi, f);
    this.lru.add(f);
    const kinds = this.kinds.get(f.parent.spec.reqid)!;
    const k = kindOf(f.key.slice(f.key.indexOf('/') + 1));
    kinds.set(k, (kinds.get(k) ?? 0) + 1);
  }

  unlist(f: Flow): void {
    if (this.flows.get(f.key) !== f) return;
    this.flows.delete(f.key);
    const kinds = this.kinds.get(f.parent.spec.reqid);
    const k = kindOf(f.key.slice(f.key.indexOf('/') + 1));
    const n = (kinds?.get(k) ?? 1) - 1;
    if (n > 0) kinds?.set(k, n);
    else kinds?.delete(k);
  }

  touch(f: Flow, now: number): void {
    f.lastActive = now;
    if (now - f.touchedAt < 1000) return;
    f.touchedAt = now;
    this.lru.delete(f);
    this.lru.add(f);
  }

  /** Stop sending on a flow (its lifetime is up, or the peer replaced it); inbound stays for grace. */
  drain(f: Flow): void {
    if (f.state === 'draining') return;
    this.unlist(f);
    f.state = 'draining';
    if (f.outSa) {
      this.host.sad.delete('out', f.outSa.spec.spi);
      this.byOutSpi.delete(f.outSa.spec.spi);
    }
    this.flowEvent(f, 'expired');
  }

  /** Remove a flow and both SAs; `tombstone` remembers the inbound SPI for RETIRE. */
  remove(f: Flow, tombstone: boolean): void {
    this.unlist(f);
    this.lru.delete(f);
    this.bySpi.delete(f.inSa.spec.spi);
    this.host.sad.delete('in', f.inSa.spec.spi);
    if (f.outSa) {
      this.host.sad.delete('out', f.outSa.spec.spi);
      this.byOutSpi.delete(f.outSa.spec.spi);
    }
    if (tombstone) this.tombstones.add(f.inSa.spec.spi, f.parent.spec.reqid, f.sendUntil + this.grace(f));
  }

  grace(f: Flow): number {
    return inlineGraceMs(f.lifetime, this.opts.msl, this.opts.k1, this.opts.k2);
  }

  /** One timer for every flow: lifetimes, grace and idleness (README.md §6.4). */
  sweep(): void {
    this.sweepTimer = this.opts.clock.after(INLINE_LIMITS.sweepMs, 'inline-sweep', () => {
      const now = this.host.now();
      for (const f of [...this.lru]) {
        if (f.state === 'draining') {
          if (now >= f.sendUntil + this.grace(f)) this.remove(f, false);
        } else if (now - f.lastActive >= f.parent.spec.idle * 1000) {
          this.flowEvent(f, 'idled');
          this.remove(f, true);
        } else if (now >= f.sendUntil) this.drain(f);
      }
      this.sweep();
    });
  }

  close(): void {
    this.sweepTimer?.cancel();
  }

  /** Counts an event in the engine's totals and in its connection's own (`keyline show`). */
  count(p: Parent, what: keyof InlineCounters): void {
    this.counters[what]++;
    p.counters[what]++;
  }

  /** Counts a flow's event, with a line at log-level=debug naming the flow and its SPIs. */
  flowEvent(f: Flow, what: keyof InlineCounters): void {
    this.count(f.parent, what);
    if (!this.opts.log.enabled('debug')) return;
    const spis = `in ${spiText(f.inSa.spec.spi)}${f.outSa ? ` out ${spiText(f.outSa.spec.spi)}` : ''}`;
    this.opts.log.debug(`${f.parent.spec.peer}: inline: flow ${flowText(f)} ${FLOW_EVENT[what]} (${spis})`);
  }

  /** The flows of one connection (by peer name) and its own counters, for `keyline show`. */
  status(peer: string): InlineStatus | undefined {
    const p = [...this.parents.values()].find((x) => x.spec.peer === peer);
    if (!p) return undefined;
    const now = this.host.now();
    const sas = [...this.lru].filter((f) => f.parent === p).map((f) => flowStatus(f, now));
    return { sas, counters: { ...p.counters } };
  }

  /** For status and tests. */
  flowList(): readonly Flow[] {
    return [...this.lru];
  }
}

const traffic = (sa: UserSa | undefined) => ({ bytes: sa?.counters.bytes ?? 0, packets: sa?.counters.packets ?? 0 });

/** What each counted flow event says in the debug log. */
const FLOW_EVENT: Readonly<Record<keyof InlineCounters, string>> = {
  spawned: 'offered',
  answered: 'answered',
  acknowledged: 'established',
  expired: 'past its lifetime, draining',
  idled: 'idle, removed',
  evicted: 'evicted (flow table full)',
  refused: 'refused',
  retired: 'retired by the peer',
  collisions: 'crossed the peer\'s offer',
};

/** "198.51.100.7/32 <-> 203.0.113.9/32 proto 17 ports 5353/53": the flow's selector. */
function flowText(f: Flow): string {
  const sel = f.inSa.spec.selectors[0]!;
  return `${prefixText(sel.local)} <-> ${prefixText(sel.remote)}${sel.proto ? ` proto ${sel.proto}` : ''}${sel.localPorts[0] === sel.localPorts[1] ? ` ports ${sel.localPorts[0]}/${sel.remotePorts[0]}` : ''}`;
}

function flowStatus(f: Flow, now: number): InlineSaStatus {
  return {
    flow: flowText(f),
    spiIn: spiText(f.inSa.spec.spi),
    spiOut: f.outSa ? spiText(f.outSa.spec.spi) : '-',
    suite: f.parent.suite,
    state: f.state,
    ageS: Math.floor((now - f.createdAt) / 1000),
    ...(f.state !== 'draining' && { rekeyInS: Math.max(0, Math.floor((f.sendUntil - now) / 1000)) }),
    in: { ...traffic(f.inSa), drops: { ...f.inSa.counters.drops } },
    out: traffic(f.outSa),
  };
}
