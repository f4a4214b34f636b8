/**
 * The other keyline of a two-process IKE bench: one agent in its own Node process (its own
 * heap, its own CPU time), driven by JSON lines. The bench bundle runs it as
 * `node dist/keyline-bench.js ike-child`; the tap test bundles this module (main(args)).
 *
 *   stdin:  {op:'start', role, suite, count, listen, remote?, childSas?} → {ev:'ready', port}
 *           (childSas: room for that many child SAs in the driver, when more than one per connection)
 *           {op:'pump', from, to, inFlight, timeoutMs?}        → {ev:'pumped', ok, failed, ms, cpuMs}
 *           {op:'mem'}                                         → {ev:'mem', heapUsed, external, rss} (after gc)
 *           {op:'stop'}                                        → {ev:'stopped'}, then exit
 *   stdout: one reply per request, in order, or {ev:'error', message}.
 *
 * The charon runs (charon-load.ts) start it inside a network namespace, as the responder or as the
 * initiator, with `ip netns exec`. stdin closing (the bench died) ends the child.
 */
import { createInterface } from 'node:readline';
import type { Agent } from '../../src/agent.js';
import type { Endpoint } from '../../src/sa/types.js';
import { benchLimits, benchPeers, raiseDriverCaps, startBenchAgent, suiteOf, portOf } from './ike-world.js';
import { pump } from './ike-pump.js';
import { settledMemory } from './ike.js';

export type ChildRequest =
  | { op: 'start'; role: 'initiator' | 'responder'; suite: string; count: number; listen: string; listenPort?: number; remote?: Endpoint; childSas?: number }
  | { op: 'pump'; from: number; to: number; inFlight: number; timeoutMs?: number }
  | { op: 'mem' }
  | { op: 'stop' };

export type ChildReply =
  | { ev: 'ready'; port: number; note?: string }
  | { ev: 'pumped'; ok: number; failed: number; ms: number; cpuMs: number }
  | { ev: 'mem'; heapUsed: number; external: number; rss: number }
  | { ev: 'stopped' }
  | { ev: 'error'; message: string };

const say = (o: ChildReply) => process.stdout.write(JSON.stringify(o) + '\n');

export async function main(_args: string[]): Promise<void> {
  let agent: Agent | undefined;
  const handle = async (r: ChildRequest): Promise<ChildReply> => {
    switch (r.op) {
      case 'start': {
        const note = raiseDriverCaps(Math.max(r.count, r.childSas ?? 0));
        const peers = benchPeers({ side: r.role, remote: r.remote, suite: suiteOf(r.suite), count: r.count });
        agent = await startBenchAgent({ peers, limits: benchLimits(r.count), net: { udp: r.listen, ...(r.listenPort !== undefined && { port: r.listenPort }) } });
        return { ev: 'ready', port: portOf(agent), ...(note && { note }) };
      }
      case 'pump':
        if (!agent) throw new Error('not started');
        return { ev: 'pumped', ...(await pump(agent, r.from, r.to, r.inFlight, r.timeoutMs)) };
      case 'mem': {
        const m = await settledMemory();
        return { ev: 'mem', heapUsed: m.heapUsed, external: m.external + m.arrayBuffers, rss: m.rss };
      }
      case 'stop':
        await agent?.stop();
        return { ev: 'stopped' };
    }
  };
  const rl = createInterface({ input: process.stdin });
  rl.on('close', () => process.exit(0));
  // One request at a time, in order.
  let chain = Promise.resolve();
  rl.on('line', (line) => {
    chain = chain.then(async () => {
      let req: ChildRequest;
      try {
        req = JSON.parse(line) as ChildRequest;
        say(await handle(req));
      } catch (e) {
        say({ ev: 'error', message: (e as Error).message });
        return;
      }
      if (req.op === 'stop') process.exit(0);
    });
  });
}
