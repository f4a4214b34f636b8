/**
 * The OpenWrt package Makefile: its fields, and what its install recipe puts where. The recipe
 * is read as text (every source exists) and also run, by make, against a stand-in for the two
 * files of the buildroot it includes (rules.mk's INSTALL_* and a package.mk whose BuildPackage
 * does nothing); the staged tree must be the layout procd and systemd expect, and its wrapper
 * must run the bundle.
 */
import t from 'tap';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { BUNDLE, FILES, LAYOUT, OPENWRT, requireTool, ROOT, run, VERSION } from './helpers.js';

const MAKEFILE = readFileSync(join(OPENWRT, 'Makefile'), 'utf8');
const dir = mkdtempSync(join(tmpdir(), 'keyline-pkg-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

/** The body of `define NAME` ... `endef` in the Makefile. */
function define(name: string): string[] {
  const m = new RegExp(`^define ${name.replace(/[/$()]/g, '\\$&')}\\n([\\s\\S]*?)^endef$`, 'm').exec(MAKEFILE);
  if (!m) throw new Error(`no define ${name} in targets/openwrt/Makefile`);
  return m[1]!.split('\n').filter((l) => l.trim() !== '');
}

// The buildroot stand-in: TOPDIR with rules.mk and include/package.mk, and a driver makefile
// that includes the package Makefile and adds targets to call its defines.
const top = join(dir, 'owrt');
mkdirSync(join(top, 'include'), { recursive: true });
writeFileSync(
  join(top, 'rules.mk'),
  ['INCLUDE_DIR:=$(TOPDIR)/include', 'INSTALL_DIR:=install -d -m0755', 'INSTALL_BIN:=install -m0755', 'INSTALL_DATA:=install -m0644', 'INSTALL_CONF:=install -m0600', ''].join('\n'),
);
writeFileSync(join(top, 'include/package.mk'), 'define BuildPackage\nendef\n');
const driver = join(dir, 'driver.mk');
writeFileSync(
  driver,
  [
    'include Makefile',
    '$(eval $(Package/keyline))',
    'info:',
    '\t$(info PKG_NAME=$(PKG_NAME))$(info PKG_VERSION=$(PKG_VERSION))$(info PKG_RELEASE=$(PKG_RELEASE))$(info PKG_LICENSE=$(PKG_LICENSE))',
    '\t$(info DEPENDS=$(DEPENDS))$(info PKGARCH=$(PKGARCH))$(info TITLE=$(TITLE))$(info CONFFILES=$(strip $(Package/keyline/conffiles)))',
    '\t$(info BUNDLE=$(KEYLINE_BUNDLE))@:',
    'stage:',
    '\t$(call Package/keyline/install,$(STAGE))',
    'compile:',
    '\t$(Build/Compile)',
    '',
  ].join('\n'),
);
/** What the Makefile installs: a copy in files/ first (ignored by git), else dist/ of this checkout. */
const COPY = join(FILES, 'keyline.js');
const chosen = statSync(COPY, { throwIfNoEntry: false }) ? COPY : BUNDLE;
const make = (...args: string[]) => run('make', ['-s', '-C', OPENWRT, '-f', driver, `TOPDIR=${top}`, ...args]);

t.test('package fields', async (t) => {
  requireTool('make', 'make');
  t.match(MAKEFILE, /^include \$\(TOPDIR\)\/rules\.mk$/m);
  t.match(MAKEFILE, /^include \$\(INCLUDE_DIR\)\/package\.mk$/m);
  t.match(MAKEFILE, /^\$\(eval \$\(call BuildPackage,keyline\)\)\s*$/m);
  const r = make('info');
  t.equal(r.status, 0, r.stderr);
  const info = Object.fromEntries(r.stdout.split('\n').filter(Boolean).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
  const pkg = JSON.parse(readFileSync('package.json', 'utf8'));
  t.equal(info['PKG_NAME'], 'keyline');
  t.equal(info['PKG_VERSION'], VERSION, 'the version in package.json');
  t.match(info['PKG_RELEASE'], /^\d+$/);
  t.equal(info['PKG_LICENSE'], 'MIT');
  t.equal(pkg.license, 'MIT');
  t.same(info['DEPENDS']?.split(/\s+/).sort(), ['+ip-full', '+node', '+socat'], 'node, socat for the TUN bridge, ip-full');
  t.equal(info['PKGARCH'], 'all', 'JavaScript and shell only: one package for every architecture');
  t.ok(info['TITLE']);
  t.equal(info['CONFFILES'], LAYOUT.keys, 'the key file survives upgrades');
  t.equal(info['BUNDLE'], chosen, chosen === BUNDLE ? 'in a checkout the Makefile finds dist/keyline.js itself' : 'files/keyline.js');
});

t.test('the install recipe, read: every source exists, every destination is in the layout', async (t) => {
  const installs = define('Package/keyline/install')
    .map((l) => /^\t\$\(INSTALL_(BIN|DATA|CONF)\) (\S+) \$\(1\)(\S+)$/.exec(l))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({ kind: m[1]!, src: m[2]!, dest: m[3]! }));
  t.same(
    installs.map((i) => i.dest).sort(),
    [LAYOUT.keys, LAYOUT.init, LAYOUT.wrapper, LAYOUT.bundle].sort(),
    'bundle, wrapper, init script, key file',
  );
  for (const i of installs) {
    const src = i.src === '$(KEYLINE_BUNDLE)' ? chosen : join(OPENWRT, i.src);
    t.ok(statSync(src, { throwIfNoEntry: false })?.isFile(), `${relative(ROOT, src)} exists (${i.dest})`);
  }
  t.equal(installs.find((i) => i.dest === LAYOUT.keys)?.kind, 'CONF', 'the key file with INSTALL_CONF (0600)');
});

t.test('the install recipe, run: the staged tree', async (t) => {
  requireTool('make', 'make');
  const stage = join(dir, 'stage');
  const r = make('stage', `STAGE=${stage}`);
  t.equal(r.status, 0, r.stderr);
  const tree: Record<string, string> = {};
  const walk = (d: string): void => {
    for (const n of readdirSync(d)) {
      const p = join(d, n);
      const st = statSync(p);
      tree['/' + relative(stage, p)] = (st.mode & 0o777).toString(8);
      if (st.isDirectory()) walk(p);
    }
  };
  walk(stage);
  t.same(tree, {
    '/usr': '755',
    '/usr/lib': '755',
    '/usr/lib/keyline': '755',
    [LAYOUT.bundle]: '644',
    '/usr/sbin': '755',
    [LAYOUT.wrapper]: '755',
    '/etc': '755',
    '/etc/init.d': '755',
    [LAYOUT.init]: '755',
    '/etc/keyline': '700',
    [LAYOUT.keys]: '600',
  });
  t.ok(readFileSync(join(stage, LAYOUT.bundle)).equals(readFileSync(chosen)), 'the bundle as built');
  t.equal(readFileSync(join(stage, LAYOUT.keys), 'utf8'), readFileSync(join(FILES, 'keys'), 'utf8'));

  // The staged wrapper, with its bundle path pointing into the stage and node from this test.
  const wrapper = readFileSync(join(stage, LAYOUT.wrapper), 'utf8');
  t.equal(wrapper.split(LAYOUT.bundle).length, 2, 'the wrapper names the bundle once');
  const local = join(dir, 'keyline-wrapper');
  writeFileSync(local, wrapper.replace(LAYOUT.bundle, join(stage, LAYOUT.bundle)), { mode: 0o755 });
  const env = { PATH: `${dirname(process.execPath)}:/usr/bin:/bin` };
  const v = run(local, ['version'], { env, cwd: dir });
  t.equal(v.status, 0, v.stderr);
  t.equal(v.stdout.trim(), VERSION, 'keyline version through the wrapper: the version in package.json');
  const args = run(local, ['check', join(dir, 'none'), '--insecure-perms'], { env, cwd: dir });
  t.equal(args.status, 2, 'arguments pass through, and so does the exit code');
  t.match(args.stderr, /none/);
});

t.test('without a bundle the build stops and says what to do', async (t) => {
  requireTool('make', 'make');
  const r = make('compile', `KEYLINE_BUNDLE=${join(dir, 'nowhere/keyline.js')}`);
  t.not(r.status, 0);
  t.match(r.stderr, /nowhere\/keyline\.js is missing: run 'node build\.mjs'/);
  const ok = make('compile');
  t.same([ok.status, ok.stdout, ok.stderr], [0, '', ''], 'with the bundle there, there is nothing to do');
});
