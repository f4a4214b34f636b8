/**
 * The control socket (src/control/protocol.ts, server.ts, client.ts) on a real unix socket in a
 * temp directory: requests, every kind of refusal (counted), the limits pushed past, socket file
 * ownership (mode, stale file replaced, live agent refused, foreign file kept).
 */
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync, writeFileSync, existsSync, readFileSync, lstatSync } from 'node:fs';
import { createConnection, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultSocketPath, request } from '../../src/control/client.js';
import { parseRequest, MAX_REQUEST } from '../../src/control/protocol.js';
import { ControlServer, type ServerLimits } from '../../src/control/server.js';
import { makeLogger } from '../../src/util/log.js';
import { KeylineError } from '../../src/wire/errors.js';
import { rng } from '../helpers/rng.js';

const dir = mkdtempSync(join(tmpdir(), 'keyline-control-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const sockPath = () => join(dir, `s${++n}.sock`);

async function server(t: Tap.Test, limits: Partial<ServerLimits> = {}, handler?: Parameters<ControlServer['serve']>[0]) {
  const log: string[] = [];
  const s = await ControlServer.listen(sockPath(), makeLogger('debug', (l) => log.push(l)), limits);
  t.teardown(() => s.close());
  s.serve(
    handler ??
      (async (req) => {
        if (req.cmd === 'ping') return { pong: true };
        if (req.cmd === 'up') throw new KeylineError('UNKNOWN_PEER', `no peer '${req.peer}'`);
        if (req.cmd === 'down') throw new Error('a bug');
        return { cmd: req.cmd };
      }),
  );
  return { s, log };
}

/** Send raw bytes, read everything until the server closes. */
function raw(path: string, data: string | Buffer | undefined, o: { end?: boolean } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const c = createConnection(path);
    let out = '';
    c.setEncoding('utf8');
    c.on('data', (d: string) => (out += d));
    c.on('close', () => resolve(out));
    c.on('error', (e: NodeJS.ErrnoException) => (e.code === 'EPIPE' || e.code === 'ECONNRESET' ? resolve(out) : reject(e)));
    c.on('connect', () => {
      if (data !== undefined) c.write(data);
      if (o.end) c.end();
    });
  });
}

const errorCode = (line: string) => (JSON.parse(line) as { error?: { code: string } }).error?.code;

t.test('parseRequest: the commands, and what is refused', async (t) => {
  t.same(parseRequest('{"cmd":"show"}'), { cmd: 'show' });
  t.same(parseRequest('{"cmd":"show","peer":"gw-b","v":1,"extra":[1]}'), { cmd: 'show', peer: 'gw-b' }, 'unknown fields ignored');
  t.same(parseRequest('{"cmd":"up","peer":"a.b_c-9"}'), { cmd: 'up', peer: 'a.b_c-9' });
  t.same(parseRequest(' {"cmd":"reload"} '), { cmd: 'reload' });
  const bad: [string, string, RegExp][] = [
    ['', 'BAD_REQUEST', /not JSON/],
    ['{"cmd":"show"', 'BAD_REQUEST', /not JSON/],
    ['[1]', 'BAD_REQUEST', /object/],
    ['null', 'BAD_REQUEST', /object/],
    ['"show"', 'BAD_REQUEST', /object/],
    ['{}', 'BAD_REQUEST', /needs "cmd"/],
    ['{"cmd":7}', 'BAD_REQUEST', /needs "cmd"/],
    ['{"cmd":"show","v":2}', 'BAD_REQUEST', /version 2 is not supported/],
    ['{"cmd":"constructor"}', 'UNKNOWN_COMMAND', /unknown command 'constructor'/],
    ['{"cmd":"__proto__"}', 'UNKNOWN_COMMAND', /unknown/],
    ['{"cmd":"rm -rf\\u0000"}', 'UNKNOWN_COMMAND', /'rm -rf\\u0000'/],
    ['{"cmd":"up"}', 'BAD_REQUEST', /up needs "peer"/],
    ['{"cmd":"down","peer":""}', 'BAD_REQUEST', /peer name/],
    ['{"cmd":"down","peer":"a b"}', 'BAD_REQUEST', /peer name/],
    ['{"cmd":"down","peer":["x"]}', 'BAD_REQUEST', /peer name/],
    [`{"cmd":"show","peer":"${'x'.repeat(33)}"}`, 'BAD_REQUEST', /peer name/],
    ['{"__proto__":{"cmd":"show"}}', 'BAD_REQUEST', /needs "cmd"/],
  ];
  for (const [line, code, message] of bad) t.throws(() => parseRequest(line), { code, message }, JSON.stringify(line));
});

t.test('one request, one answer: over the client, and raw with or without a newline', async (t) => {
  const { s } = await server(t);
  t.same(await request(s.path, { cmd: 'ping' }), { ok: true, result: { pong: true } });
  t.same(await request(s.path, { cmd: 'show', peer: 'x' }), { ok: true, result: { cmd: 'show' } });
  t.same(JSON.parse(await raw(s.path, '{"cmd":"reload"}\n')), { ok: true, result: { cmd: 'reload' } });
  t.same(JSON.parse(await raw(s.path, '{"cmd":"reload"}', { end: true })), { ok: true, result: { cmd: 'reload' } }, 'closing the sending side ends the request too');
  t.same(JSON.parse(await raw(s.path, '{"cmd":"ping"}\n{"cmd":"reload"}\n')), { ok: true, result: { pong: true } }, 'one request per connection: the rest is ignored');
  const text = await raw(s.path, '{"cmd":"ping"}\n');
  t.ok(text.endsWith('}\n') && text.split('\n').length === 2, 'exactly one line');
  for (let i = 0; i < 100 && s.connections > 0; i++) await new Promise((r) => setTimeout(r, 10));
  t.equal(s.connections, 0, 'connections are closed after the answer');
});

t.test('errors: bad JSON, unknown command, handler errors; all counted, the server goes on', async (t) => {
  const { s, log } = await server(t);
  t.equal(errorCode(await raw(s.path, 'hello\n')), 'BAD_REQUEST');
  t.equal(errorCode(await raw(s.path, '{"cmd":"format-disk"}\n')), 'UNKNOWN_COMMAND');
  t.equal(errorCode(await raw(s.path, '', { end: true })), 'BAD_REQUEST', 'an empty request');
  t.same(await request(s.path, { cmd: 'up', peer: 'nope' }), { ok: false, error: { code: 'UNKNOWN_PEER', message: "no peer 'nope'" } }, 'a KeylineError goes to the client with its code');
  const r = await request(s.path, { cmd: 'down', peer: 'x' });
  t.same(r, { ok: false, error: { code: 'INTERNAL', message: 'internal error: a bug' } }, 'a bug is INTERNAL');
  t.match(log.join('\n'), /error: control: down failed: Error: a bug/);
  t.same(s.drops.byReason, { 'bad-request': 1, 'unknown-command': 1, empty: 1, internal: 1 });
  t.same(await request(s.path, { cmd: 'ping' }), { ok: true, result: { pong: true } }, 'still answering');
});

t.test('bounded request size: one byte over is TOO_LARGE, exactly the limit is fine', async (t) => {
  const { s } = await server(t);
  const pad = (len: number) => `{"cmd":"ping","x":"${'a'.repeat(len - 22)}"}\n`;
  t.equal(pad(MAX_REQUEST).length, MAX_REQUEST);
  t.same(JSON.parse(await raw(s.path, pad(MAX_REQUEST))), { ok: true, result: { pong: true } }, `${MAX_REQUEST} bytes with the newline`);
  t.equal(errorCode(await raw(s.path, pad(MAX_REQUEST + 1))), 'TOO_LARGE');
  t.equal(errorCode(await raw(s.path, Buffer.alloc(1 << 20, 0x41))), 'TOO_LARGE', 'a megabyte without a newline');
  t.equal(s.drops.byReason['too-large'], 2);
});

t.test('a slow client is answered TIMEOUT and closed', async (t) => {
  const { s } = await server(t, { requestTimeoutMs: 150 });
  const started = Date.now();
  t.equal(errorCode(await raw(s.path, '{"cmd":')), 'TIMEOUT');
  t.ok(Date.now() - started < 2000, 'in about the timeout');
  t.equal(errorCode(await raw(s.path, undefined)), 'TIMEOUT', 'a client that sends nothing');
  t.equal(s.drops.byReason['timeout'], 2);
});

t.test('a cap on concurrent connections: the next one gets BUSY; room again once they close', async (t) => {
  const { s } = await server(t, { maxConnections: 3, requestTimeoutMs: 5000 });
  const idle: Socket[] = [];
  for (let i = 0; i < 3; i++) {
    const c = createConnection(s.path);
    c.on('error', () => {});
    idle.push(c);
    await new Promise((r) => c.once('connect', r));
  }
  for (let i = 0; i < 50 && s.connections < 3; i++) await new Promise((r) => setTimeout(r, 10));
  t.equal(s.connections, 3);
  t.equal(errorCode(await raw(s.path, '{"cmd":"ping"}\n')), 'BUSY');
  t.equal(s.drops.byReason['busy'], 1);
  for (const c of idle) c.destroy();
  for (let i = 0; i < 100 && s.connections > 0; i++) await new Promise((r) => setTimeout(r, 10));
  t.same(await request(s.path, { cmd: 'ping' }), { ok: true, result: { pong: true } });
});

t.test('garbage and clients that vanish never stop the server', async (t) => {
  const { s } = await server(t);
  const r = rng(7);
  const codes = new Set<string>();
  for (let i = 0; i < 200; i++) {
    const len = Math.floor(r() * 300);
    const bytes = Buffer.from(Array.from({ length: len }, () => Math.floor(r() * 256)));
    const reply = await raw(s.path, Buffer.concat([bytes, Buffer.from('\n')]));
    codes.add(errorCode(reply) ?? 'ok');
    if (i % 50 === 0) {
      const c = createConnection(s.path);
      c.on('error', () => {});
      c.on('connect', () => {
        c.write('{"cmd":"ping"}\n');
        c.destroy(); // gone before the answer
      });
    }
  }
  t.same([...codes], ['BAD_REQUEST'], '200 random lines, each answered BAD_REQUEST');
  t.same(await request(s.path, { cmd: 'ping' }), { ok: true, result: { pong: true } });
});

t.test('socket file: mode 0600, removed on close; stale replaced, live refused, foreign kept', async (t) => {
  const { s } = await server(t);
  t.equal(statSync(s.path).mode & 0o777, 0o600, 'root only');
  await t.rejects(ControlServer.listen(s.path, makeLogger('error')), { code: 'SOCKET_IN_USE', message: /another keyline agent is running on .* \(stop it, or give this one its own --socket PATH\)/ });
  t.same(await request(s.path, { cmd: 'ping' }), { ok: true, result: { pong: true } }, 'the live one is untouched');
  await s.close();
  t.notOk(existsSync(s.path), 'close removes the socket');

  // A socket left by a process that died (SIGKILL leaves the file behind).
  const stale = sockPath();
  spawnSync(process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(stale)}, () => process.kill(process.pid, 'SIGKILL'))`]);
  t.ok(lstatSync(stale).isSocket(), 'a stale socket file exists');
  await t.rejects(request(stale, { cmd: 'ping' }), { code: 'NO_AGENT', message: `no agent on ${stale} (is it running?)` });
  const s2 = await ControlServer.listen(stale, makeLogger('error'));
  t.teardown(() => s2.close());
  s2.serve(() => 'fresh');
  t.same(await request(stale, { cmd: 'ping' }), { ok: true, result: 'fresh' }, 'replaced');

  const foreign = sockPath();
  writeFileSync(foreign, 'not a socket');
  await t.rejects(ControlServer.listen(foreign, makeLogger('error')), { code: 'SOCKET', message: /exists and is not a socket; not replacing it/ });
  t.equal(readFileSync(foreign, 'utf8'), 'not a socket', 'left alone');
  await t.rejects(ControlServer.listen(join(dir, 'x'.repeat(120)), makeLogger('error')), { code: 'USAGE', message: /unix sockets allow at most 107/ });
});

t.test('client: no agent, and the default path', async (t) => {
  const missing = join(dir, 'none.sock');
  await t.rejects(request(missing, { cmd: 'show' }), { code: 'NO_AGENT', message: `no agent on ${missing} (is it running?)` });
  t.equal(defaultSocketPath((p) => p === '/var/run'), '/var/run/keyline.sock');
  t.equal(defaultSocketPath((p) => p === '/run'), '/run/keyline.sock');
  t.equal(defaultSocketPath(() => false), join(tmpdir(), 'keyline.sock'));
});

t.test('a server that is still starting answers STARTING', async (t) => {
  const s = await ControlServer.listen(sockPath(), makeLogger('error'));
  t.teardown(() => s.close());
  t.same(await request(s.path, { cmd: 'show' }), { ok: false, error: { code: 'STARTING', message: 'the agent is still starting' } });
});

import type * as Tap from 'tap';
