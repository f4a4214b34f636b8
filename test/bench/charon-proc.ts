/**
 * What the bench needs to run strongSwan's charon and keyline in network namespaces: the checks
 * (root, charon, swanctl, the plugins, /dev/net/tun), a pair of namespaces joined by a veth, an
 * isolated charon in one of them, and /proc readings of a process (CPU, RSS).
 *
 *   ns A  192.0.2.1/24  veth0 ═══════ veth0  192.0.2.2/24  ns B
 *
 * Self-contained (not test/interop/charon.ts, whose helpers pull esbuild into the bench bundle);
 * namespaces are named like test/netns/ns.ts's (kltest-<pid>-…) and temp dirs like its bundle
 * dirs (keyline-netns-<pid>-…), so its leftover sweep knows them after a crashed run. Every
 * command is bounded in time; every process is stopped by its own PID.
 *
 * charon 5.9.8 hard-codes /run/charon.pid, so each instance runs in a private mount namespace
 * with its own /run (`unshare --mount` then `mount --bind`); every step execs the next, so the
 * PID spawned is charon's. Its child SAs go to kernel-libipsec (userspace ESP through a TUN
 * device; this kernel has no XFRM ESP), which must come before kernel-netlink in `load`.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const CHARON = '/usr/lib/ipsec/charon';
export const SWANCTL = '/usr/sbin/swanctl';
export const PLUGIN_DIR = '/usr/lib/ipsec/plugins';
/** The plugins every bench charon loads, in this order (libipsec before netlink: the first kernel-ipsec backend wins). */
export const CHARON_LOAD = ['random', 'nonce', 'openssl', 'aes', 'sha1', 'sha2', 'hmac', 'kdf', 'gcm', 'curve25519', 'kernel-libipsec', 'kernel-netlink', 'socket-default', 'vici'];

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Why charon cannot run here, or undefined. */
export function charonMissing(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root (network namespaces)';
  for (const f of [CHARON, SWANCTL, '/dev/net/tun']) {
    try {
      accessSync(f, f.startsWith('/dev') ? constants.R_OK | constants.W_OK : constants.X_OK);
    } catch {
      return `${f} missing`;
    }
  }
  const plugin = CHARON_LOAD.find((p) => !existsSync(`${PLUGIN_DIR}/libstrongswan-${p}.so`));
  return plugin ? `charon plugin ${plugin} missing` : undefined;
}

/** Why namespaces with keyline's TUN bridge cannot be made here, or undefined. */
export function netnsMissing(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root (network namespaces)';
  try {
    accessSync('/dev/net/tun', constants.R_OK | constants.W_OK);
  } catch {
    return '/dev/net/tun missing';
  }
  return onPath('socat') ? undefined : 'socat missing (keyline TUN bridge)';
}

export function onPath(tool: string): boolean {
  return (process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin').split(':').some((d) => {
    try {
      accessSync(join(d, tool), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

export function run(argv: readonly string[], timeoutMs = 30_000, env?: NodeJS.ProcessEnv): Promise<string> {
  return new Promise((resolve, reject) =>
    execFile(argv[0]!, argv.slice(1), { timeout: timeoutMs, killSignal: 'SIGKILL', maxBuffer: 16 << 20, env: env ?? process.env }, (e, out, err) =>
      e ? reject(new Error(`${argv.slice(0, 4).join(' ')}…: ${e.message} ${err}`.trim())) : resolve(out),
    ),
  );
}

/** utime + stime of a process, ms. */
export function cpuOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(f[11]) + Number(f[12])) * 1000) / 100; // fields 14, 15; USER_HZ 100
}

/** Resident set size of a process, bytes (VmRSS of /proc/PID/status). */
export function rssOf(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : NaN;
}

/** The direct children of a process (e.g. keyline's socat). */
export function childrenOf(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/** UDP datagrams the kernel dropped in a namespace because a socket's receive buffer was full. */
export async function rcvbufErrors(ns: string): Promise<number> {
  const snmp = await run(['ip', 'netns', 'exec', ns, 'cat', '/proc/net/snmp']);
  const [head, values] = snmp.split('\n').filter((l) => l.startsWith('Udp:'));
  const i = head?.split(' ').indexOf('RcvbufErrors') ?? -1;
  return i > 0 ? Number(values?.split(' ')[i]) : NaN;
}

// ---- two namespaces ------------------------------------------------------------------------------

export interface NsPair {
  readonly nsA: string;
  readonly nsB: string;
  /** A temp dir for this pair's files (charon configs, key files, sockets). */
  readonly dir: string;
}

let seq = 0;

/** Names and a temp dir; nothing created in the kernel yet. */
export function nsPair(tag: string): NsPair {
  const id = `${process.pid}-${++seq}`;
  return { nsA: `kltest-${id}${tag}-a`, nsB: `kltest-${id}${tag}-b`, dir: mkdtempSync(join(tmpdir(), `keyline-netns-${process.pid}-${tag}-`)) };
}

/**
 * The namespaces, lo up, the veth with 192.0.2.1/24 (A) and 192.0.2.2/24 (B). `quiet`: no IPv6
 * and static neighbours, so that nothing but our own IPv4 traffic crosses the veth (no ARP, no
 * router or neighbour solicitations), which is what lets its counters count IKE messages.
 */
export async function linkPair(p: NsPair, o: { quiet?: boolean } = {}): Promise<void> {
  for (const ns of [p.nsA, p.nsB]) {
    await run(['ip', 'netns', 'add', ns]);
    await run(['ip', '-n', ns, 'link', 'set', 'lo', 'up']);
    if (o.quiet) {
      await run(['ip', 'netns', 'exec', ns, 'sysctl', '-qw', 'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1']);
    }
  }
  await run(['ip', 'link', 'add', 'veth0', 'netns', p.nsA, 'type', 'veth', 'peer', 'name', 'veth0', 'netns', p.nsB]);
  for (const [ns, addr] of [[p.nsA, '192.0.2.1/24'], [p.nsB, '192.0.2.2/24']] as const) {
    await run(['ip', '-n', ns, 'addr', 'add', addr, 'dev', 'veth0']);
    await run(['ip', '-n', ns, 'link', 'set', 'veth0', 'up']);
  }
  if (o.quiet) {
    const mac = async (ns: string) => /link\/ether ([0-9a-f:]+)/.exec(await run(['ip', '-n', ns, 'link', 'show', 'veth0']))?.[1] ?? '';
    const [macA, macB] = [await mac(p.nsA), await mac(p.nsB)];
    await run(['ip', '-n', p.nsA, 'neigh', 'replace', '192.0.2.2', 'lladdr', macB, 'dev', 'veth0', 'nud', 'permanent']);
    await run(['ip', '-n', p.nsB, 'neigh', 'replace', '192.0.2.1', 'lladdr', macA, 'dev', 'veth0', 'nud', 'permanent']);
  }
}

/** Host addresses (e.g. 198.51.100.1/32) on lo in `ns`, in one `ip -batch`. */
export async function addLoAddrs(p: NsPair, ns: string, cidrs: readonly string[]): Promise<void> {
  if (!cidrs.length) return;
  const batch = join(p.dir, `addrs-${ns}.batch`);
  writeFileSync(batch, cidrs.map((c) => `addr add ${c} dev lo`).join('\n') + '\n');
  await run(['ip', '-n', ns, '-batch', batch]);
}

/** Frames and octets sent out of veth0 in `ns` (its interface counters). */
export async function vethTx(ns: string): Promise<{ packets: number; bytes: number }> {
  const out = await run(['ip', 'netns', 'exec', ns, 'cat', '/sys/class/net/veth0/statistics/tx_packets', '/sys/class/net/veth0/statistics/tx_bytes']);
  const [packets, bytes] = out.trim().split('\n').map(Number);
  return { packets: packets ?? NaN, bytes: bytes ?? NaN };
}

/** Removes the namespaces (their processes die with them only if nothing else holds them) and the temp dir. */
export async function dropPair(p: NsPair, keepDir = false): Promise<void> {
  for (const ns of [p.nsA, p.nsB]) await run(['ip', 'netns', 'del', ns], 5000).catch(() => {});
  if (!keepDir) rmSync(p.dir, { recursive: true, force: true });
}

// ---- charon ----------------------------------------------------------------------------------------

export interface CharonOptions {
  /** install_routes (kernel-libipsec routes each remote TS into its TUN device); on by default. */
  readonly installRoutes?: boolean;
  /** charon's ike log level in DIR/charon.log (KEYLINE_BENCH_CHARON_LOG overrides). */
  readonly ikeLog?: number;
}

export interface Charon {
  readonly pid: number;
  readonly dir: string;
  readonly vici: string;
  /** Spawn to vici answering, ms. */
  readonly readyMs: number;
  swanctl(args: readonly string[], timeoutMs?: number): Promise<string>;
  /** swanctl --load-all of this swanctl.conf text. */
  load(conf: string): Promise<void>;
  /** The last lines of charon.log, for error messages. */
  tail(): string;
  stop(): Promise<void>;
}

function strongswanConf(dir: string, o: CharonOptions): string {
  const lvl = process.env.KEYLINE_BENCH_CHARON_LOG;
  return `charon {
    load_modular = no
    load = ${CHARON_LOAD.join(' ')}
    port = 500
    port_nat_t = 4500
    install_virtual_ip = no
    install_routes = ${o.installRoutes === false ? 'no' : 'yes'}
    routing_table = 220
    routing_table_prio = 220
    cache_crls = no
    # the responder's DoS limits out of the way, as keyline's are for the bench (ike-world.ts
    # benchLimits): by default charon demands cookies from 10 half-open IKE SAs on and drops
    # IKE_SA_INITs past 5 half-open from one address, which 32 handshakes in flight from one
    # initiator exceed at once (the initiator then waits for its retransmission timer)
    cookie_threshold = 1000000
    block_threshold = 1000000
    filelog {
        brief {
            path = ${dir}/charon.log
            default = ${lvl ?? '0'}
            ike = ${lvl ?? String(o.ikeLog ?? 1)}
        }
    }
    syslog {
        daemon {
            default = -1
        }
    }
    plugins {
        vici {
            socket = unix://${dir}/charon.vici
        }
        socket-default {
            use_ipv6 = no
        }
    }
}
swanctl {
    socket = unix://${dir}/charon.vici
}
`;
}

/** A unix socket accepts a connection (the server behind it is listening). */
export function answers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(path);
    s.once('connect', () => (s.destroy(), resolve(true)));
    s.once('error', () => resolve(false));
  });
}

/** charon in namespace `ns` with its files in `dir` (a fresh subdirectory of a pair's dir); resolves once vici answers. */
export async function startCharon(ns: string, dir: string, o: CharonOptions = {}): Promise<Charon> {
  mkdirSync(join(dir, 'run'), { recursive: true });
  writeFileSync(join(dir, 'strongswan.conf'), strongswanConf(dir, o));
  const vici = join(dir, 'charon.vici');
  const t0 = performance.now();
  const c: ChildProcess = spawn(
    'ip',
    ['netns', 'exec', ns, 'unshare', '--mount', '--propagation', 'private', 'sh', '-c', 'mount --bind "$1/run" /run && exec env STRONGSWAN_CONF="$1/strongswan.conf" "$2"', 'sh', dir, CHARON],
    { stdio: 'ignore' },
  );
  const pid = c.pid;
  if (pid === undefined) throw new Error('charon: could not spawn');
  const tail = () => (existsSync(join(dir, 'charon.log')) ? readFileSync(join(dir, 'charon.log'), 'utf8').split('\n').slice(-8).join(' | ') : '');
  const stop = async () => {
    if (c.exitCode !== null || c.signalCode !== null) return;
    const gone = new Promise((r) => c.once('exit', r));
    c.kill('SIGTERM');
    const t = setTimeout(() => c.kill('SIGKILL'), 3000);
    await gone;
    clearTimeout(t);
  };
  const env = { ...process.env, STRONGSWAN_CONF: join(dir, 'strongswan.conf'), SWANCTL_DIR: join(dir, 'swanctl') };
  const swanctl = (args: readonly string[], timeoutMs = 120_000) => run([SWANCTL, ...args], timeoutMs, env);
  let readyMs = NaN;
  for (const end = Date.now() + 10_000; Date.now() < end; await sleep(2)) {
    if (c.exitCode !== null) throw new Error(`charon exited at start: ${tail()}`);
    if (existsSync(vici) && (await answers(vici))) {
      readyMs = performance.now() - t0;
      break;
    }
  }
  if (!Number.isFinite(readyMs)) {
    await stop();
    throw new Error('charon: vici not answering after 10 s');
  }
  return {
    pid,
    dir,
    vici,
    readyMs,
    swanctl,
    tail,
    stop,
    async load(conf) {
      const sw = join(dir, 'swanctl');
      // --load-all looks into these; missing ones only cause warnings
      for (const sub of ['conf.d', 'x509', 'x509ca', 'x509aa', 'x509ocsp', 'x509crl', 'x509ac', 'pubkey', 'private', 'rsa', 'ecdsa', 'bliss', 'pkcs8', 'pkcs12']) {
        mkdirSync(join(sw, sub), { recursive: true });
      }
      const file = join(sw, `swanctl-${++seq}.conf`);
      writeFileSync(file, conf, { mode: 0o600 });
      await swanctl(['--load-all', '--noprompt', '--file', file]);
    },
  };
}

/**
 * charon's heap in use from `swanctl --stats`: glibc mallinfo's "used" (uordblks, all arenas)
 * plus "mmap" (blocks malloc mapped on their own), bytes; NaN if charon does not report it.
 */
export async function charonMallocUsed(c: Charon): Promise<number> {
  const out = await c.swanctl(['--stats'], 10_000).catch(() => '');
  const m = /mallinfo: sbrk \d+, mmap (\d+), used (\d+)/.exec(out);
  return m ? Number(m[1]) + Number(m[2]) : NaN;
}
