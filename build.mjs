#!/usr/bin/env node
// Bundles keyline into ONE file, dist/keyline.js, for Node 20 (OpenWrt 24.10 ships Node 20.20).
// Prints the size raw and gzipped and fails when over budget; the budget goes down as the code
// settles. Also builds the benchmark (dist/keyline-bench.js), which has no budget.
import { build } from 'esbuild';
import { gzipSync } from 'node:zlib';
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';

/**
 * Size budget of dist/keyline.js, in bytes. IKEv2 (both roles, rekeying, cookies, DPD) took the
 * bundle from 95 to about 200 KB raw, 75 KB gzipped; @noble (the fallback crypto and X25519/MODP)
 * is a quarter of it. Inline keying, the control socket and the XFRM driver took it to about
 * 270 KB raw, 100 KB gzipped; the budget leaves a little room over that, no more.
 */
const BUDGET = { raw: 320 * 1024, gzip: 112 * 1024 };

const quiet = process.argv.includes('--quiet');
const pkg = JSON.parse(readFileSync('package.json', 'utf8'));
const common = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  // CommonJS output: on a router the file lives in /usr/lib/keyline with no package.json, where
  // Node treats .js as CommonJS. The @noble packages are ESM-only; esbuild converts them.
  format: 'cjs',
  minify: true,
  legalComments: 'none',
  define: { KEYLINE_VERSION: JSON.stringify(pkg.version) },
  logLevel: 'warning',
};

mkdirSync('dist', { recursive: true });
// The repository's package.json says "type": "module" (for the TypeScript sources and tests);
// this one keeps the bundles CommonJS inside dist/ too.
writeFileSync('dist/package.json', '{ "type": "commonjs" }\n');

await build({ ...common, entryPoints: ['src/main.ts'], outfile: 'dist/keyline.js', banner: { js: '#!/usr/bin/env node' } });
await build({ ...common, entryPoints: ['test/bench/bench.ts'], outfile: 'dist/keyline-bench.js', minify: false });

const raw = readFileSync('dist/keyline.js');
const gz = gzipSync(raw, { level: 9 }).length;
const kb = (n) => (n / 1024).toFixed(1) + ' KB';
const over = raw.length > BUDGET.raw || gz > BUDGET.gzip;
if (!quiet || over) {
  console.log(`dist/keyline.js: ${kb(raw.length)} raw (budget ${kb(BUDGET.raw)}), ${kb(gz)} gzipped (budget ${kb(BUDGET.gzip)})`);
}
if (over) {
  console.error('build: bundle over budget');
  process.exit(1);
}
