import { readFileSync, rmSync, writeFileSync } from 'node:fs';

/**
 * A socat left behind by a keyline that died without cleaning up (SIGKILL, a crash) keeps its
 * TUN device, and procd's respawn would then fail with "interface exists" until that socat
 * happens to exit. So the bridge records socat's PID in a file, and the next start ends that
 * process — only after checking, through /proc, that the PID still belongs to a socat serving
 * this very interface, so a recycled PID is never signalled.
 */
export function recordBridgePid(pidFile: string, pid: number): void {
  writeFileSync(pidFile, `${pid}\n`, { mode: 0o600 });
}

export function forgetBridgePid(pidFile: string): void {
  rmSync(pidFile, { force: true });
}

/** The PID from the file if it is a live socat for `ifname`, else undefined. */
export function staleBridge(pidFile: string, ifname: string, procRoot = '/proc'): number | undefined {
  let pid: number;
  try {
    pid = Number(readFileSync(pidFile, 'utf8').trim());
  } catch {
    return undefined;
  }
  if (!Number.isInteger(pid) || pid <= 1) return undefined;
  try {
    const argv = readFileSync(`${procRoot}/${pid}/cmdline`, 'utf8').split('\0');
    const isSocat = (argv[0] ?? '').endsWith('socat');
    const ours = argv.some((a) => a.startsWith('TUN') && (a.includes(`tun-name=${ifname},`) || a.endsWith(`tun-name=${ifname}`)));
    return isSocat && ours ? pid : undefined;
  } catch {
    return undefined; // not running
  }
}

/** End a stale bridge: SIGTERM, then SIGKILL after `graceMs`; resolves when it is gone. */
export async function reapStaleBridge(pidFile: string, ifname: string, graceMs = 2000): Promise<number | undefined> {
  const pid = staleBridge(pidFile, ifname);
  if (pid === undefined) {
    forgetBridgePid(pidFile);
    return undefined;
  }
  const alive = () => staleBridge(pidFile, ifname) === pid;
  signal(pid, 'SIGTERM');
  for (let waited = 0; alive() && waited < graceMs; waited += 50) await sleep(50);
  if (alive()) signal(pid, 'SIGKILL');
  for (let waited = 0; alive() && waited < 1000; waited += 50) await sleep(50);
  forgetBridgePid(pidFile);
  return pid;
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // already gone
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
