/**
 * The other keyline of a two-process IKE bench: one agent in its own Node process (its own
 * heap, its own CPU time), driven by JSON lines. The bench bundle runs it as
 * `node dist/keyline-bench.js ike-child`; the tap test bundles this module (main(args)), and the
 * charon run starts it inside a network namespace with `ip netns exec`.
 *
 *   stdin:  {op:'start', role, suite, count, listen, remote?}  → {ev:'ready', port}
 *           {op:'pump', from, to, inFlight}                    → {ev:'pumped', ok, failed, ms, cpuMs}
 *           {op:'wait', n, timeoutMs}                          → {ev:'reached', sas, ms, cpuMs}
 *           {op:'stop'}                                        → {ev:'stopped'}, then exit
 *   stdout: one reply per request, in order, or {ev:'error', message}.
 *
 * 'wait' is for a responder: it answers when n child SAs are up in all, with the time and CPU from
 * the first IKE message received after the request to the n-th child SA. stdin closing (the bench died) ends the child.
 */
import { createInterface } from 'node:readline';
import type { Agent } from '../../src/agent.js';
import type { Endpoint } from '../../src/sa/types.js';
import { benchLimits, benchPeers, raiseDriverCaps, startBenchAgent, suiteOf, portOf } from './ike-world.js';
import { pump } from './ike-pump.js';

export type ChildRequest =
  | { op: 'start'; role: 'initiator' | 'responder'; suite: string; count: number; listen: string; listenPort?: number; remote?: Endpoint }
  | { op: 'pump'; from: number; to: number; inFlight: number }
  | { op: 'wait'; n: number; timeoutMs: number }
  | { op: 'stop' };

export type ChildReply =
  | { ev: 'ready'; port: number; note?: string }
  | { ev: 'pumped'; ok: number; failed: number; ms: number; cpuMs: number }
  | { ev: 'reached'; sas: number; ms: number; cpuMs: number }
  | { ev: 'stopped' }
  | { ev: 'error'; message: string };

const say = (o: ChildReply) => process.stdout.write(JSON.stringify(o) + '\n');
const cpuNow = () => {
  const c = process.cpuUsage();
  return (c.user + c.system) / 1000;
};

export async function main(_args: string[]): Promise<void> {
  let agent: Agent | undefined;
  // Responder bookkeeping for 'wait': first IKE message in, child SAs up.
  const seen: { first?: { t: number; cpu: number } | undefined } = {};
  let up = 0;
  let waiter: (() => void) | undefined;
  const handle = async (r: ChildRequest): Promise<ChildReply> => {
    switch (r.op) {
      case 'start': {
        const note = raiseDriverCaps(r.count);
        const peers = benchPeers({ side: r.role, remote: r.remote, suite: suiteOf(r.suite), count: r.count });
        agent = await startBenchAgent({ peers, limits: benchLimits(r.count), net: { udp: r.listen, ...(r.listenPort !== undefined && { port: r.listenPort }) } });
        agent.ike.on((e) => {
          if (e.type === 'message' && e.dir === 'in' && !seen.first) seen.first = { t: performance.now(), cpu: cpuNow() };
          if (e.type === 'child-up' && !e.rekey) {
            up++;
            waiter?.();
          }
        });
        return { ev: 'ready', port: portOf(agent), ...(note && { note }) };
      }
      case 'pump':
        if (!agent) throw new Error('not started');
        return { ev: 'pumped', ...(await pump(agent, r.from, r.to, r.inFlight)) };
      case 'wait': {
        seen.first = undefined;
        const end = Date.now() + r.timeoutMs;
        while (up < r.n && Date.now() < end) await new Promise<void>((res) => ((waiter = res), setTimeout(res, 200)));
        waiter = undefined;
        const t = performance.now();
        const cpu = cpuNow();
        const f = seen.first as { t: number; cpu: number } | undefined; // set by the listener meanwhile
        return { ev: 'reached', sas: up, ms: f ? t - f.t : 0, cpuMs: f ? cpu - f.cpu : 0 };
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
