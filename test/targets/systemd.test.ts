/**
 * The systemd unit: the same command and layout as the OpenWrt package, the hardening it is
 * meant to have (and none that would break node, socat or the TUN device), and systemd's own
 * reading of it (systemd-analyze verify; .ci/run installs systemd for it).
 */
import t from 'tap';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FILES, LAYOUT, run, UNIT } from './helpers.js';

/** Section -> key -> values (a key may repeat), comments and blank lines dropped. */
function parseUnit(text: string): Map<string, Map<string, string[]>> {
  const out = new Map<string, Map<string, string[]>>();
  let section: Map<string, string[]> | undefined;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const s = /^\[(.+)\]$/.exec(line);
    if (s) out.set(s[1]!, (section = new Map()));
    else {
      const eq = line.indexOf('=');
      if (eq < 0 || !section) throw new Error(`keyline.service: cannot read '${line}'`);
      const key = line.slice(0, eq);
      section.set(key, [...(section.get(key) ?? []), line.slice(eq + 1)]);
    }
  }
  return out;
}

const text = readFileSync(UNIT, 'utf8');
const unit = parseUnit(text);
const service = unit.get('Service') ?? new Map<string, string[]>();
const one = (key: string) => service.get(key)?.at(-1);

t.test('ExecStart is what procd runs, with the package layout', async (t) => {
  t.equal(one('ExecStart'), LAYOUT.command.join(' '));
  const init = readFileSync(join(FILES, 'keyline.init'), 'utf8');
  t.match(init, new RegExp(`^PROG=${LAYOUT.wrapper}$`, 'm'), 'the init script runs the same wrapper');
  t.match(init, new RegExp(`^KEYS=${LAYOUT.keys}$`, 'm'), 'with the same key file');
  t.equal(one('ExecReload'), '/bin/kill -HUP $MAINPID', 'reload is SIGHUP, as under procd');
  t.equal(one('Restart'), 'on-failure');
  t.equal(one('RestartPreventExitStatus'), '2', 'a key file error is not retried');
  t.equal(one('KillMode'), 'mixed', 'SIGTERM to keyline only; it stops its socat itself');
  t.equal(unit.get('Install')?.get('WantedBy')?.[0], 'multi-user.target');
});

t.test('hardening', async (t) => {
  const caps = 'CAP_NET_ADMIN CAP_NET_BIND_SERVICE';
  t.equal(one('CapabilityBoundingSet'), caps, 'TUN, routes and ports 500/4500; nothing else');
  t.equal(one('AmbientCapabilities'), caps, 'ambient, so socat and ip inherit them');
  for (const [key, value] of [
    ['NoNewPrivileges', 'yes'],
    ['ProtectSystem', 'strict'],
    ['ProtectHome', 'yes'],
    ['PrivateTmp', 'yes'],
    ['LockPersonality', 'yes'],
    ['ReadWritePaths', '/run'],
    ['RestrictAddressFamilies', 'AF_UNIX AF_INET AF_INET6 AF_NETLINK'],
  ] as const) {
    t.equal(one(key), value, `${key}=${value}`);
  }
  // What would break keyline: V8's JIT needs W+X memory; socat needs /dev/net/tun.
  t.notOk(service.has('MemoryDenyWriteExecute') && one('MemoryDenyWriteExecute') !== 'no', 'no MemoryDenyWriteExecute');
  t.notOk(['yes', 'true', '1'].includes(one('PrivateDevices') ?? ''), 'no PrivateDevices');
  if (service.has('DevicePolicy') || service.has('DeviceAllow')) {
    t.ok(service.get('DeviceAllow')?.some((d) => /^\/dev\/net\/tun\s+rw?$/.test(d)), '/dev/net/tun allowed');
  }
  t.notOk(service.has('User') || service.has('DynamicUser'), 'root without its other capabilities: the key file is root\'s');
});

t.test('systemd-analyze verify', async (t) => {
  const version = run('systemd-analyze', ['--version']);
  if (version.error) throw new Error('systemd-analyze is not installed (Debian package systemd; .ci/run installs it)');
  // verify insists that ExecStart exists: a copy of the unit runs the wrapper from a temp dir.
  const dir = mkdtempSync(join(tmpdir(), 'keyline-unit-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'keyline'), readFileSync(join(FILES, 'keyline.sh')), { mode: 0o755 });
  const copy = join(dir, 'keyline.service');
  writeFileSync(copy, text.split(LAYOUT.wrapper).join(join(dir, 'keyline')));
  const r = run('systemd-analyze', ['verify', '--man=no', copy]);
  t.equal(r.status, 0);
  // verify exits 0 on directives it ignores; it names them on stderr.
  t.equal(r.stderr, '', 'no directive systemd cannot parse');
});
