/**
 * Agents started from key-file text, as `keyline run` starts them (parseConfig → planFromConfig →
 * startAgent, a reloader over the same text), joined by the memory network with one fake clock.
 * Addresses: node n is 192.0.2.n. Networks: A 198.51.100.0/24; B 203.0.113.0/26 (IKE with A)
 * and 203.0.113.64/26 (manual keys with A); C 203.0.113.128/25.
 */
import { startAgent, type Agent } from '../../src/agent.js';
import { planFromConfig } from '../../src/cli/plan.js';
import { parseConfig } from '../../src/config/index.js';
import type { InlineStatus } from '../../src/control/status.js';
import { makeReloader, type Reloader } from '../../src/control/reload.js';
import { nodeBackend } from '../../src/crypto/index.js';
import { MemoryTunnel } from '../../src/drivers/userspace/tun/tunnel.js';
import { icmpEcho } from '../../src/sa/icmp.js';
import { MemoryNetwork } from '../../src/transport/memory.js';
import { FakeClock } from '../../src/util/clock.js';
import { makeLogger } from '../../src/util/log.js';
import { rng } from '../helpers/rng.js';
import { settle } from '../ike/agents.js';

export const PSK_AB = 'hex:' + '11'.repeat(32);
export const PSK_AC = 'hex:' + '22'.repeat(32);
export const KEY_AB = 'hex:' + 'a1'.repeat(48);
export const KEY_BA = 'hex:' + 'b2'.repeat(48);

export const ADDR = { a: '192.0.2.1', b: '192.0.2.2', c: '192.0.2.3' } as const;
export type Name = keyof typeof ADDR;
/** A host behind each side that pings go to (B has two: IKE and manual). */
export const HOST = { a: '198.51.100.1', b: '203.0.113.1', bm: '203.0.113.65', c: '203.0.113.129' } as const;

const localLine = (n: Name) => `local id=fqdn:${n}.example listen=${ADDR[n]}:500,${ADDR[n]}:4500 tun=${n}0 tun-addr=${n === 'a' ? '198.51.100.1/24' : n === 'b' ? '203.0.113.1/24' : '203.0.113.129/25'}`;

/** Key-file entries by name, so tests can list, drop, reorder or edit them. */
export const ENTRIES = {
  a: {
    local: localLine('a'),
    'gw-b': `peer gw-b addr=${ADDR.b} id=fqdn:b.example psk=${PSK_AB}\n    local-net=198.51.100.0/24 remote-net=203.0.113.0/26`,
    'gw-c': `peer gw-c addr=${ADDR.c} id=fqdn:c.example psk=${PSK_AC}\n    local-net=198.51.100.0/24 remote-net=203.0.113.128/25`,
    'm-b': `peer m-b addr=${ADDR.b}:4500 keying=manual esp=aes128-sha256 local-net=198.51.100.0/24 remote-net=203.0.113.64/26\n    spi-in=0x1001 spi-out=0x2001 key-in=${KEY_BA} key-out=${KEY_AB}`,
  },
  b: {
    local: localLine('b'),
    'gw-a': `peer gw-a addr=${ADDR.a} id=fqdn:a.example psk=${PSK_AB} start=wait\n    local-net=203.0.113.0/26 remote-net=198.51.100.0/24`,
    'm-a': `peer m-a addr=${ADDR.a}:4500 keying=manual esp=aes128-sha256 local-net=203.0.113.64/26 remote-net=198.51.100.0/24\n    spi-in=0x2001 spi-out=0x1001 key-in=${KEY_AB} key-out=${KEY_BA}`,
  },
  c: {
    local: localLine('c'),
    'gw-a': `peer gw-a addr=${ADDR.a} id=fqdn:a.example psk=${PSK_AC} start=wait\n    local-net=203.0.113.128/25 remote-net=198.51.100.0/24`,
  },
} as const;

export const keys = (...lines: string[]): string => lines.join('\n') + '\n';

export interface Node {
  readonly name: Name;
  readonly agent: Agent;
  readonly tun: MemoryTunnel;
  readonly log: string[];
  readonly reloader: Reloader;
  /** What the key file says now; a reload reads it. */
  text: string;
}

export interface World {
  readonly net: MemoryNetwork;
  readonly clock: FakeClock;
  readonly nodes: Partial<Record<Name, Node>>;
  node(n: Name): Node;
  start(n: Name, text: string, o?: { inline?: (peer: string) => InlineStatus | undefined }): Promise<Node>;
  settle(): Promise<void>;
  advance(ms: number, step?: number): Promise<void>;
  /** An echo request from `from`'s host to `to`; true if it came out of the destination's tunnel. */
  ping(from: Name, to: keyof typeof HOST): Promise<boolean>;
  stop(): Promise<void>;
}

const stubRoutes = { add: async () => {}, remove: async () => {}, clear: async () => {} };

export function world(seed = 1): World {
  const net = new MemoryNetwork();
  const clock = new FakeClock();
  const nodes: Partial<Record<Name, Node>> = {};
  let seq = 0;
  const w: World = {
    net,
    clock,
    nodes,
    node(n) {
      const x = nodes[n];
      if (!x) throw new Error(`node ${n} not started`);
      return x;
    },
    async start(n, text, o = {}) {
      const file = `${n}.keys`;
      const config = parseConfig(text, { file });
      const tun = new MemoryTunnel(`${n}0`);
      const log: string[] = [];
      const r = rng(seed * 100 + ++seq);
      const agent = await startAgent(planFromConfig(config), {
        log: makeLogger('debug', (l) => log.push(l)),
        backend: nodeBackend,
        clock,
        random: (len) => Uint8Array.from({ length: len }, () => Math.floor(r() * 256)),
        rand01: r,
        openTunnel: async () => ({ tunnel: tun, routes: stubRoutes }),
        openTransport: async (at) => net.attach(at),
        ...(o.inline && { inlineStatus: o.inline }),
      });
      const node: Node = {
        name: n,
        agent,
        tun,
        log,
        text,
        reloader: undefined as unknown as Reloader,
      };
      (node as { reloader: Reloader }).reloader = makeReloader({ path: file, load: (p) => parseConfig(node.text, { file: p }), initial: config, agent });
      nodes[n] = node;
      await settle(net);
      return node;
    },
    settle: () => settle(net),
    async advance(ms, step = 1000) {
      for (let t = 0; t < ms; t += step) {
        clock.advance(Math.min(step, ms - t));
        await settle(net);
      }
    },
    async ping(from, to) {
      const src = HOST[from];
      const dst = HOST[to];
      const rx = w.node(to === 'bm' ? 'b' : to);
      const before = rx.tun.written.length;
      w.node(from).tun.inject(icmpEcho(src, dst, 7, before));
      await settle(net);
      return rx.tun.written.length === before + 1;
    },
    async stop() {
      await Promise.all(Object.values(nodes).map((x) => x.agent.stop()));
    },
  };
  return w;
}

/** Our inbound SPIs of a node's child SAs, per peer name. */
export function childSpis(n: Node): Record<string, number[]> {
  const out: Record<string, number[]> = {};
  for (const sa of n.agent.ike.sas()) (out[sa.peer.name] ??= []).push(...sa.children.map((c) => c.spiIn));
  return out;
}

export const ikeStates = (n: Node, peer: string): string[] => n.agent.ike.sas().filter((s) => s.peer.name === peer).map((s) => s.fsm.state);
