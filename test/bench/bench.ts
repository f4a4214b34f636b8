/**
 * `npm run bench`: prints tables, asserts nothing about time. Each figure is set against a
 * ceiling measured in the same run (OpenSSL on this CPU), as a ratio, because absolute numbers
 * move ±30% on a shared machine.
 */
import os from 'node:os';
import { readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { nodeBackend, nobleBackend } from '../../src/crypto/index.js';
import { espBench } from './esp.js';
import { opensslVersion } from './openssl.js';

const ms = Number(process.env.BENCH_MS ?? 500);
const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
console.log(`keyline bench: ${new Date().toISOString().slice(0, 10)}, ${cpu} x${os.cpus().length}, Node ${process.version}, ${opensslVersion()}`);
console.log(`each figure measured for ${ms} ms (BENCH_MS); payload MB/s; ratios against openssl speed -evp in this run\n`);
console.log('ESP seal/open (RFC 4303), per packet, ESN on');
console.log(espBench([nodeBackend, nobleBackend], ms));

const bundle = readFileSync('dist/keyline.js');
console.log(`\nbundle dist/keyline.js: ${(bundle.length / 1024).toFixed(1)} KB raw, ${(gzipSync(bundle, { level: 9 }).length / 1024).toFixed(1)} KB gzipped`);
