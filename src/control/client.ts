/**
 * The control socket's client side (protocol.ts): one request, one answer. "No agent" (nothing
 * listening, or no socket file) is NO_AGENT, which `keyline show` and friends turn into exit 1.
 */
import { existsSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KeylineError } from '../wire/errors.js';
import { MAX_RESPONSE, type Request, type Response } from './protocol.js';

/** /var/run/keyline.sock; /run or the temp directory on systems without /var/run. */
export function defaultSocketPath(exists: (p: string) => boolean = existsSync): string {
  const dir = ['/var/run', '/run'].find((d) => exists(d)) ?? tmpdir();
  return join(dir, 'keyline.sock');
}

/** The client waits this long for an answer: longer than the agent's own bounded waits. */
export const CLIENT_TIMEOUT_MS = 30_000;

export function request(path: string, req: Request, timeoutMs = CLIENT_TIMEOUT_MS): Promise<Response> {
  return new Promise((resolve, reject) => {
    const s = createConnection(path);
    const chunks: Buffer[] = [];
    let size = 0;
    let settled = false;
    const finish = (f: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      s.destroy();
      f();
    };
    const timer = setTimeout(() => finish(() => reject(new KeylineError('TIMEOUT', `no answer from the agent on ${path} within ${timeoutMs / 1000} s`))), timeoutMs);
    s.once('connect', () => s.write(JSON.stringify({ v: 1, ...req }) + '\n'));
    s.on('data', (d: Buffer) => {
      size += d.length;
      if (size > MAX_RESPONSE) return finish(() => reject(new KeylineError('BAD_RESPONSE', `the agent's answer is over ${MAX_RESPONSE} bytes`)));
      chunks.push(d);
    });
    s.once('end', () => finish(() => resolve(parseResponse(Buffer.concat(chunks).toString('utf8'), path))));
    s.once('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'ENOENT' || e.code === 'ECONNREFUSED' || e.code === 'ENOTSOCK') {
        return finish(() => reject(new KeylineError('NO_AGENT', `no agent on ${path} (is it running?)`)));
      }
      if (e.code === 'EACCES' || e.code === 'EPERM') {
        return finish(() => reject(new KeylineError('NO_ACCESS', `permission denied on ${path} (the control socket is root's)`)));
      }
      // An agent that closed mid-answer: what arrived may still be a complete line.
      if (chunks.length && e.code === 'ECONNRESET') return finish(() => resolve(parseResponse(Buffer.concat(chunks).toString('utf8'), path)));
      finish(() => reject(new KeylineError('SOCKET', `${path}: ${e.code ?? e.message}`)));
    });
  });
}

function parseResponse(text: string, path: string): Response {
  const line = text.split('\n', 1)[0] ?? '';
  try {
    const v = JSON.parse(line) as Response;
    if (typeof v === 'object' && v !== null && typeof v.ok === 'boolean') return v;
  } catch {
    // fall through
  }
  throw new KeylineError('BAD_RESPONSE', `${path} answered something that is not a keyline response`);
}
