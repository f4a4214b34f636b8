/**
 * Inline keying between two in-process agents (test/ike/agents.ts): IKE parents (inline=on on
 * both connections) or static parents (no IKE at all), over the memory network with a fake
 * clock and a fake wall clock.
 */
import { ikePair, startSide, timeControls, type Pair, type PairOptions, type Side } from '../ike/agents.js';
import { ADDR_A, ADDR_B, NET_A, NET_B } from '../ike/agents.js';
import type { InlineOptions, ParentSpec } from '../../src/inline/engine.js';
import type { ScopeName } from '../../src/inline/header.js';
import { pskRoot } from '../../src/inline/keys.js';
import { nodeBackend } from '../../src/crypto/index.js';
import { prefix, subnetSelector } from '../../src/sa/selector.js';
import { MemoryNetwork } from '../../src/transport/memory.js';
import { FakeClock } from '../../src/util/clock.js';
import type { Fault } from '../../src/transport/memory.js';

export const STATIC_PSK = new TextEncoder().encode('a static secret of 32 octets....');

export interface InlineSpecOptions {
  scope?: ScopeName;
  lifetime?: number;
  idle?: number;
  maxSpawn?: number;
  pathMtu?: number;
  static?: boolean;
}

export function parentSpec(side: 'a' | 'b', o: InlineSpecOptions = {}): ParentSpec {
  const a = side === 'a';
  const [local, remote] = a ? [ADDR_A, ADDR_B] : [ADDR_B, ADDR_A];
  return {
    reqid: 1,
    peer: a ? 'gw-b' : 'gw-a',
    scope: o.scope ?? 'host-pair',
    suite: 'aes256gcm16',
    lifetime: o.lifetime ?? 600,
    idle: o.idle ?? 120,
    maxSpawn: o.maxSpawn ?? 10_000,
    selectors: [subnetSelector(prefix(a ? NET_A : NET_B), prefix(a ? NET_B : NET_A))],
    replayWindow: 64,
    pathMtu: o.pathMtu ?? 1500,
    ...(o.static && {
      static: { keying: 'psk-static', root: pskRoot(nodeBackend.prf('sha256'), STATIC_PSK), local: { addr: local, port: 4500 }, remote: { addr: remote, port: 4500 }, skew: 120 },
    }),
  };
}

/** A wall clock in seconds that follows the fake clock from a fixed date. */
export const wallFor = (clock: FakeClock, start = 1_790_000_000) => () => start + Math.floor(clock.now() / 1000);

export interface InlinePairOptions extends InlineSpecOptions {
  fault?: Fault;
  seed?: number;
  opts?: Partial<InlineOptions>;
  /** B's spec differs (e.g. another scope). */
  b?: InlineSpecOptions;
}

/** Two agents with IKE parents: inline=on on both IKE connections. */
export async function inlineIkePair(o: InlinePairOptions = {}): Promise<Pair> {
  const po: PairOptions = {
    a: { inline: true },
    b: { inline: true },
    inline: {
      a: { parents: [parentSpec('a', o)], ...(o.opts && { opts: o.opts }) },
      b: { parents: [parentSpec('b', { ...o, ...o.b })], ...(o.opts && { opts: o.opts }) },
    },
    ...(o.fault && { fault: o.fault }),
    ...(o.seed !== undefined && { seed: o.seed }),
  };
  return ikePair(po);
}

export interface StaticPair {
  net: MemoryNetwork;
  clock: FakeClock;
  a: Side;
  b: Side;
  settle(): Promise<void>;
  advance(ms: number, step?: number): Promise<void>;
  stop(): Promise<void>;
}

/** Two agents with a psk-static parent and no IKE connection at all. */
export async function staticPair(o: InlinePairOptions = {}): Promise<StaticPair> {
  const net = new MemoryNetwork();
  if (o.fault) net.fault = o.fault;
  const clock = new FakeClock();
  const wallSeconds = wallFor(clock);
  const opts = { wallSeconds, ...o.opts };
  const seed = o.seed ?? 1;
  const b = await startSide(net, clock, 'b', undefined, seed + 1, undefined, undefined, { parents: [parentSpec('b', { ...o, ...o.b, static: true })], opts });
  const a = await startSide(net, clock, 'a', undefined, seed, undefined, undefined, { parents: [parentSpec('a', { ...o, static: true })], opts });
  return {
    net,
    clock,
    a,
    b,
    ...timeControls(net, clock),
    stop: async () => {
      await Promise.all([a.agent.stop(), b.agent.stop()]);
    },
  };
}

/** The inline engine of a side. */
export const inl = (s: Side) => {
  const e = (s.agent.driver as { inline?: import('../../src/inline/engine.js').InlineEngine }).inline;
  if (!e) throw new Error('inline keying is not on');
  return e;
};
