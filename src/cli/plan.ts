import type { AgentPlan } from '../agent.js';
import type { Config, Identity, IdType, PeerConfig, LocalConfig } from '../config/types.js';
import { ID_TYPE, IKE_PORT } from '../ike/constants.js';
import type { IdSpec, IkePeer } from '../ike/peer.js';
import type { ManualPeer } from '../sa/manual.js';
import type { Endpoint, Limits, Prefix, Selector } from '../sa/types.js';
import { addrBytes, prefixText, subnetSelector } from '../sa/selector.js';
import { KeylineError } from '../wire/errors.js';
import { familyOf } from '../transport/transport.js';

/**
 * From a parsed key file to what the agent does. Per-peer rules (keying available, the keys a
 * method requires, their lengths) are checked by the parser with file:line:column; the checks
 * here are about the local entry as a whole and how it fits the peers.
 */
export function planFromConfig(c: Config): AgentPlan {
  const errors: string[] = [];
  if (c.local.driver !== 'userspace') errors.push(`${c.file}: local: driver=${c.local.driver} is not available in this build (use driver=userspace)`);
  if (!c.local.tunAddr) {
    errors.push(`${c.file}: local: tun-addr is required for driver=userspace (the TUN interface's own address, e.g. 198.51.100.1/24)`);
  }
  const manual: ManualPeer[] = [];
  // reqids count over all peers, so that manual and IKE peers never share one.
  c.peers.forEach((p, i) => {
    if (p.keying === 'manual') {
      const remote = p.addr as Endpoint;
      const local = espEndpoint(c.local, remote);
      if (!local) errors.push(`${c.file}: peer ${p.name}: listen has no ESP-in-UDP endpoint for IPv${familyOf(remote.addr)} (a port other than ${IKE_PORT})`);
      // Policies come from the nets; without them a transport-mode peer would protect nothing.
      else if (!p.localNet || !p.remoteNet) errors.push(`${c.file}: peer ${p.name}: this build needs local-net and remote-net for keying=manual, also in mode=transport`);
      else manual.push(toManual(p, i + 1, local, remote));
    } else if (p.keying === 'ike') {
      const fam = p.addr === 'any' ? undefined : familyOf(p.addr.addr);
      if (fam && !c.local.listen.some((e) => familyOf(e.addr) === fam)) errors.push(`${c.file}: peer ${p.name}: listen has no IPv${fam} endpoint to reach it from`);
    } else errors.push(`${c.file}: peer ${p.name}: keying=${p.keying} is not available in this build`);
  });
  if (errors.length) throw new KeylineError('CONFIG', errors.join('\n'));
  return {
    listen: c.local.listen,
    tun: { name: c.local.tun, address: c.local.tunAddr ? prefixText(c.local.tunAddr) : '', mtu: c.local.mtu },
    manual,
    ike: ikePeersFromConfig(c),
  };
}

/** The keying=ike peers as the IKE engine takes them; reqid is the peer's position in the file, from 1. */
export function ikePeersFromConfig(c: Config): IkePeer[] {
  const out: IkePeer[] = [];
  c.peers.forEach((p, i) => {
    if (p.keying === 'ike') out.push(toIke(p, i + 1, c.local));
  });
  return out;
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
    start: need(p.start, 'start'),
    replayWindow: p.replayWindow,
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
