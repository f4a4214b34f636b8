/**
 * The status model: what `keyline show` prints and what `show --json` returns, as plain
 * JSON-safe data (SPIs as hex text, times in whole seconds relative to now). The agent builds it
 * (Agent.status), the control socket carries it, and formatStatus turns it into text. Nothing
 * here holds key material.
 */
import { fmtDuration } from '../config/values.js';
import type { IkeState } from '../ike/state.js';

export interface Traffic {
  readonly bytes: number;
  readonly packets: number;
}

/** Inbound traffic of an SA with the packets dropped on it, by reason (auth, replay, ...). */
export interface InboundTraffic extends Traffic {
  readonly drops: Readonly<Record<string, number>>;
}

/** One ESP SA pair: a child SA of an IKE SA, a manual SA pair, or an inline-spawned pair. */
export interface ChildSaStatus {
  /** "0x1234abcd" */
  readonly spiIn: string;
  readonly spiOut: string;
  /** Suite in key-file notation, `-esn` appended when extended sequence numbers are on. */
  readonly suite: string;
  /** installed, rekeying, rekeyed (replaced, waiting for its DELETE), deleting. */
  readonly state: string;
  readonly ageS: number;
  /** Seconds until the rekey starts; absent when none is scheduled (manual SAs, replaced ones). */
  readonly rekeyInS?: number;
  readonly in: InboundTraffic;
  readonly out: Traffic;
}

/**
 * IKE SA states as the operator sees them: the state machine's own names (src/ike/state.ts),
 * which are operator words already; `closed` SAs are gone from the table and never shown.
 */
export type IkeSaState = Exclude<IkeState, 'closed'>;

export interface IkeSaStatus {
  readonly state: IkeSaState;
  readonly role: 'initiator' | 'responder';
  /** 16 hex digits each. */
  readonly spiI: string;
  readonly spiR: string;
  /** The negotiated IKE proposal in key-file notation; absent before IKE_SA_INIT completes. */
  readonly proposal?: string;
  /** The peer's current outer endpoint. */
  readonly remote: string;
  /** The identity the peer proved, once authenticated. */
  readonly peerId?: string;
  readonly ageS: number;
  /** The message ID our next request will carry, and the one the peer's next request must. */
  readonly messageIds: { readonly send: number; readonly recv: number };
  readonly rekeyInS?: number;
  readonly children: readonly ChildSaStatus[];
}

/**
 * Inline keying (src/inline/) reports through this hook: the agent takes an optional
 * `inlineStatus(peer)` function and puts what it returns under the peer. Kept open on purpose:
 * `sas` is the common part `show` prints; `counters` is printed as name=value pairs.
 */
export interface InlineSaStatus extends ChildSaStatus {
  /** The flow or host pair the SA was spawned for, e.g. "198.51.100.7 -> 203.0.113.9". */
  readonly flow: string;
}

export interface InlineStatus {
  readonly sas: readonly InlineSaStatus[];
  readonly counters?: Readonly<Record<string, number>>;
}

export type Keying = 'ike' | 'manual' | 'psk-static' | 'x25519-static';

export interface PeerStatus {
  readonly name: string;
  /** psk-static and x25519-static peers have no session: only their inline SAs (`inline`). */
  readonly keying: Keying;
  /** "192.0.2.2:4500", or "any" for a responder-only IKE peer. */
  readonly remote: string;
  readonly reqid: number;
  /** keying=ike: initiate, wait or on-traffic. */
  readonly start?: string;
  /** Taken down with `keyline down`: not brought up again until `keyline up` or a reload. */
  readonly down: boolean;
  /** keying=ike: its IKE SAs (several during an IKE rekey), each with its child SAs. */
  readonly ikeSas?: readonly IkeSaStatus[];
  /** keying=manual: the SA pair, absent while the peer is down. */
  readonly manual?: ChildSaStatus;
  readonly inline?: InlineStatus;
}

export interface DropStatus {
  /** Data-plane drops not attributable to an SA (driver.drops()). */
  readonly driver: Readonly<Record<string, number>>;
  /** IKE messages dropped or refused, by reason. */
  readonly ike: Readonly<Record<string, number>>;
  /** Control socket requests refused, by reason. */
  readonly control: Readonly<Record<string, number>>;
}

/** The agent process's memory (process.memoryUsage()), bytes. */
export interface MemoryStatus {
  readonly heapUsed: number;
  readonly rss: number;
  /** Memory held outside the JS heap (Buffers, native crypto objects). */
  readonly external: number;
}

/**
 * The IKE responder's load against its DoS limits (src/limits.ts IKE_LIMITS): cookies are
 * demanded while `halfOpen` is at or above `cookieThreshold`; at `halfOpenMax` half-open SAs a
 * new one evicts the oldest; at `ikeSaMax` IKE SAs new IKE_SA_INIT requests are dropped. Cookies
 * sent, evictions, expiries and drops are counted in drops.ike (`ike-cookie-sent`,
 * `half-open-evicted`, `half-open-expired`, `ike-sa-cap`).
 */
export interface IkeLoadStatus {
  /** IKE SAs of all states, either role. */
  readonly sas: number;
  /** Responder IKE SAs past IKE_SA_INIT whose IKE_AUTH has not completed. */
  readonly halfOpen: number;
  /** The most half-open IKE SAs there have been at once since the agent started. */
  readonly halfOpenPeak: number;
  /** Whether IKE_SA_INIT requests must carry a cookie now. */
  readonly cookies: boolean;
  readonly cookieThreshold: number;
  readonly halfOpenMax: number;
  readonly ikeSaMax: number;
}

export interface AgentStatus {
  readonly version: string;
  readonly pid: number;
  readonly uptimeS: number;
  readonly tunnel: string;
  readonly listen: readonly string[];
  /** Added by the control handler (the process's, not the agent model's); absent in process. */
  readonly memory?: MemoryStatus;
  readonly ikeLoad: IkeLoadStatus;
  readonly peers: readonly PeerStatus[];
  readonly drops: DropStatus;
}

export const seconds = (ms: number): number => Math.max(0, Math.round(ms / 1000));

/** The memory part of the status, from the running process. */
export function memoryStatus(): MemoryStatus {
  const m = process.memoryUsage();
  return { heapUsed: m.heapUsed, rss: m.rss, external: m.external };
}

// ---- text --------------------------------------------------------------------------------------

const dur = (s: number): string => fmtDuration(Math.max(0, Math.round(s)));

/** Bytes as MB with one decimal (10^6, as `free -m` does not but every router UI does). */
const mb = (n: number): string => `${(n / 1e6).toFixed(1)} MB`;

function loadLines(s: AgentStatus): string[] {
  const m = s.memory;
  const l = s.ikeLoad;
  const cookies = l.cookies ? `cookies ON (${l.halfOpen} half-open >= ${l.cookieThreshold})` : `cookies off (on at ${l.cookieThreshold} half-open)`;
  return [
    ...(m ? [`memory: RSS ${mb(m.rss)}, heap ${mb(m.heapUsed)}, external ${mb(m.external)}`] : []),
    `IKE: ${l.sas} SA${l.sas === 1 ? '' : 's'} (cap ${l.ikeSaMax}), ${l.halfOpen} half-open (peak ${l.halfOpenPeak}, cap ${l.halfOpenMax}), ${cookies}`,
  ];
}

const pairs = (r: Readonly<Record<string, number>>): string =>
  Object.entries(r)
    .filter(([, n]) => n > 0)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, n]) => `${k}=${n}`)
    .join(' ');

function traffic(label: string, t: Traffic, drops?: Readonly<Record<string, number>>): string {
  const d = drops && pairs(drops);
  return `${label} ${t.bytes} B ${t.packets} pkts${d ? `, drops ${d}` : ''}`;
}

function childLines(kind: string, c: ChildSaStatus, indent: string, extra = ''): string[] {
  const rekey = c.rekeyInS !== undefined ? `, rekey in ${dur(c.rekeyInS)}` : '';
  return [
    `${indent}${kind} ${c.state}${extra}: in ${c.spiIn} out ${c.spiOut} ${c.suite}, age ${dur(c.ageS)}${rekey}`,
    `${indent}  ${traffic('in ', c.in, c.in.drops)}; ${traffic('out', c.out)}`,
  ];
}

function peerLines(p: PeerStatus): string[] {
  const head = [`${p.name}: ${p.keying}, ${p.remote}`];
  if (p.start) head.push(`start=${p.start}`);
  head.push(`reqid ${p.reqid}`);
  if (p.down) head.push('DOWN (keyline up to bring it back)');
  const out = [head.join(', ')];
  for (const sa of p.ikeSas ?? []) {
    const rekey = sa.rekeyInS !== undefined ? `, rekey in ${dur(sa.rekeyInS)}` : '';
    const who = sa.peerId ? ` ${sa.peerId}` : '';
    out.push(`  IKE SA ${sa.state}, ${sa.role}, ${sa.spiI}_${sa.spiR}${sa.proposal ? ` ${sa.proposal}` : ''}, ${sa.remote}${who}, age ${dur(sa.ageS)}${rekey}`);
    for (const c of sa.children) out.push(...childLines('child SA', c, '    '));
  }
  if (p.keying === 'ike' && !p.ikeSas?.length) out.push('  no IKE SA');
  if (p.manual) out.push(...childLines('manual SA', p.manual, '  '));
  else if (p.keying === 'manual') out.push('  no SA installed');
  if (p.inline || p.keying.endsWith('-static')) {
    const sas = p.inline?.sas ?? [];
    const c = p.inline?.counters && pairs(p.inline.counters);
    out.push(`  inline keying: ${sas.length} spawned SA${sas.length === 1 ? '' : 's'}${c ? `, ${c}` : ''}`);
    for (const s of sas) out.push(...childLines('inline SA', s, '    ', ` ${s.flow}`));
  }
  return out;
}

/** `keyline show` without --json: one block per peer, then the drop counters. */
export function formatStatus(s: AgentStatus, only?: string): string {
  const lines: string[] = [];
  if (!only) lines.push(`keyline ${s.version}, pid ${s.pid}, up ${dur(s.uptimeS)}, tunnel ${s.tunnel}, listening on ${s.listen.join(' ')}`, ...loadLines(s));
  const peers = only ? s.peers.filter((p) => p.name === only) : s.peers;
  for (const p of peers) lines.push(...peerLines(p));
  if (!only) {
    if (!s.peers.length) lines.push('no peers configured');
    const groups = (['driver', 'ike', 'control'] as const).map((k) => [k, pairs(s.drops[k])] as const).filter(([, t]) => t);
    lines.push(groups.length ? `drops: ${groups.map(([k, t]) => `${k}: ${t}`).join('; ')}` : 'drops: none');
  }
  return lines.join('\n') + '\n';
}
