import { startAgent, type AgentDeps } from '../agent.js';
import { pickBackend } from '../crypto/index.js';
import { loadConfig } from '../config/index.js';
import { openTun } from '../drivers/userspace/tun/open.js';
import { makeLogger, type Level, type Logger } from '../util/log.js';
import { defaultSocketPath } from '../control/client.js';
import { controlHandler } from '../control/handler.js';
import { makeReloader } from '../control/reload.js';
import { ControlServer } from '../control/server.js';
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

/**
 * `keyline run`: the agent in the foreground, one log line per event on stderr, answering
 * `keyline show|up|down|reload` on the control socket (src/control/protocol.ts). SIGHUP reloads
 * the key file (as `keyline reload` does); SIGTERM and SIGINT stop it after DELETEs.
 */
export async function run(args: string[]): Promise<number> {
  const a = parseArgs(args, { values: ['config', 'log-level', 'socket'], flags: ['insecure-perms'] });
  const level = a.values['log-level'];
  if (level !== undefined && !LEVELS.includes(level)) throw new KeylineError('USAGE', `--log-level must be one of ${LEVELS.join(', ')}`);
  if (a.positional.length) throw new KeylineError('USAGE', `unexpected argument '${a.positional[0]}' (try 'keyline help')`);
  const configPath = a.values['config'] ?? DEFAULT_CONFIG;
  const load = (p: string) => loadConfig(p, { insecurePerms: a.flags.has('insecure-perms') });
  const config = load(configPath);
  const plan = planFromConfig(config);
  // The level can change on reload (log-level= in the local entry) unless --log-level fixed it.
  let logger = makeLogger((level ?? config.local.logLevel) as Level);
  const log: Logger = {
    error: (m) => logger.error(m),
    warn: (m) => logger.warn(m),
    info: (m) => logger.info(m),
    debug: (m) => logger.debug(m),
    enabled: (lv) => logger.enabled(lv),
  };
  // The socket first: a second agent on the same socket stops here, before touching anything.
  const control = await ControlServer.listen(a.values['socket'] ?? defaultSocketPath(), log);
  const deps: AgentDeps = {
    log,
    backend: pickBackend(config.local.backend === 'noble' ? 'noble' : 'node'),
    openTunnel: (t, log) => openTun(t, log, { pidFile: bridgePidFile(t.name, configPath) }),
  };
  let agent;
  try {
    agent = await startAgent(plan, deps);
  } catch (e) {
    await control.close();
    throw e;
  }
  const reloader = makeReloader({
    path: configPath,
    load,
    initial: config,
    agent,
    onLogLevel: (lv) => {
      if (level !== undefined) return;
      logger = makeLogger(lv);
      log.info(`keyline: log level ${lv}`);
    },
  });
  control.serve(controlHandler(agent, reloader, control));
  log.info(`keyline: control socket ${control.path}`);
  const started = agent;
  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (sig: string) => {
      stopping = true;
      log.info(`keyline: ${sig}, stopping`);
      const timer = setTimeout(() => resolve(1), STOP_TIMEOUT_MS);
      void Promise.all([started.stop(), control.close()]).then(() => {
        clearTimeout(timer);
        resolve(0);
      });
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
    process.on('SIGHUP', () => {
      if (stopping) return;
      log.info('keyline: SIGHUP, reloading ' + configPath);
      reloader.reload().catch((e: unknown) => logReloadError(log, e));
    });
  });
}

/** A refused reload: one log line per problem, each `file:line:column: text` for key file errors. */
export function logReloadError(log: Logger, e: unknown): void {
  if (!(e instanceof KeylineError)) return log.error(`keyline: reload failed: ${(e as Error)?.stack ?? String(e)}`);
  const what = e.code === 'RELOAD' ? 'reload incomplete' : 'reload refused, nothing applied, still running on the previous configuration';
  for (const line of e.message.split('\n')) log.error(`keyline: ${what}: ${line}`);
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
