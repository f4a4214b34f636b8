/**
 * The pieces the IKE benchmarks build on: many IKE connections between two keyline agents, each
 * its own peer (name, reqid, identities, /32 selectors), and agents started through the real
 * composition (startAgent → IkeEngine → UserspaceDriver) on the memory network or on UDP.
 *
 * Connection i of the initiator protects 198.51.100.(1 + i mod 254)/32 towards
 * 203.0.113.(1 + floor(i / 254))/32 and proves fqdn:i<i>.bench.example; the responder has the
 * mirror image, so every IKE_AUTH picks exactly one responder connection by its identity (as it
 * would for road warriors) and every child SA has selectors of its own. 254 × 254 pairs: enough
 * for 64,516 connections without leaving the two documentation /24s.
 */
import { startAgent, type Agent } from '../../src/agent.js';
import { nodeBackend } from '../../src/crypto/index.js';
import { MemoryTunnel } from '../../src/drivers/userspace/tun/tunnel.js';
import { ID_TYPE } from '../../src/ike/constants.js';
import type { IkeLimits } from '../../src/ike/engine.js';
import type { IkePeer } from '../../src/ike/peer.js';
import { parseEspProposals, parseIkeProposals } from '../../src/ike/proposals.js';
import { IKE_LIMITS, LIMITS } from '../../src/limits.js';
import { prefix, subnetSelector } from '../../src/sa/selector.js';
import type { Endpoint } from '../../src/sa/types.js';
import type { MemoryNetwork } from '../../src/transport/memory.js';
import type { Transport } from '../../src/transport/transport.js';
import { UdpTransport } from '../../src/transport/udp.js';
import { makeLogger } from '../../src/util/log.js';

/** The two proposals the bench measures, with the ESP proposal of the child SA IKE_AUTH makes. */
export const BENCH_SUITES = [
  { ike: 'aes256gcm16-prfsha256-x25519', esp: 'aes256gcm16', charonIke: 'aes256gcm16-prfsha256-curve25519', group: 'x25519' },
  { ike: 'aes128-sha256-modp2048', esp: 'aes128-sha256', charonIke: 'aes128-sha256-modp2048', group: 'modp2048' },
] as const;
export type BenchSuite = (typeof BENCH_SUITES)[number];
export type Group = BenchSuite['group'];

export const suiteOf = (ike: string): BenchSuite => {
  const s = BENCH_SUITES.find((x) => x.ike === ike);
  if (!s) throw new Error(`bench: unknown IKE proposal ${ike}`);
  return s;
};

export const PSK = new TextEncoder().encode('keyline bench pre-shared key, 32+');
export const RESPONDER_ID = 'responder.bench.example';
export const MAX_CONNECTIONS = 254 * 254;

const fqdn = (s: string) => ({ type: ID_TYPE.ID_FQDN, data: new TextEncoder().encode(s) });
const initiatorHost = (i: number) => `198.51.100.${1 + (i % 254)}/32`;
const responderHost = (i: number) => `203.0.113.${1 + Math.floor(i / 254)}/32`;

export interface PeerSet {
  readonly side: 'initiator' | 'responder';
  /** The other agent: where IKE_SA_INIT goes (initiator), or whose address the connections expect (responder). */
  readonly remote: Endpoint | undefined;
  readonly suite: BenchSuite;
  readonly count: number;
}

/**
 * `count` connections for one side. DPD is off (a long run would otherwise send liveness checks
 * to SAs it made early) and lifetimes are keyline's defaults, so nothing rekeys during a run.
 */
export function benchPeers(o: PeerSet): IkePeer[] {
  if (o.count > MAX_CONNECTIONS) throw new Error(`bench: at most ${MAX_CONNECTIONS} connections (${o.count} asked)`);
  const init = o.side === 'initiator';
  const ike = parseIkeProposals(o.suite.ike);
  const esp = parseEspProposals(o.suite.esp);
  return Array.from({ length: o.count }, (_, i) => {
    const [local, remote] = init ? [initiatorHost(i), responderHost(i)] : [responderHost(i), initiatorHost(i)];
    const me = fqdn(`i${i}.bench.example`);
    const them = fqdn(RESPONDER_ID);
    return {
      name: `c${i}`,
      reqid: i + 1,
      remote: o.remote,
      localId: init ? me : them,
      remoteId: init ? them : me,
      psk: PSK,
      ike,
      esp,
      mode: 'tunnel',
      selectors: [subnetSelector(prefix(local), prefix(remote))],
      ikeLifetime: 4 * 3600,
      childLifetime: 3600,
      rekeyMargin: 540,
      dpd: 0,
      // The bench decides when each connection starts (engine.initiate), with a bound in flight.
      start: 'wait',
      replayWindow: 64,
    } satisfies IkePeer;
  });
}

/**
 * The responder DoS limits, raised so that the bench measures handshakes rather than the
 * defences: no cookie round trip (threshold 16 half-open by default), room for every SA.
 */
export function benchLimits(sas: number): Partial<IkeLimits> {
  return { ikeSaMax: Math.max(IKE_LIMITS.ikeSaMax, sas + 64), halfOpenMax: Math.max(IKE_LIMITS.halfOpenMax, 4096), cookieThreshold: 1 << 30 };
}

export const LIMIT_NOTE = `IKE limits raised for the bench: ikeSaMax max(${IKE_LIMITS.ikeSaMax}, SAs+64), halfOpenMax 4096, cookieThreshold off (default ${IKE_LIMITS.cookieThreshold} half-open)`;

const original = { sadMax: LIMITS.sadMax, spdMax: LIMITS.spdMax };
let raised: string | undefined;

/**
 * The userspace driver's SAD and SPD caps (LIMITS.sadMax 16,384 ESP SAs = 8,192 child SAs;
 * LIMITS.spdMax 4,096 policies = 4,096 connections) cannot be set through AgentDeps; an agent
 * with more connections or child SAs needs them raised. The only way from outside src/ is to
 * raise the shared constants before the driver is built, which is what this does, in the bench
 * process only. Returns what it changed, for the output.
 */
export function raiseDriverCaps(connections: number): string | undefined {
  const caps = LIMITS as unknown as { sadMax: number; spdMax: number };
  const sad = Math.max(caps.sadMax, 2 * connections + 64);
  const spd = Math.max(caps.spdMax, connections + 64);
  if (sad === caps.sadMax && spd === caps.spdMax) return undefined;
  const note = `driver caps raised for the bench (not settable through AgentDeps): LIMITS.sadMax ${original.sadMax} -> ${sad}, LIMITS.spdMax ${original.spdMax} -> ${spd}`;
  caps.sadMax = sad;
  caps.spdMax = spd;
  raised = note;
  return note;
}

/** What raiseDriverCaps did in this process, if anything. */
export const driverCapsNote = (): string | undefined => raised;

const stubRoutes = { add: async () => {}, remove: async () => {}, clear: async () => {} };

export interface AgentOptions {
  readonly peers: readonly IkePeer[];
  readonly limits: Partial<IkeLimits>;
  /** Memory network (and our address on it) or UDP on this address, ephemeral port. */
  readonly net: { readonly memory: MemoryNetwork; readonly addr: string } | { readonly udp: string; readonly port?: number };
}

/**
 * One agent as `keyline run` composes it, with an in-memory tunnel instead of TUN and a log that
 * formats every line at level info (as a router would run) but writes them nowhere. It listens
 * on one port that is not 500 (4500, or an ephemeral one on UDP), i.e. NAT-T framing (non-ESP marker) from the first message,
 * which is what keyline does on 4500.
 */
export async function startBenchAgent(o: AgentOptions): Promise<Agent> {
  const memory = 'memory' in o.net ? o.net : undefined;
  const udp = 'udp' in o.net ? o.net : undefined;
  const listen: Endpoint = memory ? { addr: memory.addr, port: 4500 } : { addr: udp!.udp, port: udp!.port ?? 0 };
  const tun = new MemoryTunnel('bench0');
  return startAgent(
    { listen: [listen], tun: { name: tun.name, address: '', mtu: 1400 }, manual: [], ike: o.peers },
    {
      log: makeLogger('info', () => {}),
      backend: nodeBackend,
      openTunnel: async () => ({ tunnel: tun, routes: stubRoutes }),
      openTransport: async (at): Promise<Transport> => (memory ? memory.memory.attach(at) : UdpTransport.open(at)),
      ikeLimits: o.limits,
    },
  );
}

/** The port an agent listens on (its only transport). */
export const portOf = (a: Agent): number => a.transports[0]!.local.port;
