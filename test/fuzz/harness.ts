/**
 * The fuzz loop shared by test/fuzz/*.test.ts: a time budget per target, one seed per input, a
 * hang check per input, and failing inputs written out so they reproduce.
 *
 *   KEYLINE_FUZZ_MS     time per target in ms (default 4000; `npm test` runs every target once)
 *   KEYLINE_FUZZ_SEED   first input's seed (default fixed, so `npm test` is repeatable)
 *   KEYLINE_FUZZ_RUNS   stop after this many inputs (1 with a failing seed replays that input)
 *   KEYLINE_FUZZ_OUT    folder for failing inputs (default fuzz-out/)
 *
 * Input i of a target is made from seed KEYLINE_FUZZ_SEED + i alone, so a reported seed replays
 * with `KEYLINE_FUZZ_SEED=<seed> KEYLINE_FUZZ_RUNS=1 npx tap test/fuzz/<file>`.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { Test } from 'tap';
import { seeded, type Rng } from './mutate.js';

const num = (v: string | undefined, d: number) => (v === undefined || v === '' ? d : Number(v));
export const FUZZ_MS = num(process.env['KEYLINE_FUZZ_MS'], 4000);
export const FIRST_SEED = num(process.env['KEYLINE_FUZZ_SEED'], 0x6b6c0001) >>> 0;
export const MAX_RUNS = num(process.env['KEYLINE_FUZZ_RUNS'], Infinity);
export const OUT_DIR = process.env['KEYLINE_FUZZ_OUT'] ?? 'fuzz-out';
/** Processing one input for longer than this is a hang (checked twice, to rule out a GC pause). */
export const HANG_MS = 100;
const MAX_FAILURES = 5;

export interface Target<T> {
  /** Build input from its generator (the seed is known to the harness). */
  make(r: Rng): T;
  /** Feed it in: a string is a failure; a throw is one too. */
  run(input: T): string | undefined | Promise<string | undefined>;
  /** The input as text for the report and the fuzz-out file (hex for bytes). */
  show(input: T): string;
}

export interface FuzzResult {
  runs: number;
  failures: string[];
}

/** Run `target` for the budget (a share of it: `share` × KEYLINE_FUZZ_MS); report and assert. */
export async function fuzz<T>(t: Test, name: string, target: Target<T>, share = 1): Promise<FuzzResult> {
  const budget = FUZZ_MS * share;
  const start = performance.now();
  const failures: string[] = [];
  let runs = 0;
  let slowest = 0;
  while (runs < MAX_RUNS && failures.length < MAX_FAILURES && (runs === 0 || performance.now() - start < budget)) {
    const seed = (FIRST_SEED + runs++) >>> 0;
    const input = target.make(seeded(seed));
    let why: string | undefined;
    try {
      let r = await timed(() => target.run(input));
      if (r.ms > HANG_MS) r = await timed(() => target.run(target.make(seeded(seed))));
      slowest = Math.max(slowest, r.ms);
      why = r.why ?? (r.ms > HANG_MS ? `took ${r.ms.toFixed(0)} ms twice (limit ${HANG_MS})` : undefined);
    } catch (e) {
      why = `threw ${(e as Error)?.stack ?? String(e)}`;
    }
    if (why) failures.push(report(name, seed, why, target.show(input)));
  }
  const ms = performance.now() - start;
  t.comment(`${name}: ${runs} runs in ${(ms / 1000).toFixed(1)} s, slowest input ${slowest.toFixed(1)} ms`);
  t.same(failures, [], `${name}: no failure in ${runs} runs`);
  return { runs, failures };
}

async function timed(fn: () => string | undefined | Promise<string | undefined>): Promise<{ ms: number; why: string | undefined }> {
  const t0 = performance.now();
  const why = await fn();
  return { ms: performance.now() - t0, why };
}

/** The report line, and the input written to OUT_DIR/<name>-<seed>.txt. */
function report(name: string, seed: number, why: string, input: string): string {
  const file = join(OUT_DIR, `${name.replace(/[^A-Za-z0-9_.-]+/g, '-')}-${seed}.txt`);
  try {
    mkdirSync(OUT_DIR, { recursive: true });
    writeFileSync(file, `target ${name}\nseed ${seed}\nwhy ${why}\ninput ${input}\n`);
  } catch {
    // reporting must not hide the failure itself
  }
  return `${name} seed ${seed}: ${why.split('\n')[0]} (input in ${file}): ${input.slice(0, 400)}`;
}
