import type { AgentPlan } from '../agent.js';
import type { Config, PeerConfig, LocalConfig } from '../config/types.js';
import type { ManualPeer } from '../sa/manual.js';
import type { Endpoint, Limits, Selector } from '../sa/types.js';
import { prefixText, subnetSelector } from '../sa/selector.js';
import { KeylineError } from '../wire/errors.js';
import { familyOf } from '../transport/transport.js';

/**
 * From a parsed key file to what the agent does. Checks here are the ones that need more than
 * one key at a time (which keying methods this build has, which keys a method requires).
 */
export function planFromConfig(c: Config): AgentPlan {
  const errors: string[] = [];
  // Per-peer rules (keying available, manual keys present and of the right length) are checked
  // by the parser with file:line:column; these two are about the local entry as a whole.
  if (c.local.driver !== 'userspace') errors.push(`${c.file}: local: driver=${c.local.driver} is not available in this build (use driver=userspace)`);
  if (!c.local.tunAddr) {
    errors.push(`${c.file}: local: tun-addr is required for driver=userspace (the TUN interface's own address, e.g. 198.51.100.1/24)`);
  }
  if (errors.length) throw new KeylineError('CONFIG', errors.join('\n'));
  return {
    listen: c.local.listen,
    tun: { name: c.local.tun, address: c.local.tunAddr ? prefixText(c.local.tunAddr) : '', mtu: c.local.mtu },
    manual: c.peers.map((p, i) => toManual(p, i + 1, c.local)),
  };
}

function toManual(p: PeerConfig, reqid: number, local: LocalConfig): ManualPeer {
  const remote = p.addr as Endpoint;
  const selectors: Selector[] = [];
  for (const l of p.localNet!) for (const r of p.remoteNet!) selectors.push(subnetSelector(l, r));
  return {
    peer: p.name,
    reqid,
    suite: p.esp!,
    mode: p.mode,
    esn: p.esn,
    replayWindow: p.replayWindow,
    spiIn: p.spiIn!,
    spiOut: p.spiOut!,
    keyIn: p.keyIn!,
    keyOut: p.keyOut!,
    local: localFor(local, remote),
    remote,
    selectors,
    ...limits(p),
  };
}

/** The listening endpoint an SA's packets leave from: the first of the peer's address family. */
function localFor(local: LocalConfig, remote: Endpoint): Endpoint {
  return local.listen.find((e) => familyOf(e.addr) === familyOf(remote.addr)) ?? local.listen[0]!;
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
