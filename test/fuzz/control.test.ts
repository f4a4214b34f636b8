/**
 * The control socket protocol (src/control/protocol.ts) and its handler (handler.ts) as the
 * server runs them: mutated request lines (valid requests edited, JSON oddities, oversize text)
 * against agents started from key files. Every line gets exactly one answer line of JSON with a
 * known error code or a result; nothing is thrown; no request costs an 'internal' drop; the agent
 * answers and carries traffic afterwards.
 */
import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { controlHandler } from '../../src/control/handler.js';
import { parseRequest } from '../../src/control/protocol.js';
import { ControlServer } from '../../src/control/server.js';
import { makeLogger } from '../../src/util/log.js';
import { KeylineError } from '../../src/wire/errors.js';
import { ENTRIES, keys, world } from '../control/world.js';
import { fuzz } from './harness.js';
import { mutateText, pick } from './mutate.js';

const REQUESTS = [
  '{"cmd":"ping"}',
  '{"v":1,"cmd":"show"}',
  '{"cmd":"show","peer":"m-b"}',
  '{"cmd":"up","peer":"gw-b"}',
  '{"cmd":"down","peer":"gw-b"}',
  '{"cmd":"reload"}',
  '{"cmd":"show","peer":"gw-b","extra":[1,{"a":null}]}',
];
const ALPHABET = ['{', '}', '[', ']', '"', ':', ',', '\\', '\\u0000', '\\ud800', 'null', 'true', '1e999', '-0', '"cmd"', '"peer"', '"v"', '__proto__', 'constructor', ' ', '\n', '\u2028', 'é', '\u0000', 'x'.repeat(300), '['.repeat(2000)];
const CODES = new Set(['BAD_REQUEST', 'UNKNOWN_COMMAND', 'UNKNOWN_PEER', 'NO_ADDRESS', 'STATIC_PEER', 'CONFIG', 'CONFIG_READ', 'CONFIG_PERMS', 'CONFIG_RESTART', 'RELOAD']);

t.test('the request parser: a Request or a KeylineError with a protocol code', async (t) => {
  await fuzz(t, 'control-parse', {
    make: (r) => mutateText(r, pick(r, REQUESTS), ALPHABET),
    show: (line) => JSON.stringify(line),
    run: (line) => {
      try {
        const req = parseRequest(line);
        return typeof req.cmd === 'string' ? undefined : `no command in ${JSON.stringify(req)}`;
      } catch (e) {
        if (e instanceof KeylineError && (e.code === 'BAD_REQUEST' || e.code === 'UNKNOWN_COMMAND')) return e.message.length < 300 ? undefined : `an error message of ${e.message.length} characters`;
        throw e;
      }
    },
  }, 0.5);
});

t.test('the server and handler on agents: one JSON answer per line, never an internal error', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'keyline-fuzz-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const w = world();
  t.teardown(() => w.stop());
  await w.start('b', keys(ENTRIES.b.local, ENTRIES.b['gw-a'], ENTRIES.b['m-a']));
  const a = await w.start('a', keys(ENTRIES.a.local, ENTRIES.a['gw-b'], ENTRIES.a['m-b']));
  const server = await ControlServer.listen(join(dir, 'a.sock'), makeLogger('error'));
  t.teardown(() => server.close());
  server.serve(controlHandler(a.agent, a.reloader, server));
  const handle = (line: string) => (server as unknown as { handle(l: string): Promise<string> }).handle(line);
  await fuzz(t, 'control-handler', {
    make: (r) => mutateText(r, pick(r, REQUESTS), ALPHABET),
    show: (line) => JSON.stringify(line),
    run: async (line) => {
      const out = await handle(line);
      await w.settle();
      if (!out.endsWith('\n') || out.indexOf('\n') !== out.length - 1) return `not one line: ${JSON.stringify(out.slice(0, 200))}`;
      const res = JSON.parse(out) as { ok: boolean; error?: { code: string } };
      if (!res.ok && !CODES.has(res.error?.code ?? '')) return `answered ${out.slice(0, 300)}`;
      return server.drops.byReason['internal'] ? 'an internal drop' : undefined;
    },
  }, 0.5);
  // Whatever was asked (down included), the agent still answers, comes up and carries traffic.
  await handle('{"cmd":"up","peer":"gw-b"}');
  await w.advance(60_000, 5_000);
  t.match(JSON.parse(await handle('{"cmd":"ping"}')), { ok: true }, 'the agent answers');
  t.ok(await w.ping('a', 'b'), 'traffic crosses the IKE tunnel');
  t.ok(await w.ping('a', 'bm'), 'and the manual one');
});
