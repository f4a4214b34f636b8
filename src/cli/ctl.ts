/**
 * The client commands: `keyline show [PEER] [--json]`, `up PEER`, `down PEER`, `reload`, each
 * with `--socket PATH`. They talk to a running `keyline run` over the control socket
 * (src/control/protocol.ts).
 *
 * Exit codes: 0 done; 1 no agent answers on the socket ("keyline: no agent on PATH (is it
 * running?)"), or a runtime failure (`up` did not get the IKE SA established within 10 s, a
 * reload step failed); 2 usage errors, an unknown peer, `up` of an addr=any peer, and a reload
 * refused for the key file (its errors are printed, file:line:column each).
 */
import type { DownResult, ReloadResult, UpResult } from '../control/ops.js';
import { defaultSocketPath, request } from '../control/client.js';
import type { Request } from '../control/protocol.js';
import { formatStatus, type AgentStatus } from '../control/status.js';
import { KeylineError } from '../wire/errors.js';
import { parseArgs } from './args.js';

/** Error codes from the agent that are the caller's mistake (exit 2); anything else exits 1. */
const USER_ERRORS = new Set(['USAGE', 'UNKNOWN_PEER', 'NO_ADDRESS', 'STATIC_PEER', 'BAD_REQUEST', 'UNKNOWN_COMMAND', 'CONFIG', 'CONFIG_READ', 'CONFIG_PERMS', 'CONFIG_RESTART']);

export const exitCodeFor = (code: string): number => (USER_ERRORS.has(code) ? 2 : 1);

const out = (s: string) => process.stdout.write(s.endsWith('\n') ? s : s + '\n');
const err = (s: string) => process.stderr.write(`keyline: ${s}\n`);

/** Send one request; print the agent's error (or "no agent") and give the exit code, or the result. */
async function call<T>(socket: string, req: Request): Promise<{ result: T } | { code: number }> {
  try {
    const r = await request(socket, req);
    if (r.ok) return { result: r.result as T };
    for (const line of r.error.message.split('\n')) err(line);
    return { code: exitCodeFor(r.error.code) };
  } catch (e) {
    if (!(e instanceof KeylineError)) throw e;
    err(e.message);
    return { code: 1 };
  }
}

function usage(text: string): never {
  throw new KeylineError('USAGE', `usage: ${text}`);
}

export async function show(args: string[]): Promise<number> {
  const a = parseArgs(args, { values: ['socket'], flags: ['json'] });
  if (a.positional.length > 1) usage('keyline show [PEER] [--json] [--socket PATH]');
  const peer = a.positional[0];
  const r = await call<AgentStatus>(a.values['socket'] ?? defaultSocketPath(), peer === undefined ? { cmd: 'show' } : { cmd: 'show', peer });
  if ('code' in r) return r.code;
  out(a.flags.has('json') ? JSON.stringify(r.result, null, 2) : formatStatus(r.result, peer));
  return 0;
}

export async function up(args: string[]): Promise<number> {
  const a = parseArgs(args, { values: ['socket'] });
  const peer = a.positional[0];
  if (peer === undefined || a.positional.length > 1) usage('keyline up PEER [--socket PATH]');
  const r = await call<UpResult>(a.values['socket'] ?? defaultSocketPath(), { cmd: 'up', peer });
  if ('code' in r) return r.code;
  const u = r.result;
  if (u.keying === 'manual') {
    out(`${u.peer}: manual SAs ${u.action === 'installed' ? 'installed' : 'already installed'}`);
    return 0;
  }
  if (u.established) {
    out(`${u.peer}: IKE SA ${u.state}${u.action === 'already-up' ? ' (was up already)' : ''}`);
    return 0;
  }
  err(`${u.peer}: IKE SA not established yet (${u.state === 'none' ? 'no IKE SA' : u.state}); see the agent's log`);
  return 1;
}

export async function down(args: string[]): Promise<number> {
  const a = parseArgs(args, { values: ['socket'] });
  const peer = a.positional[0];
  if (peer === undefined || a.positional.length > 1) usage('keyline down PEER [--socket PATH]');
  const r = await call<DownResult>(a.values['socket'] ?? defaultSocketPath(), { cmd: 'down', peer });
  if ('code' in r) return r.code;
  const d = r.result;
  const what = d.keying === 'manual' ? `manual SAs ${d.deleted ? 'removed' : 'were not installed'}` : `${d.deleted} IKE SA${d.deleted === 1 ? '' : 's'} deleted`;
  out(`${d.peer}: down, ${what}; stays down until 'keyline up ${d.peer}' or a reload`);
  return 0;
}

export async function reload(args: string[]): Promise<number> {
  const a = parseArgs(args, { values: ['socket'] });
  if (a.positional.length) usage('keyline reload [--socket PATH]');
  const r = await call<ReloadResult>(a.values['socket'] ?? defaultSocketPath(), { cmd: 'reload' });
  if ('code' in r) return r.code;
  const d = r.result;
  const part = (k: keyof ReloadResult) => `${d[k].length} ${k}${d[k].length && k !== 'unchanged' ? ` (${d[k].join(' ')})` : ''}`;
  out(`reloaded: ${(['added', 'removed', 'changed', 'unchanged'] as const).map(part).join(', ')}`);
  return 0;
}
