/**
 * ESP floods against `keyline run` (the built bundle, real UDP) while its tunnel carries a ping:
 * agent B's port 4500 gets ESP_FLOOD.rate datagrams per second for ESP_FLOOD.ms, first with
 * random SPIs (dropped as `unknown-spi`, data-plane counter), then with the live child SA's SPI,
 * sequence numbers ahead of the replay window and garbage where the ICV must verify (dropped as
 * `auth` on that SA). Each datagram is either counted by B or lost in B's kernel socket buffer
 * (RcvbufErrors): counted + lost = sent. The real SA's traffic goes on (ping loss bounded), its
 * replay window and packet counters do not move on a forged packet, and the rate at which B
 * drops and counts is reported. Root only; never skips.
 */
import t from 'tap';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { bundleMain, cleanupLeftovers, registerCleanup, requireNetnsTools } from '../netns/ns.js';
import { espFloodRun } from './floods.js';
import { attackWorld, childOf } from './world.js';

const BUNDLE = resolve('dist/keyline.js');

t.test('ESP floods with random SPIs and with bad ICVs: dropped, counted, the tunnel goes on', async (t) => {
  requireNetnsTools();
  t.ok(existsSync(BUNDLE), `${BUNDLE} exists (npm test builds it first)`);
  await cleanupLeftovers();
  const child = await bundleMain(resolve('test/attack/child.ts'));
  registerCleanup(t, child.remove);
  const w = await attackWorld({ bundle: BUNDLE, childArgv: [process.execPath, child.file], peerExtra: 'dpd=off' });
  registerCleanup(t, w.close);
  t.ok((await w.ping(3)).received >= 3, 'the tunnel works before');

  for (const kind of ['random-spi', 'bad-icv'] as const) {
    const before = childOf(await w.show('b'))!;
    const r = await espFloodRun(w, kind);
    const after = childOf(await w.show('b'))!;
    t.comment(
      `${kind}: offered ${r.offeredPerS.toFixed(0)}/s (${r.sent}), counted ${r.counted} = ${r.countedPerS.toFixed(0)}/s, lost in the socket buffer ${r.lost}, ping ${r.ping.received}/${r.ping.sent}`,
    );
    t.ok(r.counted > 0 && r.counted <= r.sent, `${kind}: ${r.counted} of ${r.sent} dropped and counted`);
    // The ping's own packets may be among the lost ones: at most that many more.
    t.ok(r.counted + r.lost >= r.sent && r.counted + r.lost <= r.sent + r.ping.sent * 2, `${kind}: counted ${r.counted} + lost ${r.lost} = sent ${r.sent}`);
    // The pings share the socket buffer with the flood: when the machine cannot keep up and the
    // buffer overflows, they may lose what the flood loses, not much more.
    const lostShare = r.lost / r.sent;
    const pingLoss = 1 - r.ping.received / r.ping.sent;
    t.ok(r.ping.received > 0 && pingLoss <= Math.max(0.2, lostShare + 0.15), `${kind}: the real traffic goes on: ${r.ping.received}/${r.ping.sent} pings (the flood lost ${(lostShare * 100).toFixed(0)}% in the buffer)`);
    t.equal(after.spiIn, before.spiIn, `${kind}: the same child SA`);
    // Inbound packets: only the pings' (authenticated) ones were added.
    t.ok(after.in.packets - before.in.packets <= r.ping.sent, `${kind}: inbound packet count rose only by the pings' (${after.in.packets - before.in.packets})`);
  }
  const drops = childOf(await w.show('b'))!.in.drops;
  t.equal(drops['replay'] ?? 0, 0, 'no forged packet reached the replay window as a replay');
  t.ok((await w.ping(5)).received >= 5, 'the tunnel works after');
  t.same(w.agents.b.stderr().split('\n').filter((l) => /^error:/.test(l)), [], "no errors in B's log");
});
