/**
 * strongSwan's charon as the initiator, keyline as the responder, for the IKE rate table.
 *
 * charon 5.9.8 here has no load-tester plugin, so the load is plain configuration: N connections
 * (one per keyline connection of ike-world.ts: identity i<i>.bench.example, /32 selectors), loaded
 * with start_action = none, then started through vici (`initiate`, not waiting) with at most
 * `inFlight` under way, the next one when charon reports a child SA up (`child-updown` event):
 * the same pacing as keyline's own initiator. A first batch (the warm-up) comes first.
 *
 *   ns A: keyline (ike-child.ts, responder)  192.0.2.1:4500  ═══ veth ═══  192.0.2.2 ns B: charon
 *
 * Why paced: with all N started at once (start_action = start), keyline's UDP socket (the default
 * 208 KB receive buffer) drops part of the IKE_SA_INIT burst and charon retransmits after 4 s,
 * so the figure would measure charon's retransmission timer, not keyline.
 *
 * charon talks to port 4500 from the first message (local_port = remote_port = 4500, non-ESP
 * marker), so keyline needs one socket. Its child SAs go to kernel-libipsec (this kernel has no
 * XFRM ESP; see test/interop/conf/strongswan.conf.in), which routes each remote TS from an
 * address of the local TS, so namespace B owns 198.51.100.1-254/32 on lo. No traffic flows. The
 * rate is keyline's: from the first IKE_SA_INIT of the batch it receives to its N-th child SA up;
 * CPU per SA from keyline's process and from /proc/<charon>/stat.
 *
 * Root, charon, swanctl and /dev/net/tun are needed; without them the row says why. Self-contained
 * (not test/interop/charon.ts, whose helpers pull esbuild into the bench bundle); namespaces are
 * named like test/netns/ns.ts's (kltest-<pid>-…) so its leftover sweep knows them.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { IkeBenchConfig, RateRow } from './ike.js';
import { spawnChild, type ChildProc } from './ike-proc.js';
import { PSK, RESPONDER_ID, type BenchSuite } from './ike-world.js';
import { Vici } from './vici.js';

const CHARON = '/usr/lib/ipsec/charon';
const SWANCTL = '/usr/sbin/swanctl';
const PLUGINS = ['openssl', 'kernel-libipsec', 'kernel-netlink', 'socket-default', 'vici', 'curve25519', 'gcm'];

/** Why charon cannot run here, or undefined. */
function missing(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root (network namespaces)';
  for (const f of [CHARON, SWANCTL, '/dev/net/tun']) {
    try {
      accessSync(f, f.startsWith('/dev') ? constants.R_OK | constants.W_OK : constants.X_OK);
    } catch {
      return `${f} missing`;
    }
  }
  const plugin = PLUGINS.find((p) => !existsSync(`/usr/lib/ipsec/plugins/libstrongswan-${p}.so`));
  return plugin ? `charon plugin ${plugin} missing` : undefined;
}

function run(argv: readonly string[], timeoutMs = 30_000, env?: NodeJS.ProcessEnv): Promise<string> {
  return new Promise((resolve, reject) =>
    execFile(argv[0]!, argv.slice(1), { timeout: timeoutMs, killSignal: 'SIGKILL', maxBuffer: 16 << 20, env: env ?? process.env }, (e, out, err) =>
      e ? reject(new Error(`${argv.slice(0, 4).join(' ')}…: ${e.message} ${err}`.trim())) : resolve(out),
    ),
  );
}

/** utime + stime of a process, ms. */
function cpuOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(f[11]) + Number(f[12])) * 1000) / 100; // fields 14, 15; USER_HZ 100
}

/** UDP datagrams the kernel dropped in a namespace because a socket's receive buffer was full. */
async function rcvbufErrors(ns: string): Promise<number> {
  const snmp = await run(['ip', 'netns', 'exec', ns, 'cat', '/proc/net/snmp']);
  const [head, values] = snmp.split('\n').filter((l) => l.startsWith('Udp:'));
  const i = head?.split(' ').indexOf('RcvbufErrors') ?? -1;
  return i > 0 ? Number(values?.split(' ')[i]) : NaN;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function strongswanConf(dir: string): string {
  return `charon {
    load_modular = no
    load = random nonce openssl aes sha1 sha2 hmac kdf gcm curve25519 kernel-libipsec kernel-netlink socket-default vici
    port = 500
    port_nat_t = 4500
    install_virtual_ip = no
    cache_crls = no
    filelog {
        brief {
            path = ${dir}/charon.log
            default = ${process.env.KEYLINE_BENCH_CHARON_LOG ?? '0'}
            ike = ${process.env.KEYLINE_BENCH_CHARON_LOG ?? '1'}
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

/** Connections [0, n): the mirror image of ike-world.ts benchPeers (side 'initiator'). */
function swanctlConf(suite: BenchSuite, n: number): string {
  const conns: string[] = [];
  for (let i = 0; i < n; i++) {
    conns.push(`    c${i} {
        local_addrs = 192.0.2.2
        remote_addrs = 192.0.2.1
        local_port = 4500
        remote_port = 4500
        proposals = ${suite.charonIke}
        encap = yes
        mobike = no
        local { auth = psk
            id = i${i}.bench.example }
        remote { auth = psk
            id = ${RESPONDER_ID} }
        children { c${i} { local_ts = 198.51.100.${1 + (i % 254)}/32
                remote_ts = 203.0.113.${1 + Math.floor(i / 254)}/32
                esp_proposals = ${suite.esp}
                start_action = none } }
    }`);
  }
  return `connections {\n${conns.join('\n')}\n}\nsecrets {\n    ike-bench {\n        id-r = ${RESPONDER_ID}\n        secret = 0x${Buffer.from(PSK).toString('hex')}\n    }\n}\n`;
}

interface World {
  readonly dir: string;
  readonly nsA: string;
  readonly nsB: string;
  charon?: ChildProcess;
  keyline?: ChildProc;
  vici?: Vici;
}

async function setUp(w: World, connections: number): Promise<void> {
  for (const ns of [w.nsA, w.nsB]) {
    await run(['ip', 'netns', 'add', ns]);
    await run(['ip', '-n', ns, 'link', 'set', 'lo', 'up']);
  }
  await run(['ip', 'link', 'add', 'veth0', 'netns', w.nsA, 'type', 'veth', 'peer', 'name', 'veth0', 'netns', w.nsB]);
  for (const [ns, addr] of [[w.nsA, '192.0.2.1/24'], [w.nsB, '192.0.2.2/24']] as const) {
    await run(['ip', '-n', ns, 'addr', 'add', addr, 'dev', 'veth0']);
    await run(['ip', '-n', ns, 'link', 'set', 'veth0', 'up']);
  }
  // libipsec routes each child's remote TS from an address of its local TS: charon must own them
  const batch = join(w.dir, 'addrs.batch');
  const hosts = Array.from({ length: Math.min(254, connections) }, (_, i) => `addr add 198.51.100.${i + 1}/32 dev lo`);
  writeFileSync(batch, hosts.join('\n') + '\n');
  await run(['ip', '-n', w.nsB, '-batch', batch]);
}

async function startCharon(w: World): Promise<number> {
  mkdirSync(join(w.dir, 'run'));
  writeFileSync(join(w.dir, 'strongswan.conf'), strongswanConf(w.dir));
  // charon 5.9.8 hard-codes /run/charon.pid: a private mount namespace with our own /run
  const c = spawn(
    'ip',
    ['netns', 'exec', w.nsB, 'unshare', '--mount', '--propagation', 'private', 'sh', '-c', 'mount --bind "$1/run" /run && exec env STRONGSWAN_CONF="$1/strongswan.conf" "$2"', 'sh', w.dir, CHARON],
    { stdio: 'ignore' },
  );
  w.charon = c;
  const pid = c.pid!;
  for (const end = Date.now() + 10_000; Date.now() < end; await sleep(50)) {
    if (c.exitCode !== null) throw new Error(`charon exited at start: ${tail(w)}`);
    if (existsSync(join(w.dir, 'run', 'charon.pid')) && existsSync(join(w.dir, 'charon.vici'))) return pid;
  }
  throw new Error('charon not ready after 10 s');
}

const tail = (w: World) => (existsSync(join(w.dir, 'charon.log')) ? readFileSync(join(w.dir, 'charon.log'), 'utf8').split('\n').slice(-8).join(' | ') : '');

function swanctl(w: World, args: readonly string[], timeoutMs = 60_000): Promise<string> {
  const env = { ...process.env, STRONGSWAN_CONF: join(w.dir, 'strongswan.conf'), SWANCTL_DIR: join(w.dir, 'swanctl') };
  return run([SWANCTL, ...args], timeoutMs, env);
}

async function loadConns(w: World, suite: BenchSuite, n: number): Promise<void> {
  const sw = join(w.dir, 'swanctl');
  // --load-all looks into these; missing ones only cause warnings
  for (const sub of ['conf.d', 'x509', 'x509ca', 'x509aa', 'x509ocsp', 'x509crl', 'x509ac', 'pubkey', 'private', 'rsa', 'ecdsa', 'bliss', 'pkcs8', 'pkcs12']) {
    mkdirSync(join(sw, sub), { recursive: true });
  }
  const file = join(sw, `swanctl-${n}.conf`);
  writeFileSync(file, swanctlConf(suite, n), { mode: 0o600 });
  await swanctl(w, ['--load-all', '--noprompt', '--file', file]);
}

async function tearDown(w: World): Promise<void> {
  w.vici?.close();
  await w.keyline?.close(2000).catch(() => {});
  const c = w.charon;
  if (c && c.exitCode === null && c.pid) {
    const gone = new Promise((r) => c.once('exit', r));
    c.kill('SIGTERM');
    const t = setTimeout(() => c.kill('SIGKILL'), 3000);
    await gone;
    clearTimeout(t);
  }
  for (const ns of [w.nsA, w.nsB]) await run(['ip', 'netns', 'del', ns], 5000).catch(() => {});
  if (process.env.KEYLINE_BENCH_CHARON_LOG) console.error(`charon log kept: ${w.dir}/charon.log`);
  else rmSync(w.dir, { recursive: true, force: true });
}

/**
 * Start charon's connections c<from>…c<to-1> through vici with at most `inFlight` under way; a
 * connection is done when charon reports its child SA up, or failed when `initiate` says so.
 */
async function pacer(vici: Vici, inFlight: number): Promise<(from: number, to: number, timeoutMs?: number) => Promise<{ ok: number; failed: number }>> {
  let onUp: (conn: string) => void = () => {};
  await vici.listen('child-updown', (m) => {
    if (m.values.up === 'yes') for (const s of m.sections) onUp(s);
  });
  return (from, to, timeoutMs = 120_000) =>
    new Promise((resolve, reject) => {
      let next = from;
      let ok = 0;
      let failed = 0;
      const timer = setTimeout(() => reject(new Error(`charon: ${ok} of ${to - from} child SAs up after ${timeoutMs} ms`)), timeoutMs);
      const launch = () => {
        while (next < to && next - from - ok - failed < inFlight) {
          vici.request('initiate', { child: `c${next++}`, timeout: '-1', 'init-limits': 'no', loglevel: '-1' }).then((m) => {
            if (m.values.success !== 'yes') {
              failed++;
              launch();
            }
          }, reject);
        }
        if (ok + failed === to - from) {
          clearTimeout(timer);
          resolve({ ok, failed });
        }
      };
      onUp = (conn) => {
        const i = Number(conn.slice(1));
        if (conn.startsWith('c') && i >= from && i < to) {
          ok++;
          launch();
        }
      };
      launch();
    });
}

let seq = 0;

/** One row: charon initiating `c.sas` IKE SAs (after `c.warmup`) to keyline. */
export async function charonRate(suite: BenchSuite, c: IkeBenchConfig): Promise<RateRow> {
  const base = { setup: 'charon' as const, suite, sas: 0, inFlight: 0, ms: 0, initiator: 'charon' };
  const why = missing();
  if (why) return { ...base, notMeasured: why };
  const id = `${process.pid}-${++seq}`;
  const w: World = { dir: mkdtempSync(join(tmpdir(), `keyline-netns-${process.pid}-bench-`)), nsA: `kltest-${id}bench-a`, nsB: `kltest-${id}bench-b` };
  const total = c.warmup + c.sas;
  try {
    await setUp(w, total);
    const keyline = (w.keyline = spawnChild(['ip', 'netns', 'exec', w.nsA, ...c.childArgv]));
    await keyline.request({ op: 'start', role: 'responder', suite: suite.ike, count: total, listen: '192.0.2.1', listenPort: 4500 }, 'ready');
    const charonPid = await startCharon(w);
    await loadConns(w, suite, total);
    const vici = (w.vici = await Vici.connect(join(w.dir, 'charon.vici')));
    const pace = await pacer(vici, c.inFlight);
    const warm = keyline.request({ op: 'wait', n: c.warmup, timeoutMs: 60_000 }, 'reached', 70_000);
    await pace(0, c.warmup);
    if ((await warm).sas < c.warmup) return { ...base, notMeasured: `warm-up: ${(await warm).sas} of ${c.warmup} SAs up (${tail(w)})` };
    const cpu0 = cpuOf(charonPid);
    const drops0 = await rcvbufErrors(w.nsA);
    const measured = keyline.request({ op: 'wait', n: total, timeoutMs: 120_000 }, 'reached', 130_000);
    const charonSide = await pace(c.warmup, total);
    const r = await measured;
    const charonCpu = cpuOf(charonPid) - cpu0;
    const drops = (await rcvbufErrors(w.nsA)) - drops0;
    const sas = r.sas - c.warmup;
    if (sas < c.sas || charonSide.failed) return { ...base, notMeasured: `${sas} of ${c.sas} SAs up, ${charonSide.failed} failed at charon (${tail(w)})` };
    const note = drops > 0 ? `charon ${suite.ike}: ${drops} datagrams dropped at keyline's socket (receive buffer full)` : undefined;
    return { ...base, sas, inFlight: c.inFlight, ms: r.ms, respCpuMs: r.cpuMs / sas, initCpuMs: charonCpu / sas, ...(note && { note }) };
  } catch (e) {
    return { ...base, notMeasured: (e as Error).message.split('\n')[0]!.slice(0, 160) };
  } finally {
    await tearDown(w);
  }
}
