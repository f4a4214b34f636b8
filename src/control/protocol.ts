/**
 * The control protocol between `keyline show|up|down|reload` and a running `keyline run`.
 *
 * Transport: a unix stream socket, mode 0600 (root only), by default /var/run/keyline.sock
 * (/run, then the temp directory, where /var/run does not exist; `--socket PATH` everywhere).
 *
 * One request per connection, newline-delimited JSON (UTF-8):
 *
 *   client → server   one JSON object on one line, ended by "\n" (or by closing the sending
 *                     side), at most MAX_REQUEST = 4096 bytes including the newline
 *   server → client   one JSON object on one line, ended by "\n"; then the server closes
 *
 * Requests (unknown fields are ignored; "v", if present, must be 1):
 *
 *   {"cmd":"ping"}                     → {"ok":true,"result":{"version":"0.1.0","pid":1234}}
 *   {"cmd":"show"}                     → {"ok":true,"result":AgentStatus}      (status.ts)
 *   {"cmd":"show","peer":"gw-b"}       → the same with that peer only
 *   {"cmd":"up","peer":"gw-b"}         → {"ok":true,"result":UpResult}         (ops.ts)
 *   {"cmd":"down","peer":"gw-b"}       → {"ok":true,"result":DownResult}
 *   {"cmd":"reload"}                   → {"ok":true,"result":ReloadResult}     (added, removed,
 *                                         changed, unchanged: peer names)
 *
 * Errors: {"ok":false,"error":{"code":CODE,"message":TEXT}}, CODE one of
 *
 *   BAD_REQUEST      not JSON, not an object, a field of the wrong type, a bad peer name
 *   TOO_LARGE        no newline within MAX_REQUEST bytes
 *   TIMEOUT          no complete request within REQUEST_TIMEOUT_MS
 *   BUSY             MAX_CONNECTIONS connections are open already
 *   UNKNOWN_COMMAND  cmd is not one of the above
 *   UNKNOWN_PEER     no peer of that name (show, up, down)
 *   NO_ADDRESS       up of an addr=any peer (it only answers)
 *   STATIC_PEER      up or down of a psk-static or x25519-static peer (no session to act on)
 *   CONFIG, CONFIG_READ, CONFIG_PERMS   reload: the key file is wrong (the message has one
 *                    `file:line:column: text` line per problem); nothing was applied
 *   CONFIG_RESTART   reload: the local entry changed in a way only a restart applies
 *   RELOAD           reload: applied, but some driver step failed (message says which)
 *   INTERNAL         a bug; the agent logs it and keeps running
 *
 * Every refused request is counted by reason (`drops.control` in `show`); nothing a client
 * sends can stop the agent. A connection lives at most CONNECTION_MAX_MS in all.
 */
import { KeylineError } from '../wire/errors.js';

export const PROTOCOL_VERSION = 1;
export const MAX_REQUEST = 4096;
export const REQUEST_TIMEOUT_MS = 5_000;
/** Whole-connection cap: an `up` waits up to 10 s, a slow reader gets the rest. */
export const CONNECTION_MAX_MS = 60_000;
export const MAX_CONNECTIONS = 16;
/** The client refuses answers bigger than this (a status of 10,000 SAs is a few MB). */
export const MAX_RESPONSE = 64 << 20;

export const COMMANDS = ['ping', 'show', 'up', 'down', 'reload'] as const;
export type Command = (typeof COMMANDS)[number];

export type Request =
  | { readonly cmd: 'ping' }
  | { readonly cmd: 'show'; readonly peer?: string }
  | { readonly cmd: 'up' | 'down'; readonly peer: string }
  | { readonly cmd: 'reload' };

export type Response = { readonly ok: true; readonly result: unknown } | { readonly ok: false; readonly error: { readonly code: string; readonly message: string } };

/** Peer names as the key file allows them (config/schema: 1–32 of A-Z a-z 0-9 _ . -). */
const PEER_NAME = /^[A-Za-z0-9_.-]{1,32}$/;

/** Parse one request line; a KeylineError with the code to answer (BAD_REQUEST, UNKNOWN_COMMAND). */
export function parseRequest(line: string): Request {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    throw new KeylineError('BAD_REQUEST', 'the request is not JSON');
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new KeylineError('BAD_REQUEST', 'the request must be a JSON object');
  const o = v as Record<string, unknown>;
  if (o['v'] !== undefined && o['v'] !== PROTOCOL_VERSION) throw new KeylineError('BAD_REQUEST', `protocol version ${JSON.stringify(o['v']).slice(0, 20)} is not supported (this agent speaks ${PROTOCOL_VERSION})`);
  const cmd = o['cmd'];
  if (typeof cmd !== 'string') throw new KeylineError('BAD_REQUEST', 'the request needs "cmd", a string');
  if (!(COMMANDS as readonly string[]).includes(cmd)) throw new KeylineError('UNKNOWN_COMMAND', `unknown command '${printable(cmd)}' (known: ${COMMANDS.join(', ')})`);
  const peer = o['peer'];
  if (peer !== undefined && (typeof peer !== 'string' || !PEER_NAME.test(peer))) {
    throw new KeylineError('BAD_REQUEST', '"peer" must be a peer name (1-32 of A-Z a-z 0-9 _ . -)');
  }
  switch (cmd as Command) {
    case 'up':
    case 'down':
      if (peer === undefined) throw new KeylineError('BAD_REQUEST', `${cmd} needs "peer"`);
      return { cmd: cmd as 'up' | 'down', peer };
    case 'show':
      return peer === undefined ? { cmd: 'show' } : { cmd: 'show', peer };
    default:
      return { cmd: cmd as 'ping' | 'reload' };
  }
}

export const okLine = (result: unknown): string => JSON.stringify({ ok: true, result } satisfies Response) + '\n';
export const errorLine = (code: string, message: string): string => JSON.stringify({ ok: false, error: { code, message } } satisfies Response) + '\n';

/** Client text echoed in a message: clipped, control characters escaped. */
export function printable(s: string, max = 40): string {
  const p = s.replace(/[^\x20-\x7e]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  return p.length > max ? p.slice(0, max) + '…' : p;
}
