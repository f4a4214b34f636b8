import type { AgentPlan } from '../agent.js';
import type { Config, Identity, IdType, PeerConfig, LocalConfig } from '../config/types.js';
import { ID_TYPE, IKE_PORT } from '../ike/constants.js';
import type { IdSpec, IkePeer } from '../ike/peer.js';
import type { ManualPeer } from '../sa/manual.js';
import type { Endpoint, Limits, Prefix, Selector } from '../sa/types.js';
import { addrBytes, prefixText, subnetSelector } from '../sa/selector.js';
import { KeylineError } from '../wire/errors.js';
import { familyOf } from '../transport/transport.js';
import type { ParentSpec } from '../inline/engine.js';
import { publicFromPrivate, pskRoot, x25519Root } from '../inline/keys.js';
import { nodeBackend } from '../crypto/index.js';
import { SUITES } from '../crypto/suites.js';
import { INLINE_DEFAULTS } from '../limits.js';

/**
 * From a parsed key file to what the agent does. Per-peer rules (keying available, the keys a
 * method requires, their lengths) are checked by the parser with file:line:column; the checks
 * here are about the local entry as a whole and how it fits the peers.
 */
export function planFromConfig(c: Config, reqids?: ReadonlyMap<string, number>): AgentPlan {
  const errors: string[] = [];
  const xfrm = c.local.driver === 'xfrm'; // the kernel does ESP: no TUN, so no tun-addr (drivers/xfrm/)
  if (c.local.driver !== 'userspace' && !xfrm) errors.push(`${c.file}: local: driver=${c.local.driver} is not available in this build (use driver=userspace or driver=xfrm)`);
  if (xfrm) for (const p of c.peers) if (p.inline) errors.push(`${c.file}: peer ${p.name}: inline keying needs driver=userspace (the kernel driver never sees the data packets)`);
  if (!c.local.tunAddr && !xfrm) {
    errors.push(`${c.file}: local: tun-addr is required for driver=userspace (the TUN interface's own address, e.g. 198.51.100.1/24)`);
  }
  const manual: ManualPeer[] = [];
  // reqids count over all peers, so that manual and IKE peers never share one.
  const reqid = reqidOf(reqids);
  c.peers.forEach((p, i) => {
    if (p.keying === 'manual') {
      const remote = p.addr as Endpoint;
      const local = espEndpoint(c.local, remote);
      if (!local) errors.push(`${c.file}: peer ${p.name}: listen has no ESP-in-UDP endpoint for IPv${familyOf(remote.addr)} (a port other than ${IKE_PORT})`);
      // Policies come from the nets; without them a transport-mode peer would protect nothing.
      else if (!p.localNet || !p.remoteNet) errors.push(`${c.file}: peer ${p.name}: this build needs local-net and remote-net for keying=manual, also in mode=transport`);
      else manual.push(toManual(p, reqid(p.name, i), local, remote));
    } else if (p.keying === 'ike') {
      const fam = p.addr === 'any' ? undefined : familyOf(p.addr.addr);
      if (fam && !c.local.listen.some((e) => familyOf(e.addr) === fam)) errors.push(`${c.file}: peer ${p.name}: listen has no IPv${fam} endpoint to reach it from`);
    } else if (!espEndpoint(c.local, p.addr as Endpoint)) {
      errors.push(`${c.file}: peer ${p.name}: listen has no ESP-in-UDP endpoint for IPv${familyOf((p.addr as Endpoint).addr)} (a port other than ${IKE_PORT})`);
    }
  });
  if (errors.length) throw new KeylineError('CONFIG', errors.join('\n'));
  return {
    listen: c.local.listen,
    tun: { name: c.local.tun, address: c.local.tunAddr ? prefixText(c.local.tunAddr) : '', mtu: c.local.mtu },
    manual,
    ike: ikePeersFromConfig(c, reqids),
    inline: inlineParents(c, reqid),
    inlineSettings: { maxFlows: c.local.inlineMaxFlows, msl: c.local.inlineMsl, k1: c.local.inlineK1, k2: c.local.inlineK2 },
    ...(xfrm && { driver: 'xfrm' as const }),
  };
}

/**
 * Inline keying parents (src/inline/README.md §7): keying=ike peers with inline=on (their
 * secret comes from IKE), and the static keyings, whose secret comes from the file.
 */
function inlineParents(c: Config, reqid: (name: string, i: number) => number): ParentSpec[] {
  const out: ParentSpec[] = [];
  c.peers.forEach((p, i) => {
    const isStatic = p.keying === 'psk-static' || p.keying === 'x25519-static';
    if (p.keying === 'manual' || (!p.inline && !isStatic)) return;
    if (!p.localNet || !p.remoteNet) throw new KeylineError('CONFIG', `peer ${p.name}: inline keying needs local-net and remote-net`);
    const spec: ParentSpec = {
      reqid: reqid(p.name, i),
      peer: p.name,
      scope: p.inlineScope ?? 'host-pair',
      suite: p.esp?.find((e) => SUITES[e.suite].combined)?.suite ?? 'aes256gcm16',
      lifetime: p.inlineLifetime ?? INLINE_DEFAULTS.lifetime,
      idle: p.inlineIdle ?? INLINE_DEFAULTS.idle,
      maxSpawn: p.inlineMaxSpawn ?? INLINE_DEFAULTS.maxSpawn,
      selectors: selectors(p.localNet, p.remoteNet),
      replayWindow: p.replayWindow,
      pathMtu: c.local.pathMtu,
    };
    if (p.keying === 'ike') return void out.push(spec);
    const remote = p.addr as Endpoint;
    const root = staticRoot(c, p);
    out.push({ ...spec, static: { keying: p.keying, root, local: espEndpoint(c.local, remote)!, remote, skew: c.local.inlineSkew } });
  });
  return out;
}

/** S0 of a static parent (src/inline/README.md §7.2, §7.3). */
function staticRoot(c: Config, p: PeerConfig): Uint8Array {
  const prf = nodeBackend.prf('sha256');
  const need = <T>(v: T | undefined, what: string): T => {
    if (v === undefined) throw new KeylineError('CONFIG', `${c.file}: peer ${p.name}: keying=${p.keying} needs ${what}`);
    return v;
  };
  if (p.keying === 'psk-static') return pskRoot(prf, need(p.psk, 'psk'));
  const priv = need(c.local.privkey, 'privkey on the local entry');
  const pub = need(p.pubkey, 'pubkey');
  if (Buffer.from(publicFromPrivate(priv)).equals(Buffer.from(pub))) {
    throw new KeylineError('CONFIG', `${c.file}: peer ${p.name}: pubkey is this router's own public key; it must be the peer's (keyline pubkey on the other router)`);
  }
  try {
    return x25519Root(prf, priv, pub);
  } catch {
    // Both keys are 32 bytes (the parser checks), so the one failure left is a low-order point.
    throw new KeylineError('CONFIG', `${c.file}: peer ${p.name}: pubkey is not a usable X25519 public key (a low-order point)`);
  }
}

/**
 * The keying=ike peers as the IKE engine takes them. reqid: from `reqids` by name (a reload keeps
 * an unchanged peer's, see assignReqids), else the peer's position in the file, from 1.
 */
export function ikePeersFromConfig(c: Config, reqids?: ReadonlyMap<string, number>): IkePeer[] {
  const out: IkePeer[] = [];
  const reqid = reqidOf(reqids);
  c.peers.forEach((p, i) => {
    if (p.keying === 'ike') out.push(toIke(p, reqid(p.name, i), c.local));
  });
  return out;
}

const reqidOf = (reqids: ReadonlyMap<string, number> | undefined) => (name: string, i: number) => reqids?.get(name) ?? i + 1;

/**
 * reqids for a reload: a peer in `keep` (unchanged) keeps its reqid, so its SAs and policies stay
 * as they are; every other peer gets a fresh one from `next` up. `next` only grows over the
 * agent's life: a reqid is never reused, not even one of a removed peer whose SAs may still be
 * on their way out. The first load numbers peers 1..n by position; `next` starts after them.
 */
export function assignReqids(c: Config, keep: ReadonlyMap<string, number>, next: number): { reqids: Map<string, number>; next: number } {
  const reqids = new Map<string, number>();
  for (const p of c.peers) {
    const old = keep.get(p.name);
    reqids.set(p.name, old ?? next++);
  }
  return { reqids, next };
}

function toIke(p: PeerConfig, reqid: number, local: LocalConfig): IkePeer {
  // parseConfig fills every one of these for keying=ike; a Config built by hand may not.
  const need = <T>(v: T | undefined, key: string): T => {
    if (v === undefined) throw new KeylineError('CONFIG', `peer ${p.name}: keying=ike needs ${key}`);
    return v;
  };
  return {
    name: p.name,
    reqid,
    remote: p.addr === 'any' ? undefined : p.addr,
    localId: idSpec(need(p.localId ?? local.id, 'local-id or the local entry id')),
    remoteId: p.id && idSpec(p.id),
    psk: need(p.psk, 'psk'),
    ike: need(p.ike, 'ike'),
    esp: need(p.esp, 'esp'),
    mode: p.mode,
    selectors: selectors(need(p.localNet, 'local-net'), need(p.remoteNet, 'remote-net')),
    ikeLifetime: need(p.ikeLifetime, 'ike-lifetime'),
    childLifetime: need(p.lifetime, 'lifetime'),
    rekeyMargin: need(p.rekeyMargin, 'rekey-margin'),
    dpd: need(p.dpd, 'dpd'),
    dpdTimeout: need(p.dpdTimeout, 'dpd-timeout'),
    retransmit: { firstMs: need(p.retransmitTimeout, 'retransmit-timeout') * 1000, tries: need(p.retransmitTries, 'retransmit-tries') },
    start: need(p.start, 'start'),
    replayWindow: p.replayWindow,
    inline: p.inline,
  };
}

const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);
const hexBytes = (s: string): Uint8Array => Uint8Array.from(s.match(/../g) ?? [], (b) => parseInt(b, 16));

/** ID payload type and data per identity type (RFC 7296 §3.5): addresses as 4 or 16 bytes, names as text. */
const ID_DATA: Readonly<Record<IdType, [number, (v: string) => Uint8Array]>> = {
  ipv4: [ID_TYPE.ID_IPV4_ADDR, addrBytes],
  ipv6: [ID_TYPE.ID_IPV6_ADDR, addrBytes],
  fqdn: [ID_TYPE.ID_FQDN, utf8],
  'user-fqdn': [ID_TYPE.ID_RFC822_ADDR, utf8],
  keyid: [ID_TYPE.ID_KEY_ID, hexBytes],
};

export function idSpec(id: Identity): IdSpec {
  const [type, data] = ID_DATA[id.type];
  return { type, data: data(id.value) };
}

/**
 * Every local-net × remote-net pair of one address family: a pair across families can match no
 * packet (the parser makes sure each family has a partner on the other side).
 */
function selectors(localNet: readonly Prefix[], remoteNet: readonly Prefix[]): Selector[] {
  const out: Selector[] = [];
  for (const l of localNet) for (const r of remoteNet) if (l.addr.length === r.addr.length) out.push(subnetSelector(l, r));
  return out;
}

function toManual(p: PeerConfig, reqid: number, local: Endpoint, remote: Endpoint): ManualPeer {
  return {
    peer: p.name,
    reqid,
    suite: p.esp![0]!.suite,
    mode: p.mode,
    esn: p.esn ?? true,
    replayWindow: p.replayWindow,
    spiIn: p.spiIn!,
    spiOut: p.spiOut!,
    keyIn: p.keyIn!,
    keyOut: p.keyOut!,
    local,
    remote,
    selectors: selectors(p.localNet!, p.remoteNet!),
    ...limits(p),
  };
}

/**
 * The listening endpoint a manual SA's ESP-in-UDP leaves from: the first of the peer's address
 * family that is not the plain IKE port, where no ESP may go (RFC 3948 §2).
 */
function espEndpoint(local: LocalConfig, remote: Endpoint): Endpoint | undefined {
  return local.listen.find((e) => familyOf(e.addr) === familyOf(remote.addr) && e.port !== IKE_PORT);
}

/**
 * Hard limits from the file; the soft limit (log "due for rekey") at 90% of each. Manual SAs
 * cannot be rekeyed, so the soft limit is the operator's warning before traffic stops.
 */
function limits(p: PeerConfig): { soft: Limits; hard: Limits } {
  const hard: Limits = {
    ...(p.lifetime !== undefined && { seconds: p.lifetime }),
    ...(p.lifeBytes !== undefined && { bytes: p.lifeBytes }),
    ...(p.lifePackets !== undefined && { packets: p.lifePackets }),
  };
  const soft: Limits = Object.fromEntries(Object.entries(hard).map(([k, v]) => [k, Math.floor(v * 0.9)]));
  return { soft, hard };
}
