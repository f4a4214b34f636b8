/**
 * The fault-injecting relay itself, on loopback (no root): NAT port rewriting and rebinding,
 * restricted filtering, seeded loss with the same fate for the same seed, duplication,
 * reordering, delay with jitter, per-class streams, and the process form (bundled main, stdin
 * commands, SIGUSR1).
 */
import t from 'tap';
import type * as Tap from 'tap';
import { createSocket, type Socket } from 'node:dgram';
import { fileURLToPath } from 'node:url';
import { bundleMain, registerCleanup, spawnProc } from '../netns/ns.js';
import { Relay, classify, parseFaults, type Faults, type RelayOptions } from './relay.js';

const LO = '127.0.0.1';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Got {
  data: number[];
  from: { addr: string; port: number }[];
}

async function udp(): Promise<Socket & { got: Got }> {
  const s = createSocket('udp4') as Socket & { got: Got };
  s.got = { data: [], from: [] };
  s.on('message', (d, r) => {
    s.got.data.push(d.readUInt32BE(4));
    s.got.from.push({ addr: r.address, port: r.port });
  });
  await new Promise<void>((res) => s.bind(0, LO, res));
  return s;
}

/** A 12-byte "ESP" datagram carrying a sequence number at offset 4 (first word non-zero). */
const esp = (n: number) => {
  const b = Buffer.alloc(12);
  b.writeUInt32BE(0x1000, 0);
  b.writeUInt32BE(n, 4);
  return b;
};

/** Client → relay → server, with the server echoing everything back. */
async function world(t: Tap.Test, o: Partial<RelayOptions> = {}) {
  const client = await udp();
  const server = await udp();
  server.on('message', (d, r) => server.send(d, r.port, r.address));
  const relay = await Relay.start({ inside: LO, outside: LO, target: LO, ports: [{ listen: 0, target: server.address().port }], ...o });
  t.teardown(() => {
    relay.close();
    client.close();
    server.close();
  });
  const port = relay.ports()[0]!;
  const send = (n: number) => client.send(esp(n), port, LO);
  /** Paced, so loopback's socket buffers never drop anything themselves. */
  const sendMany = async (n: number) => {
    for (let i = 0; i < n; i++) {
      send(i);
      if (i % 20 === 19) await sleep(2);
    }
  };
  return { client, server, relay, port, send, sendMany };
}

async function until(what: string, ok: () => boolean, ms = 3000): Promise<void> {
  for (const end = Date.now() + ms; !ok(); await sleep(10)) if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
}

t.test('NAT: the source port is rewritten, answers come back, rebind moves the mapping', async (t) => {
  const w = await world(t);
  w.send(1);
  await until('echo', () => w.client.got.data.length === 1);
  const seen = w.server.got.from[0]!;
  t.not(seen.port, w.client.address().port, `server sees the outside port ${seen.port}, not the client's ${w.client.address().port}`);
  t.same(w.client.got.from[0], { addr: LO, port: w.port }, 'the answer comes from the relay');
  t.same(w.relay.stats().mappings.map((m) => m.outsidePort), [seen.port], 'one mapping');

  const moved = await w.relay.rebind();
  t.equal(moved.length, 1);
  t.equal(moved[0]!.from, seen.port);
  t.not(moved[0]!.to, seen.port, `moved ${moved[0]!.from} -> ${moved[0]!.to}`);
  // The target still answers to the old port: gone.
  w.server.send(esp(99), seen.port, LO);
  w.send(2);
  await until('echo after rebind', () => w.client.got.data.includes(2));
  t.equal(w.server.got.from[1]!.port, moved[0]!.to, 'the server sees the new port');
  await sleep(50);
  t.notOk(w.client.got.data.includes(99), 'what was sent to the old port is lost');
  t.equal(w.relay.stats().rebinds, 1);
});

t.test('restricted NAT: only the target may answer on a mapping', async (t) => {
  const w = await world(t);
  w.send(1);
  await until('echo', () => w.client.got.data.length === 1);
  const stranger = await udp();
  t.teardown(() => stranger.close());
  stranger.send(esp(7), w.server.got.from[0]!.port, LO);
  await until('foreign counted', () => w.relay.stats().foreign === 1);
  t.same(w.client.got.data, [1], 'the stranger got nothing through');
});

t.test('30% loss each way, seeded: close to 30%, and the same fate for the same seed', async (t) => {
  const counts: number[][] = [];
  for (const seed of [7, 7, 8]) {
    const w = await world(t, { seed, up: { loss: 0.3 }, down: { loss: 0.3 } });
    await w.sendMany(1000);
    await until('all through', () => w.relay.stats().up.received === 1000 && w.relay.stats().down.received === w.relay.stats().up.forwarded);
    await sleep(30);
    const s = w.relay.stats();
    counts.push([s.up.lost, s.down.lost, w.client.got.data.length]);
    t.equal(s.up.forwarded + s.up.lost, 1000, 'up: forwarded + lost = received');
    t.ok(s.up.lost > 250 && s.up.lost < 350, `up: ${s.up.lost} of 1000 lost`);
    t.ok(s.down.lost / s.down.received > 0.25 && s.down.lost / s.down.received < 0.35, `down: ${s.down.lost} of ${s.down.received} lost`);
    t.equal(w.client.got.data.length, s.down.forwarded, 'the client got what came down');
  }
  t.same(counts[0], counts[1], `seed 7 twice: ${counts[0]}`);
  t.not(counts[0]!.join(), counts[2]!.join(), `seed 8 differs: ${counts[2]}`);
});

t.test('loss per class: an IKE stream is not shifted by ESP traffic', async (t) => {
  const fates: string[] = [];
  for (const espBetween of [0, 5]) {
    const w = await world(t, { seed: 3, up: { loss: 0.5 } });
    for (let i = 0; i < 40; i++) {
      const ike = Buffer.alloc(12);
      ike.writeUInt32BE(i, 4); // non-ESP marker: four zero bytes
      w.client.send(ike, w.port, LO);
      for (let k = 0; k < espBetween; k++) w.send(1000 + k);
    }
    await sleep(200);
    fates.push(w.server.got.data.filter((n) => n < 1000).join(','));
    t.equal(w.relay.stats().up.byClass.ike.received, 40);
  }
  t.equal(fates[0], fates[1], 'the same IKE datagrams get through with and without ESP in between');
  t.equal(classify(Uint8Array.of(0xff), 4500), 'keepalive');
  t.equal(classify(Uint8Array.of(1, 2, 3, 4, 5), 500), 'ike');
  t.equal(classify(Uint8Array.of(0, 0, 0, 0, 5), 4500), 'ike');
  t.equal(classify(Uint8Array.of(0, 0, 1, 0, 5), 4500), 'esp');
  const f: Faults = parseFaults('loss=0.3,dup=0.1,reorder=0.2,delay=10,jitter=5,hold=20,classes=esp+ike');
  t.same(f, { loss: 0.3, dup: 0.1, reorder: 0.2, delayMs: 10, jitterMs: 5, holdMs: 20, classes: ['esp', 'ike'] });
  t.throws(() => parseFaults('lose=1'), /unknown fault 'lose'/);
});

t.test('duplication and reordering: everything arrives, some twice, some out of order', async (t) => {
  const w = await world(t, { seed: 5, up: { dup: 0.2, reorder: 0.2 } });
  await w.sendMany(200);
  await until('all', () => new Set(w.server.got.data).size === 200);
  const s = w.relay.stats().up;
  t.ok(s.duplicated > 20 && s.duplicated < 60, `${s.duplicated} duplicated`);
  t.ok(s.reordered > 20 && s.reordered < 60, `${s.reordered} reordered`);
  t.equal(w.server.got.data.length, 200 + s.duplicated, 'the server got every datagram, duplicates too');
  const inversions = w.server.got.data.filter((n, i, a) => i > 0 && n < a[i - 1]!).length;
  t.ok(inversions >= s.reordered / 2, `${inversions} out of order at the server`);
});

t.test('delay with jitter', async (t) => {
  const w = await world(t, { up: { delayMs: 80, jitterMs: 40 } });
  const t0 = Date.now();
  for (let i = 0; i < 20; i++) w.send(i);
  await until('all', () => w.client.got.data.length === 20);
  const took = Date.now() - t0;
  t.ok(took >= 80 && took < 1000, `20 datagrams through in ${took} ms (80 ms + 0..40 ms each)`);
  t.equal(w.relay.stats().up.delayed, 20);
});

t.test('as a process: bundled main, stdin commands and SIGUSR1', async (t) => {
  const server = await udp();
  server.on('message', (d, r) => server.send(d, r.port, r.address));
  t.teardown(() => server.close());
  const bundle = await bundleMain(fileURLToPath(new URL('./relay.ts', import.meta.url)));
  registerCleanup(t, bundle.remove);
  const listen = 20_000 + (process.pid % 20_000);
  const p = spawnProc([process.execPath, bundle.file, '--inside', LO, '--outside', LO, '--target', LO, '--ports', `${listen}:${server.address().port}`, '--seed', '9', '--up', 'loss=0']);
  registerCleanup(t, () => p.stop());
  t.match(await p.waitFor(/"ready"/), `"ports":[${listen}]`);
  const client = await udp();
  t.teardown(() => client.close());
  client.send(esp(1), listen, LO);
  await until('echo', () => client.got.data.length === 1);
  p.write('faults up loss=1\n');
  await p.waitFor(/"faults":"up"/);
  client.send(esp(2), listen, LO);
  await sleep(100);
  p.write('stats\n');
  const stats = JSON.parse(await p.waitFor(/"stats"/)) as { stats: { up: { lost: number; received: number } } };
  t.same([stats.stats.up.received, stats.stats.up.lost], [2, 1], 'the second datagram was lost');
  process.kill(p.pid, 'SIGUSR1');
  const moved = JSON.parse(await p.waitFor(/"rebound"/)) as { rebound: { from: number; to: number }[] };
  t.equal(moved.rebound.length, 1, `SIGUSR1 moved the mapping ${moved.rebound[0]?.from} -> ${moved.rebound[0]?.to}`);
  p.write('nonsense\n');
  t.match(await p.waitFor(/"error"/), /unknown command 'nonsense'/);
  p.write('quit\n');
  t.equal((await p.exited).code, 0, 'quit exits 0');
});
