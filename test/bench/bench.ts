/**
 * `npm run bench`: prints tables, asserts nothing about time. Each figure is set against a
 * ceiling measured in the same run (OpenSSL on this CPU for ESP, node:crypto's Diffie-Hellman
 * for IKE), as a ratio, because absolute numbers move ±30% on a shared machine.
 *
 * Environment: BENCH_MS (ESP, per figure), KEYLINE_BENCH_SAS (IKE SAs per rate run),
 * KEYLINE_BENCH_INFLIGHT, KEYLINE_BENCH_MEM (responder memory points, e.g. 1000,10000; empty for
 * none), KEYLINE_BENCH_SETUPS (memory,udp-1,udp-2), KEYLINE_BENCH_GROUPS (x25519,modp2048),
 * KEYLINE_BENCH_DH_MS, KEYLINE_BENCH_ONLY=anchors|esp|ike|inline|attack, KEYLINE_BENCH_CHARON=0 to leave strongSwan
 * out of the IKE table; inline keying: KEYLINE_BENCH_INLINE_FLOWS, KEYLINE_BENCH_INLINE_REKEYS,
 * KEYLINE_BENCH_INLINE_INFLIGHT, KEYLINE_BENCH_INLINE_CAP (see inline.ts); the summary against
 * strongSwan (anchors.ts, printed first): KEYLINE_BENCH_ANCHOR_MEM=FROM,TO (IKE SAs),
 * KEYLINE_BENCH_ANCHOR_CHILDREN=N,K (N IKE SAs, K more children each), KEYLINE_BENCH_IPERF_S, and
 * KEYLINE_BENCH_SAS / _INFLIGHT / _GROUPS as for the IKE table.
 * Floods (attack.ts, root): KEYLINE_BENCH_ATTACK_RATES, KEYLINE_BENCH_ATTACK_MS.
 * `node dist/keyline-bench.js ike-child` is the second process of the IKE bench (ike-child.ts),
 * `attack-child` the flooder of the attack bench.
 */
import os from 'node:os';
import { readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { nodeBackend, nobleBackend } from '../../src/crypto/index.js';
import { espBench } from './esp.js';
import { opensslVersion } from './openssl.js';
import { anchorConfigFromEnv, anchorSection } from './anchors.js';
import { configFromEnv, ikeSection } from './ike-section.js';
import { main as ikeChild } from './ike-child.js';
import { inlineSection } from './inline.js';
import { attackChild, attackSection } from './attack.js';

async function bench(): Promise<void> {
  const only = process.env.KEYLINE_BENCH_ONLY;
  const want = (section: string) => !only || only === section;
  const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
  console.log(`keyline bench: ${new Date().toISOString().slice(0, 10)}, ${cpu} x${os.cpus().length}, Node ${process.version}, ${opensslVersion()}`);
  const started = performance.now();
  if (want('anchors')) await anchorSection((s) => console.log(s), anchorConfigFromEnv(configFromEnv()));
  if (want('esp')) {
    const ms = Number(process.env.BENCH_MS ?? 500);
    console.log(`each figure measured for ${ms} ms (BENCH_MS); payload MB/s; ratios against openssl speed -evp in this run\n`);
    console.log('ESP seal/open (RFC 4303), per packet, ESN on');
    console.log(espBench([nodeBackend, nobleBackend], ms));
  }
  if (want('ike')) await ikeSection((s) => console.log(s));
  if (want('inline')) await inlineSection((s) => console.log(s));
  if (want('attack')) await attackSection((s) => console.log(s));

  const bundle = readFileSync('dist/keyline.js');
  console.log(`\nbundle dist/keyline.js: ${(bundle.length / 1024).toFixed(1)} KB raw, ${(gzipSync(bundle, { level: 9 }).length / 1024).toFixed(1)} KB gzipped`);
  console.log(`(bench: ${((performance.now() - started) / 1000).toFixed(0)} s)`);
}

if (process.argv[2] === 'ike-child') void ikeChild(process.argv.slice(3));
else if (process.argv[2] === 'attack-child') void attackChild(process.argv.slice(3));
else
  bench().then(
    () => process.exit(0),
    (e: unknown) => {
      console.error(e);
      process.exit(1);
    },
  );
