/**
 * The IKE part of `npm run bench`: configuration from the environment, the runs in order, the
 * tables with what they mean. About 60 s with the defaults on a 2-core machine.
 */
import { charonRate } from './charon-load.js';
import { dhRates, ikeMemory, ikeRates, memTable, rateTable, roleTable, type IkeBenchConfig, type Setup } from './ike.js';
import { bundleChildArgv } from './ike-proc.js';
import { BENCH_SUITES, driverCapsNote, LIMIT_NOTE } from './ike-world.js';

const num = (v: string | undefined, d: number) => (v === undefined || v === '' ? d : Number(v));
const SETUPS: readonly Setup[] = ['memory', 'udp-1', 'udp-2'];
function list<T extends string>(v: string | undefined, all: readonly T[]): T[] {
  if (v === undefined || v === '') return [...all];
  const want = v.split(',');
  const bad = want.filter((w) => !all.includes(w as T));
  if (bad.length) throw new Error(`bench: unknown ${bad.join(', ')} (have ${all.join(', ')})`);
  return want as T[];
}

export function configFromEnv(env: NodeJS.ProcessEnv = process.env): IkeBenchConfig {
  const sas = num(env.KEYLINE_BENCH_SAS, 500);
  return {
    sas,
    warmup: Math.min(100, Math.max(5, Math.round(sas / 10))),
    inFlight: num(env.KEYLINE_BENCH_INFLIGHT, 32),
    dhMs: num(env.KEYLINE_BENCH_DH_MS, 500),
    setups: list(env.KEYLINE_BENCH_SETUPS, SETUPS),
    suites: BENCH_SUITES.filter((s) => list(env.KEYLINE_BENCH_GROUPS, ['x25519', 'modp2048']).includes(s.group)),
    memPoints: (env.KEYLINE_BENCH_MEM ?? '1000,4000').split(',').map(Number).filter((n) => n > 0),
    childArgv: bundleChildArgv(),
  };
}

export async function ikeSection(print: (s: string) => void, c: IkeBenchConfig = configFromEnv()): Promise<void> {
  const started = performance.now();
  print('\nIKE SA setup: IKE_SA_INIT + IKE_AUTH (PSK) with one child SA installed on both sides, node:crypto backend.');
  print(`${c.sas} SAs measured per run after ${c.warmup} warm-up SAs (KEYLINE_BENCH_SAS), one connection per SA (own ID, reqid,`);
  print(`/32 selectors) on both sides, ${c.inFlight} handshakes in flight (KEYLINE_BENCH_INFLIGHT; charon paced the same way through vici).`);
  const { node: dh, keyline } = dhRates(c.dhMs, c.suites);
  print('DH reference, key pair + shared secret per second on one core, node:crypto called directly:');
  print(`  X25519 ${Math.round(dh.x25519)}, MODP-2048 (256-bit exponent) ${Math.round(dh.modp2048)};`);
  print(`  through keyline's newKeyExchange as the engine calls it: X25519 ${Math.round(keyline.x25519)}, MODP-2048 ${Math.round(keyline.modp2048)}`);
  const rows = await ikeRates(c);
  if (process.env.KEYLINE_BENCH_CHARON !== '0') for (const suite of c.suites) rows.push(await charonRate(suite, c));
  print('');
  print(rateTable(rows, dh));
  for (const r of rows) if (r.note) print(r.note);
  print('DH bound: the SAs/s the DH alone allows, from the node:crypto reference (each side makes one key pair and one');
  print('shared secret per SA; one process does both sides on one thread: DH pairs/s / 2; two processes: a core each).');
  print('\nCPU time per SA by role (process user+sys CPU over the measured SAs; GC threads included)');
  print(roleTable(rows, dh));
  print(`\n${LIMIT_NOTE}; DPD off; log level info, lines formatted but not written.`);

  if (c.memPoints.length) {
    const suite = c.suites[0]!;
    print('\nResponder memory per IKE SA with its child SA, after gc, against the same responder before its first SA.');
    print(`The responder is this process (UDP), the initiator another; ${suite.ike}; its connections are addr=any`);
    print('road warriors with one ID each (KEYLINE_BENCH_MEM: SA counts; one responder per count, configured for it).');
    print(memTable(await ikeMemory(c, suite)));
    const caps = driverCapsNote();
    if (caps) print(caps);
  }
  print(`(IKE bench: ${((performance.now() - started) / 1000).toFixed(0)} s)`);
}
