/**
 * The IKEv2 engine (RFC 7296, both roles): the IKE SA table with its caps, dispatch of incoming
 * messages to the exchange tasks (tasks/*.ts), requests and responses through each SA's
 * ExchangeWindow, child SAs handed to the driver, and the timers that rekey, check liveness and
 * re-initiate. Everything peer-facing is decided after authentication; before it, a message can
 * only be dropped and counted (or, for IKE_SA_INIT, answered without state when under load).
 */
import type { Backend } from '../crypto/types.js';
import { DropCounters } from '../drivers/common.js';
import type { Driver, DriverEvent } from '../drivers/driver.js';
import { IKE_LIMITS, IKE_TIMERS } from '../limits.js';
import type { Endpoint } from '../sa/types.js';
import { NON_ESP_MARKER } from '../esp/udp.js';
import { endpointText, familyOf, sameEndpoint } from '../transport/transport.js';
import type { Clock, Timer } from '../util/clock.js';
import { throttled, type Logger } from '../util/log.js';
import { concat } from '../wire/bytes.js';
import { MalformedError } from '../wire/errors.js';
import { name } from '../wire/iana.js';
import { CookieJar } from './cookies.js';
import { EXCHANGE, FLAG, IKE_PORT, NOTIFY, PAYLOAD, PROTO } from './constants.js';
import { DEFAULT_RETRANSMIT, ExchangeWindow } from './exchange.js';
import { isInitiator, isResponse } from './header.js';
import { ourSpi, saName, spiHex, type ChildSa, type IkeSa, type IkeSocket, type Inbound, type Pending } from './ike-sa.js';
import { decodeMessage, decodePayload, encodePayload, type IkeHeader, type Payload, type RawPayload } from './message.js';
import type { IkePeer } from './peer.js';
import { checkRules } from './rules.js';
import { openMessage, sealMessage } from './sk.js';
import { StateMachine } from './state.js';
import { handleInitRequest, handleInitResponse, startInit } from './tasks/init.js';
import { handleAuthRequest } from './tasks/auth.js';
import { answerCreateChild, removeChild, startChildRekey } from './tasks/child.js';
import { hasLiveChild, startNewChild } from './tasks/new-child.js';
import { handleInformationalRequest, sendDpd, deleteIkeSa } from './tasks/info.js';
import { answerIkeRekey, startIkeRekey } from './tasks/ike-rekey.js';
import { notifyPayload } from './tasks/init.js';
import { planRekey } from '../sa/rekey.js';
import { spiText } from '../sa/sad.js';
import { formatIkeProposal } from '../config/proposals.js';
import { seconds, type ChildSaStatus, type IkeSaStatus, type PeerStatus } from '../control/status.js';

/**
 * How early a timer may run by the clock: Node's count in the whole milliseconds of the event
 * loop's cached time, so a 3,000 ms timeout can run when performance.now() says 2,999.2 ms have
 * passed. Silence measured from a DPD tick would then miss the next tick's liveness check, or the
 * dpd-timeout check armed with it, and the dead peer would be found one whole `dpd` later.
 */
const TIMER_EARLY_MS = 5;

export interface EngineDeps {
  readonly clock: Clock;
  readonly random: (n: number) => Uint8Array;
  /**
   * Private Diffie-Hellman keys from here only when a test injects them; otherwise they are made
   * natively (node:crypto keeps them out of the JS heap, and an imported key costs ~0.5 ms).
   */
  readonly dhRandom?: (n: number) => Uint8Array;
  /** Uniform in [0, 1): rekey jitter. */
  readonly rand01: () => number;
  readonly backend: Backend;
  /** Which implementation does Diffie-Hellman. */
  readonly dh: 'node' | 'noble';
  readonly driver: Driver;
  readonly log: Logger;
  readonly sockets: readonly IkeSocket[];
  /** The connections; replaced as a whole by setPeers (reload). */
  peers: readonly IkePeer[];
  /**
   * Make the peer encapsulate ESP in UDP even without a NAT, as strongSwan's encap=yes does, by
   * sending a NAT_DETECTION_SOURCE_IP that cannot match. The userspace driver needs it: it can
   * only send and receive UDP.
   */
  readonly forceEncap: boolean;
  /** The DoS caps (default IKE_LIMITS); tests lower them to push past them cheaply. */
  readonly limits?: Partial<IkeLimits>;
}

export type IkeLimits = { -readonly [K in keyof typeof IKE_LIMITS]: number };

export type EngineEvent =
  | { readonly type: 'ike-up'; readonly sa: IkeSa }
  | { readonly type: 'ike-down'; readonly sa: IkeSa; readonly why: string }
  | { readonly type: 'child-up'; readonly sa: IkeSa; readonly child: ChildSa; readonly rekey: boolean }
  | { readonly type: 'child-down'; readonly sa: IkeSa; readonly child: ChildSa; readonly why: string }
  | {
      readonly type: 'message';
      readonly dir: 'in' | 'out';
      readonly exchange: number;
      readonly response: boolean;
      readonly messageId: number;
      readonly bytes: number;
      readonly payloads: readonly string[];
      readonly peer: string;
    };

export class IkeEngine {
  readonly drops = new DropCounters();
  readonly cookies: CookieJar;
  private readonly table = new Map<bigint, IkeSa>();
  /**
   * Responder SAs by initiator SPI and address, so a retransmitted IKE_SA_INIT gets the cached
   * answer and a replayed one (after IKE_AUTH) is recognised instead of opening a new SA.
   */
  private readonly byInit = new Map<string, IkeSa>();
  /** Responder SAs whose IKE_AUTH has not completed: the count cookies and the cap look at. */
  private readonly halfOpen = new Set<IkeSa>();
  /** The most half-open SAs at once since start (status: the caps held under a flood). */
  halfOpenPeak = 0;
  private readonly listeners: ((e: EngineEvent) => void)[] = [];
  private readonly retryTimers = new Map<string, Timer>();
  /** Inbound ESP packets of an SA's children at its last DPD tick (scheduleDpd). */
  private readonly espInSeen = new WeakMap<IkeSa, number>();
  /** SAs whose last answer carried INVALID_SYNTAX: closed once the request is done (closeIfSyntaxError). */
  private readonly syntaxErrorSent = new WeakSet<IkeSa>();
  private stopped = false;
  readonly limits: IkeLimits;
  /** Log lines unauthenticated peers can cause once per packet, each kind at most once a second. */
  private readonly halfOpenLog = this.throttledInfo();
  readonly refusalLog = this.throttledInfo();

  constructor(readonly deps: EngineDeps) {
    this.limits = { ...IKE_LIMITS, ...deps.limits };
    this.cookies = new CookieJar(deps.clock, deps.random);
    deps.driver.onEvent((e) => this.guard('driver event', () => this.onDriverEvent(e)));
  }

  get log(): Logger {
    return this.deps.log;
  }

  get now(): number {
    return this.deps.clock.now();
  }

  private throttledInfo(): (msg: string) => void {
    return throttled((m) => this.log.info(m), IKE_TIMERS.unauthenticatedLogMs, () => this.now);
  }

  on(listener: (e: EngineEvent) => void): void {
    this.listeners.push(listener);
  }

  emit(e: EngineEvent): void {
    for (const l of this.listeners) {
      try {
        l(e);
      } catch (err) {
        this.log.error(`event listener failed: ${(err as Error).message}`);
      }
    }
  }

  /** Bring up every connection with start=initiate. */
  start(): void {
    for (const p of this.deps.peers) if (p.start === 'initiate') this.initiate(p);
  }

  peer(name: string): IkePeer | undefined {
    return this.deps.peers.find((p) => p.name === name);
  }

  /** All IKE SAs (for status and tests). */
  sas(): IkeSa[] {
    return [...this.table.values()];
  }

  sasOf(peer: IkePeer): IkeSa[] {
    return this.sas().filter((s) => s.peer === peer && !s.fsm.is('closed'));
  }

  /** Rekey a connection's IKE SA now (inline keying reached its spawn cap, src/inline/README.md §9). */
  rekeyIkeOf(reqid: number): void {
    const sa = this.sas().find((s) => s.peer.reqid === reqid && s.fsm.is('established') && !s.rekeyedTo);
    if (sa) startIkeRekey(this, sa);
  }

  get halfOpenCount(): number {
    return this.halfOpen.size;
  }

  /** Start an IKE SA for `peer` unless one is up or on its way. */
  initiate(peer: IkePeer): void {
    if (this.stopped || !peer.remote || !this.wanted(peer)) return;
    if (this.sasOf(peer).some((s) => s.fsm.is('connecting', 'authenticating', 'established', 'rekeying'))) return;
    this.guard(`${peer.name}: initiate`, () => startInit(this, peer));
  }

  /**
   * Traffic (an acquire) or `start=initiate` wants the connection up: a new child SA on its live
   * IKE SA when the child is gone, else a new IKE SA, which brings one in IKE_AUTH.
   */
  wantChild(peer: IkePeer): void {
    if (this.stopped || !this.wanted(peer)) return;
    const live = this.sasOf(peer).find((s) => s.fsm.is('established') && !s.rekeyedTo);
    if (live) return startNewChild(this, live);
    this.initiate(peer);
  }

  /**
   * A child SA went without a successor (hard lifetime after a failed rekey, deleted by the peer
   * alone, a failed new child). A connection kept up (start=initiate) asks for another; during an
   * IKE rekey, once it is over.
   */
  childGone(sa: IkeSa): void {
    if (sa.peer.start !== 'initiate' || hasLiveChild(sa)) return;
    if (sa.fsm.is('established')) this.wantChild(sa.peer);
    else if (sa.fsm.is('rekeying')) this.retryLater(sa.peer, 'child SA gone during an IKE rekey');
  }

  /** Close every IKE SA of `peer` with DELETE (the peer's `down`). */
  terminate(peer: IkePeer, why = 'terminated'): void {
    this.retryTimers.get(peer.name)?.cancel();
    for (const sa of this.sasOf(peer)) deleteIkeSa(this, sa, why);
  }

  /** Send DELETE for every IKE SA and wait (bounded) for the answers; then stop all timers. */
  async stop(waitMs = 2_000): Promise<void> {
    this.stopped = true;
    for (const t of this.retryTimers.values()) t.cancel();
    const live = this.sas().filter((s) => s.fsm.is('established', 'rekeying'));
    for (const sa of live) deleteIkeSa(this, sa, 'shutting down');
    // Wall-clock time on purpose: shutting down must end even under a test's fake clock.
    const deadline = Date.now() + waitMs;
    while (this.sas().some((s) => s.fsm.is('deleting')) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    for (const sa of this.sas()) await this.closeSa(sa, 'shutting down', { quiet: true });
  }

  // ---- the table -------------------------------------------------------------------------------

  /**
   * Room for one more IKE SA? Counts the refusal when there is none. A full half-open table makes
   * room by dropping its oldest entry instead of refusing: half-open SAs are unauthenticated, and
   * an attacker who can return cookies from many addresses would otherwise fill the table and
   * lock every real peer out for `halfOpenMs`. With eviction a real peer only needs its IKE_AUTH
   * to arrive before `halfOpenMax` newer IKE_SA_INITs do (0.5 s at 2,000 a second).
   */
  admit(responder: boolean): boolean {
    if (responder && this.halfOpen.size >= this.limits.halfOpenMax) {
      const oldest = this.halfOpen.values().next().value;
      if (oldest) {
        this.drops.bump('half-open-evicted');
        void this.closeSa(oldest, 'half-open table full: oldest dropped', { quiet: true });
      }
    }
    if (this.table.size >= this.limits.ikeSaMax) {
      this.drops.bump('ike-sa-cap');
      return false;
    }
    return true;
  }

  add(sa: IkeSa, initKey?: string): void {
    this.table.set(ourSpi(sa), sa);
    if (initKey) {
      this.byInit.set(initKey, sa);
      this.halfOpen.add(sa);
      this.halfOpenPeak = Math.max(this.halfOpenPeak, this.halfOpen.size);
      this.timer(sa, IKE_TIMERS.halfOpenMs, 'half-open', () => {
        if (!sa.fsm.is('connecting', 'authenticating')) return;
        // Anyone can make half-open SAs: counted each, logged at most once a second.
        this.drops.bump('half-open-expired');
        this.halfOpenLog(`${saName(sa)}: IKE SA closed (IKE_AUTH did not arrive)`);
        void this.closeSa(sa, 'IKE_AUTH did not arrive', { quiet: true });
      });
    }
  }

  /** The responder's half-open entry is settled (IKE_AUTH done or failed). */
  settle(sa: IkeSa): void {
    this.halfOpen.delete(sa);
  }

  /** The responder SA an IKE_SA_INIT from this initiator SPI and address made, if any. */
  saByInit(key: string): IkeSa | undefined {
    return this.byInit.get(key);
  }

  /** A fresh IKE SA record; the caller fills in the keys. */
  newSa(o: { role: 'initiator' | 'responder'; spiI: bigint; spiR: bigint; peer: IkePeer; candidates?: readonly IkePeer[]; socket: IkeSocket; remote: Endpoint; first?: { ours: number; theirs: number } }): IkeSa {
    const label = `${o.peer.name}`;
    const sa: IkeSa = {
      role: o.role,
      spiI: o.spiI,
      spiR: o.spiR,
      peer: o.peer,
      candidates: o.candidates ?? [o.peer],
      fsm: new StateMachine(label, (l) => this.log.debug(l)),
      socket: o.socket,
      remote: o.remote,
      window: undefined as unknown as ExchangeWindow,
      ni: new Uint8Array(0),
      nr: new Uint8Array(0),
      initRequest: new Uint8Array(0),
      initResponse: new Uint8Array(0),
      initTries: 0,
      children: [],
      createdAt: this.now,
      lastRecvAt: this.now,
      timers: [],
    };
    sa.window = this.newWindow(sa, o.first);
    return sa;
  }

  newWindow(sa: IkeSa, first = { ours: 0, theirs: 0 }): ExchangeWindow {
    return new ExchangeWindow(
      this.deps.clock,
      {
        send: (bytes) => this.sendTo(sa.socket, sa.remote, bytes),
        onGiveUp: (id) => this.guard(`${saName(sa)}: give up`, () => this.onGiveUp(sa, id)),
        timing: () => sa.peer.retransmit ?? DEFAULT_RETRANSMIT,
      },
      first,
    );
  }

  /** A fresh random IKE SPI not in our table (never 0). */
  newSpi(): bigint {
    for (;;) {
      const b = this.deps.random(8);
      const v = new DataView(b.buffer, b.byteOffset, 8).getBigUint64(0);
      if (v !== 0n && !this.table.has(v)) return v;
    }
  }

  /** Replace the table key of an SA whose SPI we just learned (initiator after IKE_SA_INIT). */
  rekeyTable(sa: IkeSa): void {
    this.table.set(ourSpi(sa), sa);
  }

  /** Remove an IKE SA and its children (from the driver), stop its timers; no message is sent. */
  async closeSa(sa: IkeSa, why: string, o: { quiet?: boolean; keepChildren?: boolean } = {}): Promise<void> {
    if (sa.fsm.is('closed')) return;
    sa.closing = why;
    sa.fsm.set('closed', why);
    sa.window.close();
    for (const t of sa.timers) t.cancel();
    sa.timers = [];
    this.settle(sa);
    if (sa.initKey !== undefined && this.byInit.get(sa.initKey) === sa) this.byInit.delete(sa.initKey);
    if (this.table.get(ourSpi(sa)) === sa) this.table.delete(ourSpi(sa));
    if (!o.keepChildren) for (const c of [...sa.children]) await removeChild(this, sa, c, why);
    if (!o.quiet) this.log.info(`${saName(sa)}: IKE SA closed (${why})`);
    this.emit({ type: 'ike-down', sa, why });
  }

  // ---- timers ----------------------------------------------------------------------------------

  /** A timer owned by the SA: cancelled when it closes, and forgotten once it has fired. */
  timer(sa: IkeSa, ms: number, what: string, fn: () => void): Timer {
    const t: Timer = this.deps.clock.after(ms, `${saName(sa)} ${what}`, () => {
      const i = sa.timers.indexOf(t);
      if (i >= 0) sa.timers.splice(i, 1);
      this.guard(`${saName(sa)}: ${what}`, fn);
    });
    sa.timers.push(t);
    return t;
  }

  /** Rekey, hard expiry and DPD timers of an established IKE SA. */
  scheduleIke(sa: IkeSa, weInitiated: boolean): void {
    const p = sa.peer;
    const plan = planRekey(p.ikeLifetime, p.rekeyMargin, weInitiated, this.deps.rand01());
    this.timer(sa, plan.startMs, 'ike-rekey', () => startIkeRekey(this, sa));
    this.timer(sa, plan.hardMs, 'ike-expire', () => {
      deleteIkeSa(this, sa, 'IKE SA lifetime reached without a rekey');
      this.retryLater(p, 'IKE SA expired');
    });
    if (p.dpd > 0) this.scheduleDpd(sa);
  }

  private scheduleDpd(sa: IkeSa): void {
    const ms = sa.peer.dpd * 1000;
    this.timer(sa, this.untilDpdTick(sa, ms), 'dpd', () => {
      if (sa.fsm.is('closed')) return;
      // ESP that came in on its children proves the peer alive as well as IKE does: a liveness
      // check only after silence (RFC 7296 §2.4), so it never holds up a rekey under traffic.
      const espIn = sa.children.reduce((n, c) => n + (this.deps.driver.counters('in', c.spiIn)?.packets ?? 0), 0);
      if (espIn !== this.espInSeen.get(sa)) {
        this.espInSeen.set(sa, espIn);
        if (espIn > 0) sa.lastRecvAt = this.now;
      }
      if (this.deadPeer(sa)) return;
      if (this.now - sa.lastRecvAt + TIMER_EARLY_MS >= ms && !sa.window.busy) sendDpd(this, sa);
      this.scheduleDpd(sa);
    });
  }

  /**
   * The next liveness tick comes in `dpd`, or sooner when an unanswered request's dpd-timeout
   * deadline (deadPeer) falls before it: one timer per SA, however long dpd-timeout is.
   */
  private untilDpdTick(sa: IkeSa, ms: number): number {
    const timeout = sa.peer.dpdTimeout;
    if (timeout === undefined || !sa.window.busy || !sa.fsm.is('established', 'rekeying')) return ms;
    const left = sa.lastRecvAt + (sa.peer.dpd + timeout) * 1000 - this.now;
    return left > 0 ? Math.min(ms, left) : ms;
  }

  /**
   * RFC 7296 §2.4: the peer is taken for dead only when our requests have gone unanswered for a
   * timeout period. That period is the retransmission budget (126 s) unless the connection sets
   * `dpd-timeout`: then silence for dpd + dpd-timeout with a request outstanding is enough. True
   * if the SA was closed for it (and the connection, if it initiates, started again).
   */
  private deadPeer(sa: IkeSa): boolean {
    const timeout = sa.peer.dpdTimeout;
    if (timeout === undefined || !sa.fsm.is('established', 'rekeying') || !sa.window.busy) return false;
    const silentMs = this.now - sa.lastRecvAt;
    if (silentMs + TIMER_EARLY_MS < (sa.peer.dpd + timeout) * 1000) return false;
    const silentS = silentMs / 1000;
    this.declareDead(sa, `nothing heard for ${Math.round(silentS)} s with requests unanswered (dpd ${sa.peer.dpd} s + dpd-timeout ${timeout} s)`);
    return true;
  }

  /** Close an SA whose peer stopped answering; a connection that initiates comes back at once. */
  private declareDead(sa: IkeSa, why: string): void {
    this.log.warn(`${saName(sa)}: peer is not answering: ${why}`);
    void this.closeSa(sa, why).then(() => {
      if (sa.peer.start === 'initiate') this.initiate(sa.peer);
    });
  }

  /** After a failure: try again later if the connection wants to be up. */
  retryLater(peer: IkePeer, why: string): void {
    if (this.stopped || peer.start !== 'initiate' || !peer.remote || !this.wanted(peer) || this.retryTimers.has(peer.name)) return;
    const ms = IKE_TIMERS.reinitiateMs;
    this.log.info(`${peer.name}: retrying in ${ms / 1000} s (${why})`);
    const t = this.deps.clock.after(ms, `${peer.name} re-initiate`, () => {
      this.retryTimers.delete(peer.name);
      this.wantChild(peer);
    });
    this.retryTimers.set(peer.name, t);
  }

  private onGiveUp(sa: IkeSa, id: number): void {
    // A DELETE nobody answers still deletes; only an SA that should be up is brought up again.
    if (sa.fsm.is('deleting')) return void this.closeSa(sa, sa.closing ?? 'deleted', { keepChildren: sa.rekeyedTo !== undefined });
    this.declareDead(sa, `no answer to message ${id} after ${(sa.peer.retransmit ?? DEFAULT_RETRANSMIT).tries} retransmissions`);
  }

  // ---- driver events ---------------------------------------------------------------------------

  private onDriverEvent(e: DriverEvent): void {
    if (e.type === 'acquire') {
      const p = this.deps.peers.find((x) => x.reqid === e.reqid);
      if (p && p.start !== 'wait') this.wantChild(p);
      return;
    }
    if (e.type === 'moved') return this.peerMoved(e.spi, e.remote);
    if (e.type !== 'expire') return;
    const found = this.childBySpi(e.dir, e.spi);
    if (!found) return;
    if (e.hard) void removeChild(this, found.sa, found.child, `hard limit: ${e.why}`);
    else if (found.child.state === 'installed') startChildRekey(this, found.sa, found.child);
  }

  /**
   * Authenticated ESP of a child SA came from a new address or port: a NAT on the path rebound
   * (an LTE carrier's does, often). The IKE SA follows at once and checks the peer is alive there,
   * instead of sending its requests to the old mapping until the peer's next request (RFC 7296
   * §2.23 moves on authenticated IKE messages; strongSwan also moves on the kernel's ESP mapping
   * events). ESP that is only replayed cannot do this: the driver follows a packet only when it
   * advanced the replay window.
   */
  private peerMoved(spiIn: number, remote: Endpoint): void {
    const sa = this.childBySpi('in', spiIn)?.sa;
    if (!sa || !sa.fsm.is('established') || sameEndpoint(sa.remote, remote)) return;
    const socket = this.socketFor(remote, true);
    if (!socket) return;
    this.log.info(`${saName(sa)}: peer's ESP comes from ${endpointText(remote)} now, was ${endpointText(sa.remote)}: the IKE SA follows`);
    this.follow(sa, socket, remote);
    if (!sa.window.busy) sendDpd(this, sa);
  }

  childBySpi(dir: 'in' | 'out', spi: number): { sa: IkeSa; child: ChildSa } | undefined {
    for (const sa of this.table.values()) {
      const child = sa.children.find((c) => (dir === 'in' ? c.spiIn : c.spiOut) === spi);
      if (child) return { sa, child };
    }
    return undefined;
  }

  // ---- sending ---------------------------------------------------------------------------------

  /** A datagram to the peer; on the NAT-T port with the non-ESP marker in front. */
  sendTo(socket: IkeSocket, to: Endpoint, bytes: Uint8Array): void {
    socket.transport.send(socket.natt ? concat(NON_ESP_MARKER, bytes) : bytes, to);
  }

  /** The socket for talking to `to`: the plain IKE port for a peer on 500, else NAT-T. */
  socketFor(to: Endpoint, natt = to.port !== IKE_PORT): IkeSocket | undefined {
    const fam = familyOf(to.addr);
    const same = this.deps.sockets.filter((s) => familyOf(s.transport.local.addr) === fam);
    return same.find((s) => s.natt === natt) ?? (natt ? undefined : same.find((s) => s.natt));
  }

  header(sa: IkeSa, exchange: number, response: boolean, messageId: number) {
    const flags = (sa.role === 'initiator' ? FLAG.I : 0) | (response ? FLAG.R : 0);
    return { spiI: sa.spiI, spiR: sa.spiR, major: 2, minor: 0, exchange, flags, messageId };
  }

  private seal(sa: IkeSa, exchange: number, response: boolean, id: number, inner: readonly Payload[]): Uint8Array {
    if (response && inner.some((p) => p.type === 'N' && p.notify === NOTIFY.INVALID_SYNTAX)) this.syntaxErrorSent.add(sa);
    const raw = inner.map(encodePayload);
    const bytes = sealMessage(this.header(sa, exchange, response, id), raw, sa.sk!.send, sa.iv!);
    this.trace('out', sa, exchange, response, id, bytes.length, raw);
    return bytes;
  }

  /** Send a protected request; `pending` gets its answer. Queued while the window is busy. */
  request(sa: IkeSa, exchange: number, inner: readonly Payload[], pending: Omit<Pending, 'exchange'>): void {
    sa.window.request((id) => {
      sa.pending = { ...pending, exchange, id } as Pending & { id: number };
      return this.seal(sa, exchange, false, id, inner);
    });
  }

  /** Answer the request being processed (its ID is the window's next expected). */
  respond(sa: IkeSa, m: Inbound, inner: readonly Payload[]): void {
    sa.window.respond(m.messageId, this.seal(sa, m.exchange, true, m.messageId, inner));
  }

  trace(dir: 'in' | 'out', sa: IkeSa, exchange: number, response: boolean, messageId: number, bytes: number, raw: readonly RawPayload[]): void {
    const payloads = raw.map((p) => name(PAYLOAD, p.type));
    this.emit({ type: 'message', dir, exchange, response, messageId, bytes, payloads, peer: sa.peer.name });
    if (this.log.enabled('debug')) {
      this.log.debug(`${saName(sa)}: ${dir === 'out' ? 'sent' : 'got'} ${name(EXCHANGE, exchange)} ${response ? 'response' : 'request'} ${messageId} [${payloads.join(' ')}] ${bytes} B`);
    }
  }

  // ---- receiving -------------------------------------------------------------------------------

  /** One IKE datagram (non-ESP marker already removed) from `from` on `socket`. */
  receive(data: Uint8Array, from: Endpoint, socket: IkeSocket): void {
    this.guard(`message from ${endpointText(from)}`, () => this.dispatch(data, from, socket));
  }

  private dispatch(data: Uint8Array, from: Endpoint, socket: IkeSocket): void {
    let h: IkeHeader;
    let outer: RawPayload[];
    try {
      const d = decodeMessage(data);
      if (!d.ok) return this.drops.bump('ike-version');
      h = d.header;
      outer = d.payloads;
    } catch (e) {
      if (e instanceof MalformedError) return this.drops.bump('ike-malformed');
      throw e;
    }
    if (h.exchange === EXCHANGE.IKE_SA_INIT && !isResponse(h)) return handleInitRequest(this, h, outer, data, from, socket);
    const sa = this.table.get(isInitiator(h) ? h.spiR : h.spiI);
    if (!sa || sa.fsm.is('closed')) return this.drops.bump('ike-unknown-spi');
    if (h.exchange === EXCHANGE.IKE_SA_INIT) return handleInitResponse(this, sa, h, outer, data, from);
    if (sa.spiI !== h.spiI || sa.spiR !== h.spiR || isInitiator(h) === (sa.role === 'initiator')) return this.drops.bump('ike-unknown-spi');
    if (!sa.sk) return this.drops.bump('ike-no-keys');
    if (isResponse(h)) this.onResponse(sa, h, outer, data, from, socket);
    else this.onRequest(sa, h, outer, data, from, socket);
  }

  /** Open SK and decode the inner payloads; undefined (counted) when it does not authenticate. */
  private open(sa: IkeSa, h: IkeHeader, outer: RawPayload[], data: Uint8Array): { inner: RawPayload[] } | { malformed: string } | undefined {
    const r = openMessage(data, { ok: true, header: h, payloads: outer }, sa.sk!.recv);
    if (r.ok) return { inner: r.inner };
    if (r.reason === 'malformed') return { malformed: `undecodable SK content: ${r.why}` };
    this.drops.bump('ike-auth');
    return undefined;
  }

  /** The decoded payloads, or why one of them is malformed. */
  private decodeAll(raw: RawPayload[]): Payload[] | string {
    try {
      return raw.map(decodePayload);
    } catch (e) {
      if (e instanceof MalformedError) return e.message;
      throw e;
    }
  }

  /**
   * Authenticated: the peer is alive, and (NAT-T, §2.23) the address it sends from is current. A
   * request on the NAT-T socket moves the SA there too: an initiator that started on port 500
   * floats to 4500 with IKE_AUTH, and our answers and ESP must follow it.
   */
  private authenticated(sa: IkeSa, from: Endpoint, isRequest: boolean, via: IkeSocket): void {
    sa.lastRecvAt = this.now;
    if (!isRequest || !via.natt) return;
    if (via === sa.socket && sameEndpoint(from, sa.remote)) return;
    this.log.info(`${saName(sa)}: peer moved from ${endpointText(sa.remote)} to ${endpointText(from)}`);
    this.follow(sa, via, from);
  }

  /** The IKE SA, and the outbound SAs of its children, go where the peer is now. */
  private follow(sa: IkeSa, via: IkeSocket, to: Endpoint): void {
    sa.socket = via;
    sa.remote = { addr: to.addr, port: to.port };
    for (const c of sa.children) void this.deps.driver.updateSa('out', c.spiOut, { remote: to }).catch(() => {});
  }

  private onRequest(sa: IkeSa, h: IkeHeader, outer: RawPayload[], data: Uint8Array, from: Endpoint, via: IkeSocket): void {
    if (sa.processing === h.messageId) return this.drops.bump('ike-busy');
    const verdict = sa.window.requestIn(h.messageId, data);
    // 'resent': answered again from the cache (a retransmission, or a replay: they look alike).
    if (verdict !== 'process') return this.drops.bump(`ike-${verdict}`);
    const opened = this.open(sa, h, outer, data);
    if (!opened) return;
    this.authenticated(sa, from, true, via);
    const m = { exchange: h.exchange, messageId: h.messageId, raw: data, from, payloads: [] as Payload[], inner: [] as RawPayload[] };
    if ('malformed' in opened) return this.refuse(sa, m, NOTIFY.INVALID_SYNTAX, opened.malformed);
    this.trace('in', sa, h.exchange, false, h.messageId, data.length, opened.inner);
    const rules = checkRules(h.exchange, false, outer, opened.inner);
    if (!rules.ok) return this.refuse(sa, m, rules.notify ?? NOTIFY.INVALID_SYNTAX, rules.reason, rules.data);
    const payloads = this.decodeAll(opened.inner);
    if (typeof payloads === 'string') return this.refuse(sa, m, NOTIFY.INVALID_SYNTAX, payloads);
    const msg: Inbound = { ...m, payloads, inner: opened.inner };
    sa.processing = h.messageId;
    const done = () => {
      if (sa.processing === h.messageId) sa.processing = undefined;
    };
    const work = (async () => {
      switch (h.exchange) {
        case EXCHANGE.IKE_AUTH:
          return handleAuthRequest(this, sa, msg);
        case EXCHANGE.CREATE_CHILD_SA:
          return this.createChild(sa, msg);
        case EXCHANGE.INFORMATIONAL:
          return handleInformationalRequest(this, sa, msg);
      }
    })();
    void work
      .catch((e: unknown) => this.failed(`${saName(sa)}: ${name(EXCHANGE, h.exchange)} request`, e))
      .finally(() => {
        done();
        this.closeIfSyntaxError(sa);
      });
  }

  /** CREATE_CHILD_SA: an IKE SA rekey (an IKE proposal) or a child SA, new or rekeyed. */
  private createChild(sa: IkeSa, m: Inbound): Promise<void> | void {
    if (!sa.fsm.is('established', 'rekeying')) return this.respond(sa, m, [notifyPayload(NOTIFY.TEMPORARY_FAILURE)]);
    const offer = m.payloads.find((p) => p.type === 'SA');
    if (offer?.type === 'SA' && offer.proposals[0]?.protocol === PROTO.IKE) return answerIkeRekey(this, sa, m);
    if (sa.fsm.is('rekeying')) return this.respond(sa, m, [notifyPayload(NOTIFY.TEMPORARY_FAILURE)]);
    return answerCreateChild(this, sa, m);
  }

  /** Answer a request we cannot process with one error notify (RFC 7296 §2.21). */
  refuse(sa: IkeSa, m: Pick<Inbound, 'exchange' | 'messageId'>, notify: number, why: string, data: Uint8Array = new Uint8Array(0)): void {
    this.log.warn(`${saName(sa)}: refusing ${name(EXCHANGE, m.exchange)} request ${m.messageId} with ${name(NOTIFY, notify)}: ${why}`);
    this.drops.bump('ike-refused');
    sa.window.respond(m.messageId, this.seal(sa, m.exchange, true, m.messageId, [notifyPayload(notify, data)]));
    this.closeIfSyntaxError(sa);
  }

  /**
   * INVALID_SYNTAX, sent for a request that passed the MAC and window checks or received in an
   * answer to ours, "is considered fatal in both peers, meaning that the IKE SA is deleted without
   * needing an explicit Delete payload" (RFC 7296 §2.21.3; §2.21.2 for IKE_AUTH).
   */
  private closeIfSyntaxError(sa: IkeSa): void {
    if (!this.syntaxErrorSent.delete(sa) || sa.fsm.is('closed')) return;
    void this.startOver(sa, 'answered INVALID_SYNTAX (fatal, RFC 7296 §2.21.3)');
  }

  /** Close the SA without a message and bring its connection up again later, if it initiates. */
  private async startOver(sa: IkeSa, why: string): Promise<void> {
    await this.closeSa(sa, why);
    this.retryLater(sa.peer, why);
  }

  private onResponse(sa: IkeSa, h: IkeHeader, outer: RawPayload[], data: Uint8Array, from: Endpoint, via: IkeSocket): void {
    const pending = sa.pending as (Pending & { id: number }) | undefined;
    if (!pending || pending.id !== h.messageId || pending.exchange !== h.exchange || !sa.window.busy) return this.drops.bump('ike-unexpected-response');
    const opened = this.open(sa, h, outer, data);
    if (!opened) return;
    // Cleared before the window frees up: that may send a queued request, which sets its own.
    sa.pending = undefined;
    if (!sa.window.response(h.messageId)) return void (sa.pending = pending);
    this.authenticated(sa, from, false, via);
    if ('malformed' in opened) return void this.failExchange(sa, pending, opened.malformed);
    this.trace('in', sa, h.exchange, true, h.messageId, data.length, opened.inner);
    const rules = checkRules(h.exchange, true, outer, opened.inner);
    if (!rules.ok) return void this.failExchange(sa, pending, rules.reason);
    const payloads = this.decodeAll(opened.inner);
    if (typeof payloads === 'string') return void this.failExchange(sa, pending, payloads);
    const msg: Inbound = { exchange: h.exchange, messageId: h.messageId, raw: data, from, payloads, inner: opened.inner };
    const fatal = payloads.some((p) => p.type === 'N' && p.notify === NOTIFY.INVALID_SYNTAX);
    void Promise.resolve()
      .then(() => pending.onResponse(msg))
      .catch((e: unknown) => this.failed(`${saName(sa)}: ${pending.what} response`, e))
      .then(() => {
        if (!fatal || sa.fsm.is('closed')) return;
        this.log.warn(`${saName(sa)}: peer answered ${pending.what} with INVALID_SYNTAX: closing the IKE SA (fatal, RFC 7296 §2.21.3)`);
        void this.startOver(sa, 'peer answered INVALID_SYNTAX');
      });
  }

  /**
   * An authenticated response we cannot use: the exchange failed. An IKE SA that was not up yet is
   * closed. An established one is deleted and started over: the peers no longer agree on its
   * state, and no error notify is sent about a response (RFC 7296 §2.21.3).
   */
  private async failExchange(sa: IkeSa, pending: Pending, why: string): Promise<void> {
    this.log.warn(`${saName(sa)}: ${pending.what} failed: unusable response: ${why}`);
    if (sa.fsm.is('connecting', 'authenticating')) {
      await this.startOver(sa, why);
    } else if (sa.fsm.is('established', 'rekeying')) {
      deleteIkeSa(this, sa, `unusable ${pending.what} response`);
      this.retryLater(sa.peer, `unusable ${pending.what} response`);
    }
  }

  // ---- errors ----------------------------------------------------------------------------------

  /** Last line of defence: a bug costs one message, never the agent. */
  guard(what: string, fn: () => void): void {
    try {
      fn();
    } catch (e) {
      this.failed(what, e);
    }
  }

  failed(what: string, e: unknown): void {
    this.drops.bump('internal');
    this.log.error(`${what}: ${(e as Error).message ?? String(e)}`);
  }

  // ---- operator surface: status, up, down, reload (src/control/) ------------------------------

  /** Connections taken down by `keyline down`: not initiated again until `up` or a reload. */
  private readonly held = new Set<string>();
  /** Connections a reload removed or replaced: their SAs go, and nothing brings them back. */
  private readonly retired = new WeakSet<IkePeer>();

  /** Whether the engine may start an IKE SA for `peer` on its own (or on `up`). */
  private wanted(peer: IkePeer): boolean {
    return !this.held.has(peer.name) && !this.retired.has(peer);
  }

  isDown(name: string): boolean {
    return this.held.has(name);
  }

  /**
   * `keyline up`: initiate now, whatever `start=` says (a `wait` peer too, if it has an
   * address); clears a `down`. Undefined when no such peer; 'no-address' for addr=any.
   */
  up(name: string): 'initiating' | 'already-up' | 'no-address' | undefined {
    const peer = this.peer(name);
    if (!peer) return undefined;
    this.held.delete(name);
    if (!peer.remote) return 'no-address';
    const live = this.sasOf(peer).some((s) => s.fsm.is('connecting', 'authenticating', 'established', 'rekeying'));
    this.initiate(peer);
    return live ? 'already-up' : 'initiating';
  }

  /** `keyline down`: DELETE the peer's IKE SAs and keep it down until `up` or a reload. */
  down(name: string): number | undefined {
    const peer = this.peer(name);
    if (!peer) return undefined;
    this.held.add(name);
    const n = this.sasOf(peer).length;
    this.terminate(peer, 'taken down by the operator');
    return n;
  }

  /**
   * Reload: the new list of connections. Peers present in both lists (the same objects: the
   * caller keeps an unchanged peer's IkePeer) keep their SAs untouched. Peers no longer listed
   * get DELETE for their IKE SAs; new ones start per `start=`. Every `down` ends.
   */
  setPeers(next: readonly IkePeer[]): { added: IkePeer[]; removed: IkePeer[] } {
    const keep = new Set(next);
    const was = new Set(this.deps.peers);
    const removed = this.deps.peers.filter((p) => !keep.has(p));
    const added = next.filter((p) => !was.has(p));
    this.deps.peers = next;
    this.held.clear();
    for (const p of removed) {
      this.retired.add(p);
      const t = this.retryTimers.get(p.name);
      if (t) {
        t.cancel();
        this.retryTimers.delete(p.name);
      }
      for (const sa of this.sasOf(p)) deleteIkeSa(this, sa, 'removed by a reload');
    }
    // A responder SA still before IKE_AUTH could settle on a removed connection: start it over.
    for (const sa of this.sas()) {
      if (sa.fsm.is('connecting', 'authenticating') && sa.candidates.some((c) => this.retired.has(c))) void this.closeSa(sa, 'configuration reloaded');
    }
    for (const p of next) if (p.start === 'initiate') this.initiate(p);
    return { added, removed };
  }

  /**
   * A snapshot per connection: IKE SAs with their state, SPIs, proposal, age and rekey time;
   * child SAs with SPIs, suite, age, rekey time and the driver's counters. `dueAt` tells when a
   * named timer fires (control/timers.ts); without it no rekey times are given.
   */
  status(dueAt?: (key: string) => number | undefined): PeerStatus[] {
    const now = this.now;
    const inS = (key: string) => {
      const at = dueAt?.(key);
      return at === undefined ? {} : { rekeyInS: seconds(at - now) };
    };
    const driver = this.deps.driver;
    const child = (c: ChildSa): ChildSaStatus => {
      const i = driver.counters('in', c.spiIn);
      const o = driver.counters('out', c.spiOut);
      return {
        spiIn: spiText(c.spiIn),
        spiOut: spiText(c.spiOut),
        suite: c.proposal.suite + (c.proposal.esn ? '-esn' : ''),
        state: c.state,
        ageS: seconds(now - c.createdAt),
        ...(c.state === 'installed' && inS(`${spiText(c.spiIn)} child-rekey`)),
        in: { bytes: i?.bytes ?? 0, packets: i?.packets ?? 0, drops: { ...i?.drops } },
        out: { bytes: o?.bytes ?? 0, packets: o?.packets ?? 0 },
      };
    };
    const ikeSa = (sa: IkeSa): IkeSaStatus => ({
      state: sa.fsm.state as IkeSaStatus['state'],
      role: sa.role,
      spiI: spiHex(sa.spiI),
      spiR: spiHex(sa.spiR),
      ...(sa.proposal && { proposal: formatIkeProposal(sa.proposal) }),
      remote: endpointText(sa.remote),
      ...(sa.peerId && { peerId: sa.peerId }),
      ageS: seconds(now - sa.createdAt),
      messageIds: { send: sa.window.nextRequestId, recv: sa.window.expectedRequestId },
      ...(sa.fsm.is('established') && inS(`${saName(sa)} ike-rekey`)),
      children: sa.children.map(child),
    });
    // One pass over the table, not one per peer: status stays linear with 10,000 road warriors.
    const byPeer = new Map<IkePeer, IkeSaStatus[]>();
    for (const sa of this.table.values()) {
      if (sa.fsm.is('closed')) continue;
      const list = byPeer.get(sa.peer) ?? [];
      list.push(ikeSa(sa));
      byPeer.set(sa.peer, list);
    }
    return this.deps.peers.map((p) => ({
      name: p.name,
      keying: 'ike',
      remote: p.remote ? endpointText(p.remote) : 'any',
      reqid: p.reqid,
      start: p.start,
      down: this.held.has(p.name),
      ikeSas: byPeer.get(p) ?? [],
    }));
  }
}
