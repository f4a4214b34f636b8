/** Paths and tools shared by the tests of targets/ (the OpenWrt package and the systemd unit). */
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';

export const ROOT = resolve('.');
export const BUNDLE = resolve('dist/keyline.js');
export const OPENWRT = resolve('targets/openwrt');
export const FILES = join(OPENWRT, 'files');
export const EXAMPLES = join(OPENWRT, 'examples');
export const UNIT = resolve('targets/linux/keyline.service');
export const VERSION: string = JSON.parse(readFileSync('package.json', 'utf8')).version;

/** The layout every target shares: where the package puts things and what procd and systemd run. */
export const LAYOUT = {
  bundle: '/usr/lib/keyline/keyline.js',
  wrapper: '/usr/sbin/keyline',
  init: '/etc/init.d/keyline',
  keys: '/etc/keyline/keys',
  command: ['/usr/sbin/keyline', 'run', '--config', '/etc/keyline/keys'],
} as const;

export function run(cmd: string, args: readonly string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string } = {}): SpawnSyncReturns<string> {
  return spawnSync(cmd, args, { encoding: 'utf8', timeout: 30_000, cwd: opts.cwd ?? ROOT, env: opts.env ?? process.env });
}

/**
 * A tool CI installs (.ci/run). Missing, it fails the test with what to install: a check that
 * skipped itself quietly would let a broken script through.
 */
export function requireTool(name: string, debianPackage: string, probe: readonly string[] = ['--version']): void {
  const r = spawnSync(name, probe, { encoding: 'utf8' });
  if (r.error) throw new Error(`${name} not found: apt-get install ${debianPackage} (.ci/run installs it)`);
}

/** Files under `dir` (recursively, node_modules aside) whose first line matches `shebang`. */
function scriptsUnder(dir: string, shebang: RegExp): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) {
      if (name !== 'node_modules') out.push(...scriptsUnder(p, shebang));
    } else if (shebang.test(readFileSync(p, 'utf8').split('\n', 1)[0] ?? '')) out.push(p);
  }
  return out;
}

/** Files under `dir` whose first line is a /bin/sh shebang. */
export const shellFiles = (dir: string): string[] => scriptsUnder(dir, /^#!\/bin\/sh(\s|$)/);
/** Files under `dir` whose first line is a bash shebang. */
export const bashFiles = (dir: string): string[] => scriptsUnder(dir, /^#!\/(bin\/bash|usr\/bin\/env bash)(\s|$)/);
