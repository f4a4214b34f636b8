/**
 * The control socket's server side (protocol.ts says what goes over it). A unix socket, mode
 * 0600. A stale socket file left by a dead agent is replaced; a live agent on the same path makes
 * `listen` fail with SOCKET_IN_USE. Each connection gets one answer and is closed; bad input is
 * answered with an error and counted, never thrown.
 */
import { chmodSync, lstatSync, unlinkSync } from 'node:fs';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { DropCounters } from '../drivers/common.js';
import type { Logger } from '../util/log.js';
import { KeylineError } from '../wire/errors.js';
import {
  CONNECTION_MAX_MS,
  MAX_CONNECTIONS,
  MAX_REQUEST,
  REQUEST_TIMEOUT_MS,
  errorLine,
  okLine,
  parseRequest,
  type Request,
} from './protocol.js';

/** Answers one parsed request: a result, or a KeylineError whose code goes to the client. */
export type ControlHandler = (req: Request) => Promise<unknown> | unknown;

export interface ServerLimits {
  readonly maxRequest: number;
  readonly requestTimeoutMs: number;
  readonly connectionMaxMs: number;
  readonly maxConnections: number;
}

const DEFAULT_LIMITS: ServerLimits = {
  maxRequest: MAX_REQUEST,
  requestTimeoutMs: REQUEST_TIMEOUT_MS,
  connectionMaxMs: CONNECTION_MAX_MS,
  maxConnections: MAX_CONNECTIONS,
};

/** Longest unix socket path (sun_path is 108 bytes with the terminating NUL on Linux). */
export const MAX_SOCKET_PATH = 107;

export class ControlServer {
  /** Refused requests by reason: bad-request, too-large, timeout, busy, unknown-command, ... */
  readonly drops = new DropCounters();
  private readonly open = new Set<Socket>();
  private handler: ControlHandler = () => {
    throw new KeylineError('STARTING', 'the agent is still starting');
  };
  private closed = false;

  private constructor(
    readonly path: string,
    private readonly server: Server,
    private readonly ino: number,
    private readonly log: Logger,
    readonly limits: ServerLimits,
  ) {}

  /**
   * Claim `path` (replacing a stale socket, refusing a live one or a non-socket file) and listen.
   * Requests are answered with STARTING until `serve` sets the handler.
   */
  static async listen(path: string, log: Logger, limits: Partial<ServerLimits> = {}): Promise<ControlServer> {
    if (Buffer.byteLength(path) > MAX_SOCKET_PATH) {
      throw new KeylineError('USAGE', `socket path ${path} is ${Buffer.byteLength(path)} bytes; unix sockets allow at most ${MAX_SOCKET_PATH}`);
    }
    await claim(path);
    const l = { ...DEFAULT_LIMITS, ...limits };
    const server = createServer({ allowHalfOpen: true });
    let self: ControlServer | undefined;
    server.on('connection', (s) => (self ? self.accept(s) : s.destroy()));
    server.maxConnections = l.maxConnections * 4; // hard stop far above the polite BUSY answer
    // No window in which the socket exists with looser permissions: umask while binding, then chmod.
    const mask = process.umask(0o177);
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(path, () => {
          server.off('error', reject);
          resolve();
        });
      });
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      throw new KeylineError('SOCKET', `cannot listen on ${path}: ${err.code ?? err.message}`);
    } finally {
      process.umask(mask);
    }
    chmodSync(path, 0o600);
    server.on('error', (e) => log.error(`control: ${e.message}`));
    self = new ControlServer(path, server, lstatSync(path).ino, log, l);
    return self;
  }

  serve(handler: ControlHandler): void {
    this.handler = handler;
  }

  get connections(): number {
    return this.open.size;
  }

  /** Stop listening, end open connections, and remove the socket file if it is still ours. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const s of this.open) s.destroy();
    await new Promise<void>((r) => this.server.close(() => r()));
    try {
      if (lstatSync(this.path).ino === this.ino) unlinkSync(this.path);
    } catch {
      // gone already
    }
  }

  private accept(sock: Socket): void {
    sock.on('error', () => {}); // a client that went away (EPIPE, ECONNRESET) is not our failure
    if (this.closed) return void sock.destroy();
    if (this.open.size >= this.limits.maxConnections) {
      this.drops.bump('busy');
      return void sock.end(errorLine('BUSY', `${this.limits.maxConnections} control connections are open; try again`), () => sock.destroy());
    }
    this.open.add(sock);
    const life = setTimeout(() => sock.destroy(), this.limits.connectionMaxMs);
    life.unref();
    sock.on('close', () => {
      this.open.delete(sock);
      clearTimeout(life);
      clearTimeout(wait);
    });
    let buf = Buffer.alloc(0);
    let answered = false;
    // Once the answer is written the connection is done, whatever the client still sends (a
    // unix socket keeps what we wrote readable for the client after we close).
    const send = (line: string) => sock.end(line, () => sock.destroy());
    const answer = (line: string) => {
      if (answered) return;
      answered = true;
      clearTimeout(wait);
      sock.pause();
      send(line);
    };
    const refuse = (reason: string, code: string, message: string) => {
      this.drops.bump(reason);
      this.log.debug(`control: refused a request: ${message}`);
      answer(errorLine(code, message));
    };
    const wait = setTimeout(() => refuse('timeout', 'TIMEOUT', `no complete request within ${this.limits.requestTimeoutMs / 1000} s`), this.limits.requestTimeoutMs);
    const take = (text: string) => {
      answered = true; // no second answer, even if more bytes arrive
      clearTimeout(wait);
      sock.pause();
      void this.handle(text).then(send);
    };
    sock.on('data', (chunk: Buffer) => {
      if (answered) return;
      const nl = chunk.indexOf(10);
      const have = buf.length + (nl < 0 ? chunk.length : nl + 1);
      if (have > this.limits.maxRequest) return refuse('too-large', 'TOO_LARGE', `a request is at most ${this.limits.maxRequest} bytes including its newline`);
      buf = Buffer.concat([buf, nl < 0 ? chunk : chunk.subarray(0, nl)]);
      if (nl >= 0) take(buf.toString('utf8'));
    });
    // The client closed its side without a newline: what it sent is the request.
    sock.on('end', () => {
      if (answered) return;
      if (buf.length === 0) return refuse('empty', 'BAD_REQUEST', 'empty request');
      take(buf.toString('utf8'));
    });
  }

  /** One request line to one response line; never throws. */
  private async handle(text: string): Promise<string> {
    let req: Request;
    try {
      req = parseRequest(text);
    } catch (e) {
      const err = e as KeylineError;
      this.drops.bump(err.code === 'UNKNOWN_COMMAND' ? 'unknown-command' : 'bad-request');
      this.log.debug(`control: refused a request: ${err.message}`);
      return errorLine(err.code, err.message);
    }
    this.log[req.cmd === 'show' || req.cmd === 'ping' ? 'debug' : 'info'](`control: ${req.cmd}${'peer' in req && req.peer ? ` ${req.peer}` : ''}`);
    try {
      return okLine(await this.handler(req));
    } catch (e) {
      if (e instanceof KeylineError) return errorLine(e.code, e.message);
      this.drops.bump('internal');
      this.log.error(`control: ${req.cmd} failed: ${(e as Error)?.stack ?? String(e)}`);
      return errorLine('INTERNAL', `internal error: ${(e as Error)?.message ?? String(e)}`);
    }
  }
}

/**
 * Make `path` free for our socket: nothing there, or a stale socket (connection refused) that we
 * remove. A socket that accepts connections belongs to a live agent; anything that is not a
 * socket is not ours to delete.
 */
async function claim(path: string): Promise<void> {
  let st;
  try {
    st = lstatSync(path);
  } catch {
    return;
  }
  if (!st.isSocket()) throw new KeylineError('SOCKET', `${path} exists and is not a socket; not replacing it (remove it, or choose another --socket PATH)`);
  if (await answers(path)) {
    throw new KeylineError('SOCKET_IN_USE', `another keyline agent is running on ${path} (stop it, or give this one its own --socket PATH)`);
  }
  try {
    unlinkSync(path);
  } catch (e) {
    throw new KeylineError('SOCKET', `cannot remove the stale socket ${path}: ${(e as NodeJS.ErrnoException).code}`);
  }
}

/** Whether something accepts connections on the socket (within 2 s). */
function answers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createConnection(path);
    const done = (v: boolean) => {
      clearTimeout(t);
      s.destroy();
      resolve(v);
    };
    // Accepting is enough: a listener that does not answer still owns the path.
    const t = setTimeout(() => done(true), 2000);
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
  });
}
