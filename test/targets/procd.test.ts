/**
 * The procd init script, run against a recording stand-in for rc.common and procd.sh
 * (procd-standin.sh), under the shell Debian has and under busybox ash, OpenWrt's: what it
 * declares to procd when started, which triggers it registers, what reload sends.
 */
import t from 'tap';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EXAMPLES, FILES, LAYOUT, requireTool, run } from './helpers.js';

interface Call {
  readonly fn: string;
  readonly args: string[];
}

const dir = mkdtempSync(join(tmpdir(), 'keyline-procd-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

/**
 * Source the stand-in and the init script, print KEYS as the script set it, point KEYS at a
 * file of this test's, then call each function in `calls` under a `== name` heading.
 */
function initScript(shell: string[], o: { keys: string; calls: string[]; instroot?: string }): { keysDefault: string; out: Record<string, Call[]> } {
  const script = [
    '. ./test/targets/procd-standin.sh',
    '. ./targets/openwrt/files/keyline.init',
    'echo "KEYS=$KEYS"',
    'KEYS=$1',
    ...o.calls.map((c) => `echo "== ${c}"; ${c}`),
  ].join('\n');
  const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', IPKG_INSTROOT: o.instroot ?? '' };
  const r = run(shell[0]!, [...shell.slice(1), '-c', script, 'sh', o.keys], { env });
  if (r.status !== 0 || r.stderr !== '') throw new Error(`${shell.join(' ')}: exit ${r.status}\n${r.stderr}`);
  const out: Record<string, Call[]> = {};
  let keysDefault = '';
  let section: Call[] = [];
  for (const line of r.stdout.split('\n').filter(Boolean)) {
    if (line.startsWith('KEYS=')) keysDefault = line.slice(5);
    else if (line.startsWith('== ')) out[line.slice(3)] = section = [];
    else {
      const [fn = '', ...rest] = line.split(' [');
      section.push({ fn, args: rest.map((a) => a.replace(/\]$/, '')) });
    }
  }
  return { keysDefault, out };
}

const params = (calls: Call[]) => new Map(calls.filter((c) => c.fn === 'procd_set_param').map((c) => [c.args[0], c.args.slice(1)]));

const keysWithEntries = join(dir, 'keys');
copyFileSync(join(EXAMPLES, 'keys.site-to-site.gw-a'), keysWithEntries);

for (const shell of [['sh'], ['busybox', 'sh']]) {
  t.test(`${shell.join(' ')}: start_service declares one instance`, async (t) => {
    if (shell[0] === 'busybox') requireTool('busybox', 'busybox', ['true']);
    const { keysDefault, out } = initScript(shell, { keys: keysWithEntries, calls: ['start_service'] });
    t.equal(keysDefault, LAYOUT.keys, 'the key file it uses on the router');
    const calls = out['start_service'] ?? [];
    t.same(calls[0], { fn: 'procd_open_instance', args: [] });
    t.same(calls.at(-1), { fn: 'procd_close_instance', args: [] });
    const p = params(calls);
    t.same(p.get('command'), [LAYOUT.wrapper, 'run', '--config', keysWithEntries], 'keyline run, in the foreground');
    t.same(p.get('respawn'), ['3600', '5', '5'], 'respawn: threshold 3600 s, 5 s apart, 5 retries');
    t.same(p.get('stdout'), ['1'], 'stdout to logread');
    t.same(p.get('stderr'), ['1'], 'stderr (the log) to logread');
    t.same(p.get('file'), [keysWithEntries], 'procd watches the key file');
    t.same(p.get('term_timeout'), ['10'], 'time for DELETEs before SIGKILL');
    t.notOk(calls.some((c) => c.fn === 'logger'), 'nothing to complain about');
  });

  t.test(`${shell.join(' ')}: a key file of comments only (as installed) starts nothing`, async (t) => {
    if (shell[0] === 'busybox') requireTool('busybox', 'busybox', ['true']);
    for (const keys of [join(FILES, 'keys'), join(dir, 'missing')]) {
      const calls = initScript(shell, { keys, calls: ['start_service'] }).out['start_service'] ?? [];
      t.same(calls.map((c) => c.fn), ['logger'], `${keys}: no instance, one log line`);
      t.match(calls[0]?.args.join(' ') ?? '', /^-t keyline no local or peer entry in .*: not started$/);
    }
  });

  t.test(`${shell.join(' ')}: triggers on the WAN interfaces; reload sends SIGHUP`, async (t) => {
    if (shell[0] === 'busybox') requireTool('busybox', 'busybox', ['true']);
    const reload = ['/etc/init.d/keyline', 'reload'];
    const dflt = initScript(shell, { keys: keysWithEntries, calls: ['service_triggers', 'reload_service'] }).out;
    t.same(dflt['service_triggers'], [{ fn: 'procd_add_interface_trigger', args: ['interface.*', 'wan', ...reload] }], 'wan by default');
    t.same(dflt['reload_service'], [{ fn: 'procd_send_signal', args: ['keyline', '*', 'HUP'] }]);

    // /etc/keyline/wan-interfaces, under IPKG_INSTROOT as on an image being built.
    const root = join(dir, `root-${shell.length}`);
    mkdirSync(join(root, 'etc/keyline'), { recursive: true });
    writeFileSync(join(root, 'etc/keyline/wan-interfaces'), '# the uplinks\nwan  wan6 # both\n\n\tlte\n');
    const listed = initScript(shell, { keys: keysWithEntries, calls: ['service_triggers'], instroot: root }).out['service_triggers'];
    t.same(listed?.map((c) => c.args[1]), ['wan', 'wan6', 'lte'], 'one trigger per listed interface');
    writeFileSync(join(root, 'etc/keyline/wan-interfaces'), '# nothing but a comment\n\n');
    const empty = initScript(shell, { keys: keysWithEntries, calls: ['service_triggers'], instroot: root }).out['service_triggers'];
    t.same(empty?.map((c) => c.args[1]), ['wan'], 'an empty list means wan');
  });
}

t.test('the stand-in reports a procd function that does not exist', async (t) => {
  const r = run('sh', ['-c', '. ./test/targets/procd-standin.sh; procd_set_parm command x'], { env: { PATH: process.env.PATH ?? '' } });
  t.not(r.status, 0);
  t.match(r.stderr, /procd_set_parm: not found/);
});

t.test('rc.common header: a procd script that starts after the network', async (t) => {
  const text = readFileSync(join(FILES, 'keyline.init'), 'utf8');
  t.equal(text.split('\n', 1)[0], '#!/bin/sh /etc/rc.common');
  t.match(text, /^USE_PROCD=1$/m);
  const start = Number(/^START=(\d+)$/m.exec(text)?.[1]);
  const stop = Number(/^STOP=(\d+)$/m.exec(text)?.[1]);
  t.ok(start > 20 && start < 100, `START=${start}: after network (20)`);
  t.ok(stop > 0 && stop < 100, `STOP=${stop}`);
});
