/**
 * A UDP socket inside a network namespace for the interop tests, run as its own Node process
 * (bundled by ns.ts bundleMain, started with `ip netns exec`): Node cannot switch namespaces, so
 * the test process keeps every IKE computation and assertion, and this child only owns the
 * sockets, so that the datagrams really leave from namespace A's address. JSON lines:
 *   stdout: {ev:'ready'} | {ev:'recv', port, from, fromPort, hex} | {ev:'error', message}
 *   stdin:  {op:'send', port, to, toPort, hex}
 * `port` is our local port (one socket per port in ChildConfig.ports). stdin closing (the test
 * process died) ends the child.
 */
import { createSocket, type Socket } from 'node:dgram';
import { createInterface } from 'node:readline';

export interface ChildConfig {
  addr: string;
  ports: number[];
}

const say = (o: object) => process.stdout.write(JSON.stringify(o) + '\n');

export async function main(args: string[]): Promise<void> {
  const cfg = JSON.parse(args[0] ?? '{}') as ChildConfig;
  const sockets = new Map<number, Socket>();
  try {
    for (const port of cfg.ports) {
      const s = createSocket('udp4');
      await new Promise<void>((resolve, reject) => {
        s.once('error', reject);
        s.bind(port, cfg.addr, () => resolve());
      });
      s.on('message', (msg, rinfo) => say({ ev: 'recv', port, from: rinfo.address, fromPort: rinfo.port, hex: msg.toString('hex') }));
      s.on('error', (e) => say({ ev: 'error', message: `port ${port}: ${e.message}` }));
      sockets.set(port, s);
    }
  } catch (e) {
    say({ ev: 'error', message: (e as Error).message });
    process.exit(1);
  }
  const rl = createInterface({ input: process.stdin });
  rl.on('close', () => process.exit(0));
  rl.on('line', (line) => {
    const m = JSON.parse(line) as { op: string; port: number; to: string; toPort: number; hex: string };
    const s = sockets.get(m.port);
    if (m.op !== 'send' || !s) return say({ ev: 'error', message: `bad request ${line}` });
    s.send(Buffer.from(m.hex, 'hex'), m.toPort, m.to, (e) => e && say({ ev: 'error', message: e.message }));
  });
  say({ ev: 'ready' });
}
