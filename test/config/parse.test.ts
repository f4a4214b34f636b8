import t from 'tap';
import { parseConfig, formatConfig, ConfigError, PEER_SCHEMA, type LocalConfig } from '../../src/config/index.js';
import { applySchema } from '../../src/config/build.js';
import { Problems } from '../../src/config/errors.js';
import type { PeerKeys } from '../../src/config/schema.js';
import { tokenize } from '../../src/config/tokenize.js';
import { KEYINGS } from '../../src/config/types.js';
import { addrText } from '../../src/sa/selector.js';
import type { Prefix } from '../../src/sa/types.js';
import { GOOD, IKE_LOCAL, KEY_FILE, KEY_IN, KEY_OUT, PSK, b64Of, hexOf, ikePeer, peer } from './fixtures/keys.js';
import { LOCAL_INLINE_DEFAULTS, LOCAL_INLINE_PRINTED, PEER_INLINE_DEFAULTS, STATIC_ESP } from './fixtures/expect.js';
import { newPrivateKey, publicFromPrivate } from '../../src/inline/keys.js';

const pfx = (p: Prefix | undefined) => (p ? `${addrText(p.addr)}/${p.len}` : undefined);
const hexb = (b: Uint8Array | undefined) => (b ? Buffer.from(b).toString('hex') : undefined);

t.test('the example file parses to the expected structure', async (t) => {
  const c = parseConfig(GOOD, { file: 'keys' });
  t.equal(c.file, 'keys');
  const { tunAddr, ...local } = c.local;
  t.same(local, {
    id: { type: 'fqdn', value: 'gw-a.example' },
    listen: [{ addr: '0.0.0.0', port: 4500 }],
    driver: 'userspace',
    tun: 'kl0',
    mtu: 1400,
    logLevel: 'info',
    backend: 'auto',
    replayWindow: 64,
    ...LOCAL_INLINE_DEFAULTS,
  });
  t.equal(c.local.privkey, undefined, 'no private key unless privkey= is given');
  t.equal(pfx(tunAddr), '198.51.100.1/24', 'interface address keeps its host bits');
  t.equal(c.peers.length, 1);
  const { localNet, remoteNet, keyIn, keyOut, ...p } = c.peers[0]!;
  t.strictSame(p, {
    name: 'gw-b',
    addr: { addr: '192.0.2.2', port: 4500 },
    keying: 'manual',
    esp: [{ suite: 'aes256-sha256', esn: false }],
    mode: 'tunnel',
    spiIn: 0x1001,
    spiOut: 0x2001,
    esn: true,
    replayWindow: 0, // keying=manual: anti-replay off unless set (RFC 4303 §3.3.3), whatever local says
    // and no inline keying: a manual peer has no parent secret, so no inline= at all
  });
  t.same(localNet?.map(pfx), ['198.51.100.0/24']);
  t.same(remoteNet?.map(pfx), ['203.0.113.0/24']);
  t.equal(hexb(keyIn), hexOf(KEY_IN));
  t.equal(hexb(keyOut), hexOf(KEY_OUT));
  t.ok(keyIn instanceof Uint8Array);
});

t.test('folding: tabs, comment and blank lines inside an entry, CRLF, BOM', async (t) => {
  const text =
    '\uFEFFpeer a addr=192.0.2.2 keying=manual\r\n' +
    '\tesp=aes128-sha256   # inline comment\r\n' +
    '# a comment line in column 1 does not end the entry\r\n' +
    '\r\n' +
    '  mode=transport spi-in=256 spi-out=0x101\r\n' +
    `\t  key-in=hex:${'11'.repeat(48)} key-out=hex:${'22'.repeat(48)}\r\n`;
  const c = parseConfig(text);
  const p = c.peers[0]!;
  t.same(p.esp, [{ suite: 'aes128-sha256', esn: false }]);
  t.equal(p.keyIn!.length, 16 + 32);
  t.equal(p.mode, 'transport');
  t.equal(p.spiIn, 256);
  t.equal(p.localNet, undefined, 'transport mode needs no nets');
});

t.test('comments: # starts a comment only at the start of a token', async (t) => {
  const c = parseConfig('local mtu=1500 #mtu=9000 tun=zz\n# local mtu=1\n   # indented comment\n');
  t.equal(c.local.mtu, 1500);
  t.equal(c.local.tun, 'kl0');
  const e = t.throws(() => parseConfig('local tun=kl#0\n')) as ConfigError;
  t.equal(e.message, "keys:1:11: bad value 'kl#0' for tun in the local entry: expected an interface name of 1..15 letters, digits, _ or -");
});

t.test('defaults: no local entry; a manual peer does not inherit replay-window (RFC 4303 §3.3.3)', async (t) => {
  const spis = (n: number) => (text: string) => text.replace(/spi-(in|out)=0x(\d+)/g, `spi-$1=0x${n}$2`);
  const c = parseConfig(
    'local replay-window=128\n' +
      peer('') +
      spis(9)(peer('replay-window=0 esn=off', 'gw-c')) +
      spis(8)(peer('replay-window=64', 'gw-d')) +
      spis(7)(peer('replay-window=128', 'gw-e')),
  );
  t.equal(c.local.replayWindow, 128);
  t.equal(c.peers[0]!.keying, 'manual');
  t.equal(c.peers[0]!.replayWindow, 0, "manual peer: 0 by default, not the local entry's 128");
  t.equal(c.peers[1]!.replayWindow, 0, 'explicit 0');
  t.equal(c.peers[1]!.esn, false);
  t.equal(c.peers[2]!.replayWindow, 64, 'explicit replay-window=64 on a manual peer is honoured');
  t.equal(c.peers[3]!.replayWindow, 128, 'explicit, equal to the local value');
  const d = parseConfig('');
  t.same(d.local.listen, [{ addr: '0.0.0.0', port: 500 }, { addr: '0.0.0.0', port: 4500 }], 'plain IKE on 500, NAT-T and ESP-in-UDP on 4500');
  t.match(formatConfig(d), /^local listen=0\.0\.0\.0:500,0\.0\.0\.0:4500 /m);
  t.equal(d.local.replayWindow, 64);
  t.same(d.peers, []);
  const m = parseConfig(peer(''));
  t.equal(m.local.replayWindow, 64, 'no local entry: the local default');
  t.equal(m.peers[0]!.replayWindow, 0, 'and still 0 for the manual peer');
  t.match(formatConfig(m), / esn=on replay-window=0\n$/, 'keyline check shows the effective 0');
  t.equal(parseConfig(peer('replay-window=64')).peers[0]!.replayWindow, 64, 'explicit 64 without a local entry');
});

/** A peer entry built against `local` the way parseConfig builds it, before the cross-key checks. */
function buildPeerEntry(text: string, local: LocalConfig): { value?: PeerKeys; problems: number } {
  const entries = tokenize(text, () => {
    throw new Error('tokenize problem');
  });
  const [head, name, ...keys] = entries[0]!.tokens;
  if (head?.text !== 'peer' || !name) throw new Error('not a peer entry');
  const problems = new Problems('keys');
  const values = { readFile: (): string => { throw new Error('no files'); }, baseDir: '.' };
  const cx = { where: `peer ${name.text}`, head: name, headShown: name.text, values, inherit: local, problems };
  const built = applySchema(PEER_SCHEMA, keys, cx);
  return { value: built?.value, problems: problems.count };
}

t.test("replay-window: peers with other keying methods inherit the local entry's", async (t) => {
  // Every keying method but manual takes the local entry's window; the static keyings parse now,
  // so their derived values reach the Config.
  const pub = b64Of(publicFromPrivate(newPrivateKey()));
  const nets = (n: number) => `local-net=198.51.100.0/24 remote-net=203.0.113.${n}/26`;
  const text =
    `local replay-window=128 id=fqdn:gw-a.example privkey=${b64Of(newPrivateKey())}\n` +
    `peer gw-i addr=192.0.2.9 psk=hex:${hexOf(PSK)} ${nets(0)}\n` +
    `peer gw-p addr=192.0.2.10 keying=psk-static psk=hex:${hexOf(PSK)} esp=aes256gcm16 ${nets(64)}\n` +
    `peer gw-x addr=192.0.2.11 keying=x25519-static pubkey=${pub} replay-window=32 ${nets(128)}\n`;
  const c = parseConfig(text);
  const [ike, psk, x] = c.peers;
  t.equal(ike?.keying, 'ike', 'the default');
  t.equal(ike?.replayWindow, 128, "keying=ike inherits local's 128");
  t.equal(psk?.keying, 'psk-static');
  t.equal(psk?.replayWindow, 128, "keying=psk-static inherits local's 128");
  t.same(psk?.esp, STATIC_ESP, 'a combined suite, on a peer where it is allowed');
  t.equal(psk?.start, undefined, 'keying=ike defaults are for keying=ike only');
  t.has(psk, PEER_INLINE_DEFAULTS, 'inline keying on, with its defaults');
  t.equal(x?.keying, 'x25519-static');
  t.equal(x?.replayWindow, 32, 'explicit replay-window wins');
  t.same(x?.esp, STATIC_ESP, 'the static keyings default to one AEAD');

  // The entry as built from the table, before validation, takes the same defaults.
  const lines = text.split('\n');
  const local = c.local;
  t.equal(local.replayWindow, 128);
  const built = buildPeerEntry(lines[2]!, local);
  t.equal(built.problems, 0);
  t.equal(built.value?.replayWindow, 128, "keying=psk-static inherits local's 128");
  t.equal(buildPeerEntry(lines[1]!, parseConfig('').local).value?.replayWindow, 64, "the local entry's default 64");
  // The same builder gives a manual peer 0, as parseConfig does.
  const manual = buildPeerEntry(peer(''), local);
  t.equal(manual.problems, 0);
  t.equal(manual.value?.replayWindow, 0);
  // And the table's rule itself, for every keying method.
  for (const keying of KEYINGS) {
    t.equal(PEER_SCHEMA.replayWindow.derive!({ keying }, local), keying === 'manual' ? 0 : 128, `derive for keying=${keying}`);
  }
  t.equal(parseConfig(IKE_LOCAL + ikePeer('')).peers[0]!.replayWindow, 64, 'keying=ike without a local replay-window: 64');
});

t.test('values in context: lists, endpoints, aliases, lifetimes', async (t) => {
  const c = parseConfig(
    'local listen=0.0.0.0:4500,[::]:4501 log-level=debug backend=noble driver=memory mtu=9000\n' +
      peer('lifetime=2h30m life-bytes=1G life-packets=1000000'),
  );
  t.same(c.local.listen, [{ addr: '0.0.0.0', port: 4500 }, { addr: '::', port: 4501 }]);
  const p = c.peers[0]!;
  t.same(p.esp, [{ suite: 'aes256-sha256', esn: false }], 'one ESP proposal, the manual suite');
  t.equal(p.esn, true, 'manual ESN comes from esn=, on by default');
  t.equal(p.lifetime, 9000);
  t.equal(p.lifeBytes, 2 ** 30);
  t.equal(p.lifePackets, 1000000);
  t.same(p.addr, { addr: '192.0.2.2', port: 4500 }, 'default port');
});

t.test('file: secrets go through the injected reader, relative to the key file', async (t) => {
  const files: Record<string, string> = {
    '/etc/keyline/in.key': `${b64Of(KEY_FILE)}\n`,
    '/etc/keyline/sub/out.key': `hex:${hexOf(KEY_OUT).slice(0, 40)}\n  ${hexOf(KEY_OUT).slice(40)}\n\n`,
  };
  const readFile = (p: string) => {
    const v = files[p];
    if (v === undefined) throw Object.assign(new Error('nope'), { code: 'ENOENT' });
    return v;
  };
  const text = peer('').replace(/key-in=\S+/, 'key-in=file:in.key').replace(/key-out=\S+/, 'key-out=file:/etc/keyline/sub/out.key');
  const c = parseConfig(text, { file: '/etc/keyline/keys', readFile });
  t.equal(hexb(c.peers[0]!.keyIn), hexOf(KEY_FILE), 'bare base64, trailing newline trimmed');
  t.equal(hexb(c.peers[0]!.keyOut), hexOf(KEY_OUT), 'hex: prefixed, white space ignored');
  const e = t.throws(() => parseConfig(text.replace('file:in.key', 'file:gone'), { file: '/etc/keyline/keys', readFile })) as ConfigError;
  t.match(e.message, /^\/etc\/keyline\/keys:1:\d+: bad value 'file:gone' for key-in in peer gw-b: cannot read \/etc\/keyline\/gone: ENOENT$/);
  const n = t.throws(() => parseConfig(text)) as ConfigError;
  t.match(n.message, /cannot read in\.key: no file reader given/);
});

t.test('formatConfig: every key with its effective value, then parses back', async (t) => {
  const c = parseConfig(GOOD, { file: 'keys' });
  const out = formatConfig(c);
  t.equal(
    out,
    '# effective configuration of keys: defaults included, secrets masked\n' +
      `local id=fqdn:gw-a.example listen=0.0.0.0:4500 driver=userspace tun=kl0 tun-addr=198.51.100.1/24 mtu=1400 log-level=info backend=auto replay-window=64 ${LOCAL_INLINE_PRINTED}\n` +
      'peer gw-b addr=192.0.2.2:4500 keying=manual esp=aes256-sha256 mode=tunnel local-net=198.51.100.0/24 remote-net=203.0.113.0/24' +
      ' spi-in=0x1001 spi-out=0x2001 key-in=<secret 64 bytes> key-out=<secret 64 bytes> esn=on replay-window=0\n',
  );
  const back = parseConfig(out.replace('key-in=<secret 64 bytes>', `key-in=hex:${hexOf(KEY_IN)}`).replace('key-out=<secret 64 bytes>', `key-out=base64:${b64Of(KEY_OUT)}`), {
    file: 'keys',
  });
  t.equal(formatConfig(back), out, 'the printed form is a fixed point');
  t.same(JSON.stringify(back), JSON.stringify(c));
});

t.test('formatConfig of a file setting every key is a fixed point', async (t) => {
  const PRIV = hexOf(KEY_FILE.subarray(0, 32)); // any 32 bytes are an X25519 private key
  const text =
    'local id=user-fqdn:ops@example.net listen=192.0.2.1:4500,[2001:db8::1]:4501 driver=xfrm tun=wan_kl-1\n' +
    '  tun-addr=2001:db8:1::1/64 mtu=1280 log-level=warn backend=node replay-window=1024\n' +
    `  privkey=hex:${PRIV} inline-max-flows=100 inline-msl=90s inline-k1=3 inline-k2=0.05 inline-skew=30s path-mtu=1280\n` +
    peer('mode=transport esn=no replay-window=32 lifetime=1d life-bytes=64k life-packets=5000').replace(
      'local-net=10.0.0.0/8 remote-net=10.1.0.0/16',
      'local-net=10.0.0.0/8,fd00::/8 remote-net=10.1.0.0/16,fd01::/16',
    );
  const out = formatConfig(parseConfig(text));
  t.equal(
    out.split('\n')[1],
    'local id=user-fqdn:ops@example.net listen=192.0.2.1:4500,[2001:db8::1]:4501 driver=xfrm tun=wan_kl-1 tun-addr=2001:db8:1::1/64 mtu=1280 log-level=warn backend=node replay-window=1024' +
      ' privkey=<secret 32 bytes> inline-max-flows=100 inline-msl=1m30s inline-k1=3 inline-k2=1/20 inline-skew=30s path-mtu=1280',
  );
  t.equal(
    out.split('\n')[2],
    'peer gw-b addr=192.0.2.2:4500 keying=manual esp=aes256-sha256 mode=transport local-net=10.0.0.0/8,fd00::/8 remote-net=10.1.0.0/16,fd01::/16' +
      ' spi-in=0x1001 spi-out=0x2001 key-in=<secret 64 bytes> key-out=<secret 64 bytes> esn=off replay-window=32 lifetime=1d life-bytes=64k life-packets=5000',
  );
  const again = out
    .replace('key-in=<secret 64 bytes>', `key-in=hex:${hexOf(KEY_IN)}`)
    .replace('key-out=<secret 64 bytes>', `key-out=hex:${hexOf(KEY_OUT)}`)
    .replace('privkey=<secret 32 bytes>', `privkey=hex:${PRIV}`);
  t.equal(formatConfig(parseConfig(again)), out);
  t.equal(hexb(parseConfig(again).local.privkey), PRIV);
});
