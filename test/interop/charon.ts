/**
 * strongSwan's charon as a real IKEv2 peer for interop tests: one isolated charon per network
 * namespace (namespaces from test/netns/ns.ts). Adapted from the verified shell harness in
 * ../shared/harness/strongswan (README there), which this project must not depend on at run time.
 *
 * Isolation, per instance, all under one temp dir (removed at cleanup):
 * - charon 5.9.8 hard-codes its pid file as /var/run/charon.pid. So it runs as
 *     ip netns exec NS unshare --mount --propagation private sh -c 'mount --bind DIR/run /run && exec env STRONGSWAN_CONF=… charon'
 *   Every step execs the next, so the PID we spawn IS charon's (checked against its pid file),
 *   and the /run bind mount exists only in charon's private mount namespace: a system charon
 *   (Debian's strongswan-starter unit, if running) and other instances are never touched.
 * - Everything else comes from a generated strongswan.conf (conf/strongswan.conf.in): plugins,
 *   vici socket DIR/charon.vici, logs DIR/charon.log and DIR/charon.brief.log.
 * - swanctl runs in the host namespace (vici is a path-based unix socket) with STRONGSWAN_CONF
 *   and SWANCTL_DIR pointing into DIR; nothing in /etc is read or changed.
 * kernel-libipsec routes the remote TS into its TUN device with a source address from the local
 * TS, so the namespace must own such an address (e.g. 203.0.113.1/32 on lo, as the shell harness
 * does). Without one, the CHILD_SA fails ("error installing route with policy") and charon still
 * completes IKE_AUTH, answering N(TS_UNACCEPTABLE) and keeping the IKE SA.
 * The temp dir is named like ns.ts's bundle dirs (keyline-netns-<pid>-…), so cleanupLeftovers
 * removes it after a crashed run; a crashed run's charon dies with its namespace there too.
 */
import { accessSync, constants, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { readlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Test } from 'tap';
import { registerCleanup, run, spawnIn, type ExecOptions, type ExecResult, type Proc } from '../netns/ns.js';

export const CHARON = '/usr/lib/ipsec/charon';
export const SWANCTL = '/usr/sbin/swanctl';
const PLUGIN_DIR = '/usr/lib/ipsec/plugins';
/** What the tests need, as one apt-get line (also in .ci/run). */
export const APT_PACKAGES = 'strongswan-charon strongswan-swanctl libcharon-extra-plugins libstrongswan-standard-plugins libstrongswan-extra-plugins';
/** Plugins of conf/strongswan.conf.in that do not come with libstrongswan itself, by package. */
const PLUGINS: Record<string, string> = {
  'kernel-libipsec': 'libcharon-extra-plugins',
  openssl: 'libstrongswan-standard-plugins',
  gcm: 'libstrongswan-standard-plugins',
  chapoly: 'libstrongswan-extra-plugins',
  curve25519: 'libstrongswan-extra-plugins',
  vici: 'strongswan-swanctl',
  'socket-default': 'strongswan-libcharon',
};
const TEMPLATE = fileURLToPath(new URL('./conf/strongswan.conf.in', import.meta.url));

/**
 * Root, charon, swanctl, the plugins, unshare and /dev/net/tun (libipsec's TUN device). Missing
 * any is a failure saying what to install, never a skip: a skipped interop test looks like a pass.
 */
export function requireCharon(): void {
  const missing: string[] = [];
  if (process.getuid?.() !== 0) missing.push('root (run as root, e.g. sudo npx tap test/interop/)');
  for (const f of [CHARON, SWANCTL]) if (!executable(f)) missing.push(f);
  for (const [p, pkg] of Object.entries(PLUGINS)) {
    if (!existsSync(`${PLUGIN_DIR}/libstrongswan-${p}.so`)) missing.push(`charon plugin ${p} (${pkg})`);
  }
  for (const tool of ['ip', 'unshare', 'mount']) if (!onPath(tool)) missing.push(`'${tool}' on PATH`);
  try {
    accessSync('/dev/net/tun', constants.R_OK | constants.W_OK);
  } catch {
    missing.push('/dev/net/tun (modprobe tun)');
  }
  if (missing.length) {
    const hint = missing.some((m) => !m.startsWith('root')) ? ` Install: apt-get install -y --no-install-recommends ${APT_PACKAGES}` : '';
    throw new Error(`strongSwan interop tests cannot run, missing: ${missing.join(', ')}.${hint}`);
  }
}

export interface CharonOptions {
  /** swanctl.conf text (connections + secrets), e.g. from charonResponderConf. */
  swanctlConf: string;
  /**
   * A strongswan.conf template to use instead of conf/strongswan.conf.in, with the same @RUNDIR@,
   * @NAME@ and @LVL_*@ placeholders (the vici socket must stay at @RUNDIR@/charon.vici).
   */
  strongswanConf?: string;
  /** ike log level 4: charon.log gets the DH secret, SKEYSEED, SK_* and AUTH octets as hex dumps. */
  logKeys?: boolean;
  /** Registers stop + temp dir removal on `t` (and a log dump if the test failed). */
  t?: Test;
  startTimeoutMs?: number;
}

export interface Charon {
  readonly name: string;
  readonly ns: string;
  readonly pid: number;
  /** The instance's temp dir. */
  readonly dir: string;
  readonly viciPath: string;
  readonly logPath: string;
  readonly briefLogPath: string;
  /** The detailed log as it is now. */
  log(): string;
  /** Any swanctl command against this instance, e.g. swanctl(['--list-sas']). */
  swanctl(args: readonly string[], o?: ExecOptions): Promise<ExecResult>;
  /** `swanctl --list-sas`, parsed (parseListSas). */
  sas(): Promise<ListedIkeSa[]>;
  /** SIGTERM by PID (SIGKILL after graceMs); resolves when charon is gone. Safe to call twice. */
  stop(graceMs?: number): Promise<void>;
  /** Stop, then delete the temp dir (logs included). */
  remove(): Promise<void>;
}

/** Start charon `name` inside namespace `ns` and load `swanctlConf`; resolves once vici answers. */
export async function startCharon(ns: string, name: string, o: CharonOptions): Promise<Charon> {
  if (!/^[\w-]+$/.test(name)) throw new Error(`bad charon instance name '${name}'`);
  const dir = mkdtempSync(join(tmpdir(), `keyline-netns-${process.pid}-charon-${name}-`));
  const viciPath = join(dir, 'charon.vici');
  const logPath = join(dir, 'charon.log');
  const briefLogPath = join(dir, 'charon.brief.log');
  const ssConf = join(dir, 'strongswan.conf');
  const swanctlDir = join(dir, 'swanctl');
  mkdirSync(join(dir, 'run'));
  // swanctl --load-all looks into these; empty is fine, missing ones only cause warnings
  for (const sub of ['conf.d', 'x509', 'x509ca', 'x509aa', 'x509ocsp', 'x509crl', 'x509ac', 'pubkey', 'private', 'rsa', 'ecdsa', 'bliss', 'pkcs8', 'pkcs12']) {
    mkdirSync(join(swanctlDir, sub), { recursive: true });
  }
  writeFileSync(join(swanctlDir, 'swanctl.conf'), o.swanctlConf, { mode: 0o600 });
  writeFileSync(
    ssConf,
    (o.strongswanConf ?? readFileSync(TEMPLATE, 'utf8'))
      .replaceAll('@RUNDIR@', dir)
      .replaceAll('@NAME@', name)
      .replaceAll('@LVL_IKE@', o.logKeys ? '4' : '2')
      .replaceAll('@LVL_CHD@', o.logKeys ? '4' : '1')
      .replaceAll('@LVL_ENC@', '2'),
  );
  writeFileSync(logPath, '');
  writeFileSync(briefLogPath, '');

  const proc: Proc = spawnIn(ns, [
    'unshare', '--mount', '--propagation', 'private',
    'sh', '-c', 'mount --bind "$1/run" /run && exec env STRONGSWAN_CONF="$1/strongswan.conf" "$2"', 'sh', dir, CHARON,
  ]);
  const swanctl = (args: readonly string[], eo?: ExecOptions) =>
    // `env` instead of an env option: ns.ts run() has none, and this keeps one exec helper
    run(['env', `STRONGSWAN_CONF=${ssConf}`, `SWANCTL_DIR=${swanctlDir}`, SWANCTL, ...args], { timeoutMs: 10_000, ...eo });
  const stop = (graceMs = 5000) => proc.stop(graceMs);
  let removed: Promise<void> | undefined;
  const self: Charon = {
    name,
    ns,
    pid: proc.pid,
    dir,
    viciPath,
    logPath,
    briefLogPath,
    log: () => (existsSync(logPath) ? readFileSync(logPath, 'utf8') : ''),
    swanctl,
    sas: async () => parseListSas((await swanctl(['--list-sas'])).stdout),
    stop,
    remove: () => (removed ??= stop().then(() => rmSync(dir, { recursive: true, force: true }))),
  };
  if (o.t) {
    const t = o.t;
    registerCleanup(t, self.remove, () => {
      if (t.passing() && !process.env.KEYLINE_INTEROP_LOGS) return;
      // the brief log: one line per message, proposal, auth or install decision
      const brief = existsSync(briefLogPath) ? readFileSync(briefLogPath, 'utf8') : '';
      const n = t.passing() ? 400 : 40;
      t.comment(`charon ${name} (pid ${proc.pid}) stderr: ${proc.stderr().trim() || '(none)'}\nlast lines of ${briefLogPath}:\n${brief.split('\n').slice(-n).join('\n')}`);
    });
  }

  try {
    await waitReady(self, proc, o.startTimeoutMs ?? 10_000);
    await swanctl(['--load-all', '--clear', '--file', join(swanctlDir, 'swanctl.conf')]);
  } catch (e) {
    if (!o.t) await self.remove();
    throw e;
  }
  return self;
}

/** The pid file (inside our bind-mounted run dir) names our process, and the vici socket exists. */
async function waitReady(c: Charon, proc: Proc, timeoutMs: number): Promise<void> {
  const pidFile = join(c.dir, 'run', 'charon.pid');
  for (const end = Date.now() + timeoutMs; ; await sleep(50)) {
    if (!proc.running()) {
      throw new Error(`charon ${c.name} exited during start-up: ${proc.stderr().trim() || '(no output)'}\n${c.log().split('\n').slice(-20).join('\n')}`);
    }
    const pid = existsSync(pidFile) ? Number(readFileSync(pidFile, 'utf8').trim()) : 0;
    if (pid && existsSync(c.viciPath)) {
      if (pid !== proc.pid) throw new Error(`charon ${c.name}: pid file says ${pid}, we started ${proc.pid}`);
      const exe = readlinkSync(`/proc/${pid}/exe`);
      if (exe !== CHARON) throw new Error(`charon ${c.name}: pid ${pid} runs ${exe}, not ${CHARON}`);
      return;
    }
    if (Date.now() > end) throw new Error(`charon ${c.name} not ready after ${timeoutMs} ms (no pid file or vici socket in ${c.dir})`);
  }
}

/** Proposal strings in strongSwan syntax, e.g. 'aes256gcm16-prfsha256-curve25519'. */
export interface CharonConfOptions {
  /** Connection and child name (what --list-sas shows). */
  name?: string;
  /** Written as hex (0x…), so any bytes work and nothing needs quoting. */
  psk: string | Uint8Array;
  /** FQDN identities (ID_FQDN on the wire). */
  localId: string;
  remoteId: string;
  localAddr?: string;
  remoteAddr?: string;
  ikeProposals: readonly string[];
  espProposals: readonly string[];
  localTs: readonly string[];
  remoteTs: readonly string[];
  /**
   * encap = yes: charon sends a deliberately wrong NAT_DETECTION_SOURCE_IP to force UDP
   * encapsulation. With kernel-libipsec (the template) charon does that anyway, whatever this
   * says ("faking NAT situation to enforce UDP encapsulation"): libipsec only does ESP in UDP.
   */
  encap?: boolean;
  /**
   * The child's start_action: `none` (default) only responds; `start` initiates as soon as the
   * config is loaded (charon as initiator, to remoteAddr port 500); `trap` on the first packet.
   */
  startAction?: 'none' | 'start' | 'trap';
  /** Lifetimes in seconds; charon's defaults (IKE rekey 4 h, CHILD rekey 1 h) when absent. */
  ikeRekeyTime?: number;
  ikeOverTime?: number;
  /** IKE rand_time (charon's default: over_time); 0 turns the jitter off. */
  ikeRandTime?: number;
  childRekeyTime?: number;
  childLifeTime?: number;
  /** Child rand_time (charon's default: life_time - rekey_time); 0 turns the jitter off. */
  randTime?: number;
  dpdDelay?: number;
}
/** The name it had when charon could only respond; the same options. */
export type ResponderConfOptions = CharonConfOptions;

/**
 * A swanctl.conf for one PSK connection between 192.0.2.2 (charon, by default) and 192.0.2.1:
 * a responder with the default startAction 'none', an initiator with 'start'.
 */
export function charonConf(o: CharonConfOptions): string {
  const name = o.name ?? 'keyline';
  const word = (v: string, what: string) => {
    // values go into a config file unquoted: no spaces, braces, quotes, commas or newlines
    if (!/^[\w.@:/%=+-]+$/.test(v)) throw new Error(`charonConf: bad ${what} '${v}'`);
    return v;
  };
  const list = (vs: readonly string[], what: string) => vs.map((v) => word(v, what)).join(', ');
  const secs = (k: string, v: number | undefined, indent: string) => (v === undefined ? '' : `${indent}${k} = ${Math.floor(v)}s\n`);
  const psk = typeof o.psk === 'string' ? Buffer.from(o.psk, 'utf8') : Buffer.from(o.psk);
  if (psk.length === 0) throw new Error('charonConf: empty PSK');
  word(name, 'name');
  const ike = '        ';
  const child = '                ';
  return `# generated by test/interop/charon.ts charonConf()
connections {
    ${name} {
        version = 2
        local_addrs = ${word(o.localAddr ?? '192.0.2.2', 'localAddr')}
        remote_addrs = ${word(o.remoteAddr ?? '192.0.2.1', 'remoteAddr')}
        proposals = ${list(o.ikeProposals, 'IKE proposal')}
        encap = ${o.encap ? 'yes' : 'no'}
        mobike = no
${secs('rekey_time', o.ikeRekeyTime, ike)}${secs('over_time', o.ikeOverTime, ike)}${secs('rand_time', o.ikeRandTime, ike)}${secs('dpd_delay', o.dpdDelay, ike)}        local {
            auth = psk
            id = ${word(o.localId, 'localId')}
        }
        remote {
            auth = psk
            id = ${word(o.remoteId, 'remoteId')}
        }
        children {
            ${name} {
                mode = tunnel
                local_ts = ${list(o.localTs, 'localTs')}
                remote_ts = ${list(o.remoteTs, 'remoteTs')}
                esp_proposals = ${list(o.espProposals, 'ESP proposal')}
                start_action = ${o.startAction ?? 'none'}
${secs('rekey_time', o.childRekeyTime, child)}${secs('life_time', o.childLifeTime, child)}${secs('rand_time', o.randTime, child)}            }
        }
    }
}

secrets {
    ike-${name} {
        id-local = ${o.localId}
        id-remote = ${o.remoteId}
        secret = 0x${psk.toString('hex')}
    }
}
`;
}

/** A swanctl.conf for a PSK responder at 192.0.2.2 that accepts an initiator at 192.0.2.1. */
export function charonResponderConf(o: ResponderConfOptions): string {
  return charonConf({ ...o, startAction: 'none' });
}

/** One IKE SA of `swanctl --list-sas`, with its child SAs. */
export interface ListedIkeSa {
  readonly name: string;
  readonly id: number;
  /** ESTABLISHED, CONNECTING, REKEYING, DELETING, … */
  readonly state: string;
  /** 16 hex digits each. */
  readonly spiI: string;
  readonly spiR: string;
  /** e.g. AES_GCM_16-256/PRF_HMAC_SHA2_256/CURVE_25519 */
  readonly suite: string;
  readonly children: readonly ListedChildSa[];
}
export interface ListedChildSa {
  readonly name: string;
  readonly id: number;
  /** INSTALLED, REKEYING, REKEYED, DELETING, … */
  readonly state: string;
  /** e.g. TUNNEL-in-UDP */
  readonly mode: string;
  /** e.g. ESP:AES_GCM_16-256 */
  readonly suite: string;
  /** 8 hex digits each. */
  readonly spiIn: string;
  readonly spiOut: string;
}

/**
 * The text of `swanctl --list-sas` as data (charon 5.9.8's layout):
 *
 *   keyline: #1, ESTABLISHED, IKEv2, 5c1e…_i 34ab…_r*
 *     AES_GCM_16-256/PRF_HMAC_SHA2_256/CURVE_25519
 *     keyline: #1, reqid 1, INSTALLED, TUNNEL-in-UDP, ESP:AES_GCM_16-256
 *       in  c1234567,      0 bytes,     0 packets
 *       out 89abcdef,      0 bytes,     0 packets
 */
export function parseListSas(text: string): ListedIkeSa[] {
  const out: { -readonly [K in keyof ListedIkeSa]: ListedIkeSa[K] }[] = [];
  let child: { -readonly [K in keyof ListedChildSa]: ListedChildSa[K] } | undefined;
  for (const line of text.split('\n')) {
    const ike = /^(\S+): #(\d+), (\w+), IKEv2, ([0-9a-f]{16})_i\*? ([0-9a-f]{16})_r/.exec(line);
    if (ike) {
      out.push({ name: ike[1]!, id: Number(ike[2]), state: ike[3]!, spiI: ike[4]!, spiR: ike[5]!, suite: '', children: [] });
      child = undefined;
      continue;
    }
    const sa = out[out.length - 1];
    if (!sa) continue;
    const c = /^\s+(\S+): #(\d+), reqid \d+, (\w+), ([\w-]+), (\S+)/.exec(line);
    if (c) {
      child = { name: c[1]!, id: Number(c[2]), state: c[3]!, mode: c[4]!, suite: c[5]!, spiIn: '', spiOut: '' };
      (sa.children as ListedChildSa[]).push(child);
      continue;
    }
    const spi = /^\s+(in|out)\s+([0-9a-f]{8})[,(]/.exec(line);
    if (spi && child) {
      if (spi[1] === 'in') child.spiIn = spi[2]!;
      else child.spiOut = spi[2]!;
      continue;
    }
    const suite = /^\s{2}([A-Z][\w-]+(?:\/[\w-]+)+)\s*$/.exec(line);
    if (suite && !child && !sa.suite) sa.suite = suite[1]!;
  }
  return out;
}

/**
 * Hex dumps charon logs at ike level 4 (logKeys), e.g. 'shared Diffie Hellman secret': every one
 * with that title, oldest first. charon prints "<title> => N bytes @ 0x…" and then lines
 * "   0: 01 02 … ascii" (16 bytes each).
 */
export function loggedHexDumps(log: string, title: string): Uint8Array[] {
  const out: Uint8Array[] = [];
  const lines = log.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const m = / (.+?) => (\d+) bytes @ /.exec(lines[i]!);
    if (!m || !m[1]!.endsWith(title)) continue;
    const want = Number(m[2]);
    const bytes: number[] = [];
    for (let j = i + 1; j < lines.length && bytes.length < want; j++) {
      const d = /\s(\d+): ((?:[0-9A-F]{2} ){1,16})/.exec(lines[j]!);
      if (!d) break;
      bytes.push(...d[2]!.trim().split(' ').map((h) => parseInt(h, 16)));
    }
    if (bytes.length === want) out.push(Uint8Array.from(bytes));
  }
  return out;
}

function executable(f: string): boolean {
  try {
    accessSync(f, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

const onPath = (name: string): boolean => (process.env.PATH ?? '').split(':').some((d) => executable(`${d}/${name}`));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
