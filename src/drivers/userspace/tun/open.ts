import type { Logger } from '../../../util/log.js';
import { TunBridge, type TunBridgeOptions } from './bridge.js';
import { RouteTable } from './routes.js';

/**
 * The real inner side of the userspace driver: TUN device through socat, plus the route table
 * pointing the remote subnets at it. Shaped to be the agent's `openTunnel` dependency.
 */
export async function openTun(
  t: { readonly name: string; readonly address: string; readonly mtu?: number },
  log: Logger,
  extra: Pick<TunBridgeOptions, 'socatPath' | 'linkTimeoutMs' | 'pidFile'> = {},
): Promise<{ tunnel: TunBridge; routes: RouteTable }> {
  const tunnel = await TunBridge.open({ ifname: t.name, address: t.address, mtu: t.mtu, log: (l) => log.warn(l), ...extra });
  const routes = new RouteTable({ ifname: t.name, log: (l) => log.warn(l) });
  // A restarted socat brings a fresh device without the routes the old one had.
  tunnel.onRestart(() => routes.reapply());
  return { tunnel, routes };
}
