/**
 * The summary against strongSwan (anchors.ts) with tiny counts, so that it cannot rot: every row
 * has its figures, or says "not measured" for a missing prerequisite (root, charon, iperf3,
 * /dev/net/tun, socat, the built bundle) and nothing else. Nothing here is about time. About
 * 30 s as root with everything installed (three 1 s iperf3 runs among them).
 */
import t from 'tap';
import { fileURLToPath } from 'node:url';
import { bundleMain } from '../netns/ns.js';
import { anchorFigures, anchorTable, type AnchorConfig } from './anchors.js';
import type { IkeBenchConfig } from './ike.js';
import { BENCH_SUITES } from './ike-world.js';

t.setTimeout(120_000);

t.test('summary table with 3 SAs per responder', async (t) => {
  const child = await bundleMain(fileURLToPath(new URL('./ike-child.ts', import.meta.url)));
  t.teardown(child.remove);
  const ike: IkeBenchConfig = { sas: 3, warmup: 2, inFlight: 3, dhMs: 20, setups: [], suites: [BENCH_SUITES[0]], memPoints: [], childArgv: [process.execPath, child.file] };
  const c: AnchorConfig = { ike, memFrom: 3, memTo: 6, childSas: 2, childExtra: 1, iperfSeconds: 1, bundle: 'dist/keyline.js' };
  const f = await anchorFigures(c);
  const out = anchorTable(f, c);
  t.comment(out);
  const lines = out.split('\n');
  t.equal(lines.length, 2 + 2 * ike.suites.length + 16, 'header, rule, a line per figure');
  t.notMatch(out, /NaN/, 'no NaN');
  for (const m of out.matchAll(/not measured: ([^|]*?)(?:\s{2,}|$)/gm)) {
    // Only a missing prerequisite may excuse a figure; a failure with everything installed is a bug.
    t.match(m[1], /needs root|missing/, `not measured: ${m[1]}`);
  }
  if (typeof f.keylineWire !== 'string') {
    t.equal(f.keylineWire.firstSa.messages, 4, 'keyline: IKE_SA_INIT + IKE_AUTH, 4 messages');
    t.equal(f.keylineWire.ccs.messages, 2, 'keyline: CREATE_CHILD_SA, 2 messages');
  }
  if (f.tunnel.charon.firstSa) t.equal(f.tunnel.charon.firstSa.messages, 4, 'strongSwan: 4 messages to the first child SA');
  if (f.tunnel.keyline.firstSa) t.equal(f.tunnel.keyline.firstSa.messages, 4, 'keyline run: 4 messages to the first child SA');
  if (f.tunnel.charon.extraSa) t.equal(f.tunnel.charon.extraSa.messages, 2, 'strongSwan: 2 messages per extra child SA');
});
