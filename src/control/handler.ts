import type { Agent } from '../agent.js';
import { VERSION } from '../version.js';
import type { Request } from './protocol.js';
import type { Reloader } from './reload.js';
import { memoryStatus } from './status.js';
import type { ControlServer } from './server.js';

/** The control commands (protocol.ts) on a running agent. */
export function controlHandler(agent: Agent, reloader: Pick<Reloader, 'reload'>, server?: Pick<ControlServer, 'drops'>) {
  return async (req: Request): Promise<unknown> => {
    switch (req.cmd) {
      case 'ping':
        return { version: VERSION, pid: process.pid };
      case 'show': {
        await agent.driver.refresh?.(); // the kernel driver reads its counters from the kernel
        const s = { ...agent.status(req.peer), memory: memoryStatus() };
        return server ? { ...s, drops: { ...s.drops, control: { ...server.drops.byReason } } } : s;
      }
      case 'up':
        return agent.up(req.peer);
      case 'down':
        return agent.down(req.peer);
      case 'reload':
        return reloader.reload();
    }
  };
}
