/**
 * The IKE and inline keying bench code, run with tiny counts so that it cannot rot: every setup
 * brings its SAs up and every table row carries positive numbers. Nothing here is about time.
 */
import t from 'tap';
import { fileURLToPath } from 'node:url';
import { bundleMain } from '../netns/ns.js';
import { charonRate } from './charon-load.js';
import { dhRates, ikeMemory, ikeRates, memTable, rateTable, roleTable, type IkeBenchConfig } from './ike.js';
import { BENCH_SUITES } from './ike-world.js';
import { inlineSection, type InlineBenchConfig } from './inline.js';

t.setTimeout(120_000);

const positive = (n: number | undefined) => n !== undefined && Number.isFinite(n) && n > 0;

t.test('IKE bench with 5 SAs per run', async (t) => {
  // The second process runs ike-child.ts as a plain Node script, bundled like the netns children.
  const child = await bundleMain(fileURLToPath(new URL('./ike-child.ts', import.meta.url)));
  t.teardown(child.remove);
  const c: IkeBenchConfig = {
    sas: 5,
    warmup: 2,
    inFlight: 3,
    dhMs: 20,
    setups: ['memory', 'udp-1', 'udp-2'],
    suites: BENCH_SUITES,
    memPoints: [4, 8],
    childArgv: [process.execPath, child.file],
  };

  const { node: dh, keyline } = dhRates(c.dhMs);
  t.ok(positive(dh.x25519) && positive(dh.modp2048), `DH reference ${JSON.stringify(dh)}`);
  t.ok(positive(keyline.x25519) && positive(keyline.modp2048), `keyline's DH ${JSON.stringify(keyline)}`);

  const rows = await ikeRates(c);
  t.equal(rows.length, c.setups.length * c.suites.length, 'one row per setup and suite');
  for (const r of rows) {
    const what = `${r.setup} ${r.suite.ike}`;
    t.equal(r.sas, c.sas, `${what}: every SA up`);
    t.ok(positive(r.ms), `${what}: wall time`);
    if (r.setup === 'udp-2') t.ok(positive(r.respCpuMs) && positive(r.initCpuMs), `${what}: CPU per role`);
    else t.ok(positive(r.bothCpuMs), `${what}: CPU of the one process`);
  }
  const rates = rateTable(rows, dh);
  t.equal(rates.split('\n').length, 2 + rows.length, 'rate table: header, rule, a line per row');
  t.notMatch(rates, /n\/a|NaN/, 'rate table has every figure');
  t.notMatch(roleTable(rows, dh), /n\/a|NaN/, 'role table has every figure');

  const mem = await ikeMemory(c);
  t.same(
    mem.map((m) => [m.connections, m.sas]),
    [
      [4, 4],
      [8, 4],
      [8, 8],
    ],
    'one responder per point, measured at every point up to its own',
  );
  for (const m of mem) t.ok(positive(m.heapTotal) && positive(m.rssTotal) && Number.isFinite(m.heap), `memory at ${m.sas} of ${m.connections}`);
  t.match(memTable(mem), /^connections/);
});

t.test('charon row: figures, or why not', async (t) => {
  const child = await bundleMain(fileURLToPath(new URL('./ike-child.ts', import.meta.url)));
  t.teardown(child.remove);
  const c = { sas: 3, warmup: 2, inFlight: 3, dhMs: 20, setups: [], suites: BENCH_SUITES, memPoints: [], childArgv: [process.execPath, child.file] } satisfies IkeBenchConfig;
  const r = await charonRate(BENCH_SUITES[0], c);
  if (r.notMeasured !== undefined) {
    // Only a missing prerequisite may excuse it; a failure with everything installed is a bug.
    t.match(r.notMeasured, /needs root|missing/, `not measured: ${r.notMeasured}`);
    return;
  }
  t.equal(r.sas, c.sas, 'every SA up');
  // charon's CPU comes from /proc in 10 ms ticks: 3 SAs may well round to 0, never below.
  t.ok(positive(r.ms) && positive(r.respCpuMs) && (r.initCpuMs ?? -1) >= 0, 'wall time and CPU of both sides');
});

t.test('inline keying bench with 32 flows and 5 rekeys', async (t) => {
  const c: InlineBenchConfig = { flows: 32, warmup: 8, inFlight: 16, rekeys: 5, latencySamples: 5, onTrafficSamples: 2, memFrom: 16, memCap: 48 };
  const lines: string[] = [];
  const f = await inlineSection((s) => lines.push(s), c);
  t.equal(f.inline.n, c.flows, 'every inline pair completed');
  t.equal(f.ike.n, c.rekeys, 'every CREATE_CHILD_SA completed');
  for (const [k, v] of Object.entries(f)) if (typeof v === 'number') t.ok(Number.isFinite(v), `${k} is a number (${v})`);
  t.equal(f.offerBytes, 48, 'the OFFER adds 48 octets to its packet');
  t.equal(f.answerBytes, 64, 'the ANSWER adds 64 octets to its packet');
  t.equal(f.ccsMessages, 2, 'CREATE_CHILD_SA: two messages per child');
  t.equal(f.deleteMessages, 2, "and the rekey's DELETE two more");
  const out = lines.join('\n');
  t.notMatch(out.replace(/n\/a\s+n\/a/, ''), /n\/a|NaN/, 'the table has every figure (but the IKE memory cell)');
  t.match(out, /new SA pairs per second/);
});
