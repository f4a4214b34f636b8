/**
 * Reload (SIGHUP or `keyline reload`): read and validate the key file again, compare it with the
 * one in force, and hand the agent a plan in which unchanged peers keep their reqids. Everything
 * that can fail on the file (syntax, permissions, a secret file, the checks across peers, a local
 * change that needs a restart) fails before anything is applied: the agent runs on as it was.
 */
import type { Agent } from '../agent.js';
import { assignReqids, planFromConfig } from '../cli/plan.js';
import { diffConfigs, type PeerDiff } from '../config/diff.js';
import type { Config, LogLevel } from '../config/types.js';
import { KeylineError } from '../wire/errors.js';

export interface ReloaderOptions {
  readonly path: string;
  /** Reads and parses the key file (loadConfig with the agent's options); throws on any problem. */
  readonly load: (path: string) => Config;
  /** The configuration the agent was started with (reqids 1..n by position). */
  readonly initial: Config;
  readonly agent: Pick<Agent, 'reload' | 'plan'>;
  /** A changed `log-level` in the local entry. */
  readonly onLogLevel?: (level: LogLevel) => void;
}

export interface Reloader {
  /** Applies the key file as it is now; rejects with what was wrong (nothing applied then). */
  reload(): Promise<PeerDiff>;
  readonly config: Config;
}

export function makeReloader(o: ReloaderOptions): Reloader {
  let config = o.initial;
  // reqids are never reused (see assignReqids); the first plan used 1..n.
  let next = Math.max(0, ...reqidsOf(o.agent.plan).values()) + 1;
  let chain: Promise<unknown> = Promise.resolve();

  async function apply(): Promise<PeerDiff> {
    const fresh = o.load(o.path);
    const d = diffConfigs(config, fresh);
    if (d.restart.length) {
      throw new KeylineError(
        'CONFIG_RESTART',
        `${o.path}: local ${d.restart.join(', ')} changed: that needs a restart of keyline (nothing was applied)`,
      );
    }
    const old = reqidsOf(o.agent.plan);
    const keep = new Map(d.peers.unchanged.map((n) => [n, old.get(n)!] as const).filter(([, r]) => r !== undefined));
    const { reqids, next: after } = assignReqids(fresh, keep, next);
    const plan = planFromConfig(fresh, reqids);
    next = after;
    try {
      return await o.agent.reload(plan, d.peers);
    } finally {
      // Applied (a RELOAD error means applied with some driver step failing): this file is in force.
      config = fresh;
      if (d.local.includes('log-level')) o.onLogLevel?.(fresh.local.logLevel);
    }
  }

  return {
    reload() {
      // One at a time: a SIGHUP and a `keyline reload` together apply the file twice, in order.
      const r = chain.then(apply, apply);
      chain = r.catch(() => undefined);
      return r;
    },
    get config() {
      return config;
    },
  };
}

function reqidsOf(plan: Agent['plan']): Map<string, number> {
  return new Map<string, number>([...plan.manual.map((m) => [m.peer, m.reqid] as const), ...plan.ike.map((p) => [p.name, p.reqid] as const)]);
}
