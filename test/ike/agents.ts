/**
 * Two keyline agents in one process, joined by the memory network, with one fake clock and
 * seeded randomness: the real composition (startAgent → IKE engine → userspace driver) without
 * sockets, TUN or time. A is 192.0.2.1 protecting 198.51.100.0/24, B is 192.0.2.2 protecting
 * 203.0.113.0/24.
 */
import { startAgent, type Agent, type AgentPlan } from '../../src/agent.js';
import { nodeBackend } from '../../src/crypto/index.js';
import { MemoryTunnel } from '../../src/drivers/userspace/tun/tunnel.js';
import type { EngineEvent, IkeLimits } from '../../src/ike/engine.js';
import { ID_TYPE } from '../../src/ike/constants.js';
import type { IkePeer } from '../../src/ike/peer.js';
import { parseEspProposals, parseIkeProposals } from '../../src/ike/proposals.js';
import { icmpEcho } from '../../src/sa/icmp.js';
import { prefix, subnetSelector } from '../../src/sa/selector.js';
import type { Endpoint } from '../../src/sa/types.js';
import { MemoryNetwork, type Fault } from '../../src/transport/memory.js';
import { FakeClock } from '../../src/util/clock.js';
import { makeLogger } from '../../src/util/log.js';
import { rng } from '../helpers/rng.js';
import type { InlineOptions, ParentSpec } from '../../src/inline/engine.js';

export const ADDR_A = '192.0.2.1';
export const ADDR_B = '192.0.2.2';
export const NET_A = '198.51.100.0/24';
export const NET_B = '203.0.113.0/24';
export const HOST_A = '198.51.100.1';
export const HOST_B = '203.0.113.1';
export const PSK = new TextEncoder().encode('a pre-shared key of some length');

const fqdn = (s: string) => ({ type: ID_TYPE.ID_FQDN, data: new TextEncoder().encode(s) });

export function peerConfig(side: 'a' | 'b', o: Partial<IkePeer> = {}): IkePeer {
  const a = side === 'a';
  return {
    name: a ? 'gw-b' : 'gw-a',
    reqid: 1,
    remote: { addr: a ? ADDR_B : ADDR_A, port: 4500 },
    localId: fqdn(a ? 'a.example' : 'b.example'),
    remoteId: fqdn(a ? 'b.example' : 'a.example'),
    psk: PSK,
    ike: parseIkeProposals('aes256gcm16-prfsha256-x25519'),
    esp: parseEspProposals('aes256gcm16'),
    mode: 'tunnel',
    selectors: [subnetSelector(prefix(a ? NET_A : NET_B), prefix(a ? NET_B : NET_A))],
    ikeLifetime: 4 * 3600,
    childLifetime: 3600,
    rekeyMargin: 540,
    dpd: 30,
    start: a ? 'initiate' : 'wait',
    replayWindow: 64,
    ...o,
  };
}

export interface Side {
  agent: Agent;
  tun: MemoryTunnel;
  events: EngineEvent[];
  log: string[];
}

export interface Pair {
  net: MemoryNetwork;
  clock: FakeClock;
  a: Side;
  b: Side;
  /** Let every datagram and every pending promise run, until nothing moves. */
  settle(): Promise<void>;
  /** Advance the fake clock in steps, settling after each. */
  advance(ms: number, step?: number): Promise<void>;
  /** A ping from A's subnet to B's is delivered at B (and the reverse); counts delivered. */
  ping(from?: 'a' | 'b'): Promise<boolean>;
  stop(): Promise<void>;
}

export interface PairOptions {
  a?: Partial<IkePeer>;
  b?: Partial<IkePeer>;
  fault?: Fault;
  seed?: number;
  /** Start B (the responder) too; false leaves it down, to be started with startB(). */
  listen?: { a?: Endpoint[]; b?: Endpoint[] };
  limits?: Partial<IkeLimits>;
  inline?: { a?: SideInline; b?: SideInline };
}

const stubRoutes = { add: async () => {}, remove: async () => {}, clear: async () => {} };

/** Inline keying for a side: its parents, and engine options (caps, wall clock). */
export interface SideInline {
  parents: ParentSpec[];
  opts?: Partial<InlineOptions>;
}

export async function startSide(
  net: MemoryNetwork,
  clock: FakeClock,
  side: 'a' | 'b',
  peer: IkePeer | undefined,
  seed: number,
  listen?: Endpoint[],
  limits?: Partial<IkeLimits>,
  inline?: SideInline,
): Promise<Side> {
  const addr = side === 'a' ? ADDR_A : ADDR_B;
  const tun = new MemoryTunnel(`${side}0`);
  const log: string[] = [];
  const plan: AgentPlan = {
    listen: listen ?? [
      { addr, port: 500 },
      { addr, port: 4500 },
    ],
    tun: { name: tun.name, address: '', mtu: 1400 },
    manual: [],
    ike: peer ? [peer] : [],
    ...(inline && { inline: inline.parents }),
  };
  const r = rng(seed);
  const events: EngineEvent[] = [];
  const agent = await startAgent(plan, {
    log: makeLogger('debug', (l) => log.push(l)),
    backend: nodeBackend,
    clock,
    random: (n) => Uint8Array.from({ length: n }, () => Math.floor(r() * 256)),
    rand01: r,
    openTunnel: async () => ({ tunnel: tun, routes: stubRoutes }),
    openTransport: async (at) => net.attach(at),
    onIkeEvent: (e) => events.push(e),
    ...(limits && { ikeLimits: limits }),
    ...(inline?.opts && { inline: inline.opts }),
  });
  return { agent, tun, events, log };
}

export async function ikePair(o: PairOptions = {}): Promise<Pair> {
  const net = new MemoryNetwork();
  if (o.fault) net.fault = o.fault;
  const clock = new FakeClock();
  const seed = o.seed ?? 1;
  // B first, so A's first IKE_SA_INIT finds it listening.
  const b = await startSide(net, clock, 'b', peerConfig('b', o.b), seed + 1, o.listen?.b, o.limits, o.inline?.b);
  const a = await startSide(net, clock, 'a', peerConfig('a', o.a), seed, o.listen?.a, undefined, o.inline?.a);
  const pair: Pair = {
    net,
    clock,
    a,
    b,
    ...timeControls(net, clock),
    async ping(from = 'a') {
      const [src, dst, tx, rx] = from === 'a' ? [HOST_A, HOST_B, a, b] : [HOST_B, HOST_A, b, a];
      const before = rx.tun.written.length;
      tx.tun.inject(icmpEcho(src, dst, 7, before));
      await settle(net);
      return rx.tun.written.length === before + 1;
    },
    async stop() {
      await Promise.all([a.agent.stop(), b.agent.stop()]);
    },
  };
  await pair.settle();
  return pair;
}

/** settle() and advance() of a pair of agents on one network and one fake clock. */
export function timeControls(net: MemoryNetwork, clock: FakeClock): Pick<Pair, 'settle' | 'advance'> {
  return {
    settle: () => settle(net),
    async advance(ms, step = 1000) {
      for (let t = 0; t < ms; t += step) {
        clock.advance(Math.min(step, ms - t));
        await settle(net);
      }
    },
  };
}

/** Datagrams and promise chains (driver calls are async) until a few rounds in a row are quiet. */
export async function settle(net: MemoryNetwork): Promise<void> {
  let quiet = 0;
  for (let i = 0; i < 200 && quiet < 3; i++) {
    const before = net.delivered;
    await net.settle();
    await new Promise((r) => setImmediate(r));
    quiet = net.delivered === before ? quiet + 1 : 0;
  }
}

export const states = (s: Side): string[] => s.agent.ike.sas().map((x) => x.fsm.state);
export const childCount = (s: Side): number => s.agent.ike.sas().reduce((n, x) => n + x.children.length, 0);
export const messages = (s: Side, dir: 'in' | 'out') => s.events.filter((e): e is Extract<EngineEvent, { type: 'message' }> => e.type === 'message' && e.dir === dir);
