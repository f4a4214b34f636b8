/**
 * The keyline side of the tun-bridge root test, run as its own Node process inside the test's
 * namespace (bundled by ns.ts bundleMain; the way a real agent will run under `ip netns exec`).
 * It opens the bridge and routes through openTun and speaks JSON lines:
 *   stdout: {ev:'ready', socatPid, localPort, bridgePort} | {ev:'packet', hex} | {ev:'stats', …}
 *           | {ev:'error', code, message} | {ev:'closed'}
 *   stdin:  {op:'write', hex} | {op:'stats'} | {op:'close'}
 * stdin closing (the test process died) closes the bridge too, so socat never outlives us.
 */
import { createInterface } from 'node:readline';
import { openTun } from '../../src/drivers/userspace/tun/open.js';
import { makeLogger } from '../../src/util/log.js';

export interface ChildConfig {
  name: string;
  address: string;
  mtu?: number;
  routes: string[];
}

const say = (o: object) => process.stdout.write(JSON.stringify(o) + '\n');

export async function main(args: string[]): Promise<void> {
  const cfg = JSON.parse(args[0] ?? '{}') as ChildConfig;
  const log = makeLogger('debug', (l) => process.stderr.write(`child: ${l}\n`));
  let opened: Awaited<ReturnType<typeof openTun>>;
  try {
    opened = await openTun(cfg, log);
    for (const r of cfg.routes) await opened.routes.add(r);
  } catch (e) {
    say({ ev: 'error', code: (e as { code?: string }).code, message: (e as Error).message });
    process.exit(1);
  }
  const { tunnel, routes } = opened;
  let closing: Promise<void> | undefined;
  const close = () =>
    (closing ??= (async () => {
      await routes.clear();
      await tunnel.close();
      say({ ev: 'closed' });
      process.exit(0);
    })());
  tunnel.onPacket((p) => say({ ev: 'packet', hex: Buffer.from(p).toString('hex') }));
  process.on('SIGTERM', () => void close());
  const rl = createInterface({ input: process.stdin });
  rl.on('close', () => void close());
  rl.on('line', (line) => {
    const m = JSON.parse(line) as { op: string; hex?: string };
    if (m.op === 'write') tunnel.write(Buffer.from(m.hex ?? '', 'hex'));
    else if (m.op === 'stats') say({ ev: 'stats', counters: tunnel.counters, socatPid: tunnel.pid, routes: routes.entries() });
    else if (m.op === 'close') void close();
  });
  say({ ev: 'ready', socatPid: tunnel.pid, localPort: tunnel.localPort, bridgePort: tunnel.bridgePort });
}
