import type { Backend } from '../../crypto/types.js';
import type { Endpoint, Policy, SaSpec } from '../../sa/types.js';
import { parseIp, buildIpPacket, type IpInfo } from '../../sa/ip.js';
import { matches } from '../../sa/selector.js';
import type { Spd } from '../../sa/spd.js';
import type { Sad } from '../../sa/sad.js';
import { espSpi, isDummy, openEsp, sealEsp } from '../../esp/esp.js';
import { classify } from '../../esp/udp.js';
import { IPPROTO } from '../../wire/iana.js';
import { sameEndpoint, type Transport } from '../../transport/transport.js';
import { bumpDrop, type DropCounters } from '../common.js';
import type { UserSa } from './sa-state.js';
import { INLINE_NEXT_HEADER } from '../../inline/header.js';
import type { InlineEngine } from '../../inline/engine.js';

/**
 * The packet path of the userspace driver, both directions. Every branch that does not deliver
 * a packet counts a drop by reason; nothing here throws on peer input (the callers' try/catch is
 * a last line of defence, counted as 'internal').
 */
export interface DatapathHost {
  readonly sad: Sad<UserSa>;
  readonly spd: Spd;
  readonly dropped: DropCounters;
  readonly backend: Backend;
  now(): number;
  /** Choose the transport for a peer address family. */
  transportFor(remote: Endpoint): Transport | undefined;
  /** Hand a decrypted inner packet to the host (the TUN device). */
  deliver(packet: Uint8Array): void;
  /** An IKE message arrived on the ESP port (non-ESP marker stripped by the caller's handler). */
  ike(data: Uint8Array, from: Endpoint, via: Transport): void;
  acquire(policy: Policy, ip: IpInfo): void;
  /** The peer of inbound SA `spi` sends from `remote` now (see follow). */
  moved(spi: number, remote: Endpoint): void;
  /** Byte/packet/seq limits are checked on the packet path; this reacts to them. */
  checkLimits(sa: UserSa): void;
  seqExhausted(sa: UserSa): void;
  /** Inline keying (src/inline/), when a peer uses it. */
  readonly inline: InlineEngine | undefined;
}

/** Outbound: an IP packet from the host → policy → SA → ESP → UDP. */
export function outbound(h: DatapathHost, packet: Uint8Array): void {
  const ip = parseIp(packet);
  if (!ip) return h.dropped.bump('bad-inner');
  const policy = h.spd.lookup(ip);
  if (!policy) return h.dropped.bump('no-policy');
  if (policy.action !== 'protect') return h.dropped.bump(policy.action === 'discard' ? 'discard-policy' : 'bypass');
  if (h.inline?.outbound(policy, ip, packet)) return;
  const sa = h.sad.current(policy.reqid);
  if (!sa?.send) {
    h.acquire(policy, ip);
    return h.dropped.bump('no-sa');
  }
  const [next, payload] =
    sa.spec.mode === 'tunnel' ? [ip.version === 4 ? IPPROTO.IPV4 : IPPROTO.IPV6, packet] : [ip.proto, packet.subarray(ip.headerLen)];
  transmit(h, sa, next, payload, packet.length);
}

/**
 * Seal `payload` on an outbound SA and send it to the SA's peer; `innerLen` is what the byte
 * counters count (the inner packet, not inline keying headers). False when nothing was sent.
 */
export function transmit(h: DatapathHost, sa: UserSa, next: number, payload: Uint8Array, innerLen: number): boolean {
  const transport = h.transportFor(sa.remote);
  if (!transport) {
    h.dropped.bump('no-transport');
    return false;
  }
  const esp = sealEsp(sa.send!, next, payload, (n) => h.backend.randomBytes(n));
  if (!esp) {
    h.seqExhausted(sa);
    return false;
  }
  transport.send(esp, sa.remote);
  sa.counters.packets++;
  sa.counters.bytes += innerLen;
  sa.lastSentAt = h.now();
  h.checkLimits(sa);
  return true;
}

/** Inbound: a UDP datagram on the ESP port → IKE, keepalive or ESP → SA → host. */
export function inbound(h: DatapathHost, data: Uint8Array, from: Endpoint, via: Transport): void {
  switch (classify(data)) {
    case 'keepalive':
      return h.dropped.bump('keepalive'); // counted, nothing else to do (RFC 3948 §2.3)
    case 'runt':
      return h.dropped.bump('short');
    case 'ike':
      return h.ike(data.subarray(4), from, via);
    case 'esp':
      return inboundEsp(h, data, from);
  }
}

function inboundEsp(h: DatapathHost, data: Uint8Array, from: Endpoint): void {
  const spi = espSpi(data)!;
  const sa = h.sad.get('in', spi);
  if (!sa?.recv) {
    if (h.inline?.unknownSpi(spi, data, from)) return;
    return h.dropped.bump('unknown-spi');
  }
  const before = sa.recv.replay.highest;
  const r = openEsp(sa.recv, data);
  if (!r.ok) return bumpDrop(sa.counters, r.reason);
  sa.counters.packets++;
  sa.counters.bytes += r.payload.length;
  if (r.seq > before) follow(h, sa.spec, from);
  h.checkLimits(sa);
  h.inline?.received(sa);
  if (r.nextHeader === INLINE_NEXT_HEADER) return h.inline ? h.inline.onHeader(sa, r.payload, from) : bumpDrop(sa.counters, 'inline-off');
  if (isDummy(r.nextHeader)) return bumpDrop(sa.counters, 'dummy');
  const inner = innerPacket(sa.spec, r.nextHeader, r.payload);
  if (!inner) return bumpDrop(sa.counters, 'bad-inner');
  const ip = parseIp(inner);
  if (!ip) return bumpDrop(sa.counters, 'bad-inner');
  // RFC 4301 §5.2: an authenticated packet must still fall within the SA's selectors.
  if (!sa.spec.selectors.some((s) => matches(s, ip, true))) return bumpDrop(sa.counters, 'policy');
  h.deliver(inner);
}

function innerPacket(spec: SaSpec, next: number, payload: Uint8Array): Uint8Array | undefined {
  if (spec.mode === 'tunnel') return next === IPPROTO.IPV4 || next === IPPROTO.IPV6 ? payload : undefined;
  const sel = spec.selectors[0];
  if (!sel) return undefined;
  return buildIpPacket(sel.remote.addr, sel.local.addr, next, payload);
}

/**
 * Roaming / NAT rebinding: when an authenticated packet that advanced the replay window comes
 * from a new address or port, outbound SAs of the same reqid follow it (as WireGuard does).
 * Requiring a new highest sequence number keeps an attacker who re-sends a captured old packet
 * from another address from redirecting traffic.
 */
function follow(h: DatapathHost, spec: SaSpec, from: Endpoint): void {
  const out = h.sad.current(spec.reqid);
  if (!out || sameEndpoint(out.remote, from)) return;
  out.remote = { addr: from.addr, port: from.port };
  h.moved(spec.spi, out.remote);
}
