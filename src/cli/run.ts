import { startAgent, type AgentDeps } from '../agent.js';
import { pickBackend } from '../crypto/index.js';
import { loadConfig } from '../config/index.js';
import { openTun } from '../drivers/userspace/tun/open.js';
import { makeLogger, type Level } from '../util/log.js';
import { KeylineError } from '../wire/errors.js';
import { parseArgs } from './args.js';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { planFromConfig } from './plan.js';

const DEFAULT_CONFIG = '/etc/keyline/keys';
const LEVELS = ['error', 'warn', 'info', 'debug'];
/** Bounded wait for a clean shutdown; procd sends SIGKILL after its own timeout anyway. */
const STOP_TIMEOUT_MS = 5000;

/** `keyline run`: the agent in the foreground, one log line per event on stderr. */
export async function run(args: string[]): Promise<number> {
  const a = parseArgs(args, { values: ['config', 'log-level'], flags: ['insecure-perms'] });
  const level = a.values['log-level'];
  if (level !== undefined && !LEVELS.includes(level)) throw new KeylineError('USAGE', `--log-level must be one of ${LEVELS.join(', ')}`);
  const configPath = a.values['config'] ?? DEFAULT_CONFIG;
  const config = loadConfig(configPath, { insecurePerms: a.flags.has('insecure-perms') });
  const plan = planFromConfig(config);
  const log = makeLogger((level ?? config.local.logLevel) as Level);
  const deps: AgentDeps = {
    log,
    backend: pickBackend(config.local.backend === 'noble' ? 'noble' : 'node'),
    openTunnel: (t, log) => openTun(t, log, { pidFile: bridgePidFile(t.name, configPath) }),
  };
  const agent = await startAgent(plan, deps);
  return new Promise<number>((resolve) => {
    const stop = (sig: string) => {
      log.info(`keyline: ${sig}, stopping`);
      const timer = setTimeout(() => resolve(1), STOP_TIMEOUT_MS);
      void agent.stop().then(() => {
        clearTimeout(timer);
        resolve(0);
      });
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
    // Without a handler SIGHUP would kill the process; reload arrives with the operator surface.
    process.on('SIGHUP', () => log.warn('keyline: SIGHUP: reload is not supported by this build yet; restart to apply changes'));
  });
}

/**
 * One PID file per interface and key file, so that two agents (in two namespaces, in tests) never
 * take each other's bridge for a leftover.
 */
function bridgePidFile(ifname: string, configPath: string): string {
  const dir = existsSync('/var/run') ? '/var/run' : tmpdir();
  const tag = createHash('sha256').update(resolve(configPath)).digest('hex').slice(0, 8);
  return join(dir, `keyline.${ifname}.${tag}.bridge.pid`);
}
