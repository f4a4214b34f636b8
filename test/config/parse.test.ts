import t from 'tap';
import { parseConfig, formatConfig, ConfigError } from '../../src/config/index.js';
import { addrText } from '../../src/sa/selector.js';
import type { Prefix } from '../../src/sa/types.js';
import { GOOD, KEY_FILE, KEY_IN, KEY_OUT, b64Of, hexOf, peer } from './fixtures/keys.js';

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
  });
  t.equal(pfx(tunAddr), '198.51.100.1/24', 'interface address keeps its host bits');
  t.equal(c.peers.length, 1);
  const { localNet, remoteNet, keyIn, keyOut, ...p } = c.peers[0]!;
  t.strictSame(p, {
    name: 'gw-b',
    addr: { addr: '192.0.2.2', port: 4500 },
    keying: 'manual',
    esp: 'aes256gcm16',
    mode: 'tunnel',
    spiIn: 0x1001,
    spiOut: 0x2001,
    esn: true,
    replayWindow: 64,
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
    '\tesp=aes128gcm16   # inline comment\r\n' +
    '# a comment line in column 1 does not end the entry\r\n' +
    '\r\n' +
    '  mode=transport spi-in=256 spi-out=0x101\r\n' +
    `\t  key-in=hex:${'11'.repeat(20)} key-out=hex:${'22'.repeat(20)}\r\n`;
  const c = parseConfig(text);
  const p = c.peers[0]!;
  t.equal(p.esp, 'aes128gcm16');
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

t.test('defaults: no local entry, peer inherits replay-window', async (t) => {
  const c = parseConfig('local replay-window=128\n' + peer('') + peer('replay-window=0 esn=off', 'gw-c').replace(/spi-(in|out)=0x(\d+)/g, 'spi-$1=0x9$2'));
  t.equal(c.peers[0]!.replayWindow, 128);
  t.equal(c.peers[1]!.replayWindow, 0);
  t.equal(c.peers[1]!.esn, false);
  const d = parseConfig('');
  t.same(d.local.listen, [{ addr: '0.0.0.0', port: 4500 }]);
  t.same(d.peers, []);
});

t.test('values in context: lists, endpoints, aliases, lifetimes', async (t) => {
  const c = parseConfig(
    'local listen=0.0.0.0:4500,[::]:4501 log-level=debug backend=noble driver=memory mtu=9000\n' +
      peer('lifetime=2h30m life-bytes=1G life-packets=1000000').replace('aes256gcm16', 'aes256gcm'),
  );
  t.same(c.local.listen, [{ addr: '0.0.0.0', port: 4500 }, { addr: '::', port: 4501 }]);
  const p = c.peers[0]!;
  t.equal(p.esp, 'aes256gcm16', 'strongSwan alias');
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
      'local id=fqdn:gw-a.example listen=0.0.0.0:4500 driver=userspace tun=kl0 tun-addr=198.51.100.1/24 mtu=1400 log-level=info backend=auto replay-window=64\n' +
      'peer gw-b addr=192.0.2.2:4500 keying=manual esp=aes256gcm16 mode=tunnel local-net=198.51.100.0/24 remote-net=203.0.113.0/24' +
      ' spi-in=0x1001 spi-out=0x2001 key-in=<secret 36 bytes> key-out=<secret 36 bytes> esn=on replay-window=64\n',
  );
  const back = parseConfig(out.replace('key-in=<secret 36 bytes>', `key-in=hex:${hexOf(KEY_IN)}`).replace('key-out=<secret 36 bytes>', `key-out=base64:${b64Of(KEY_OUT)}`), {
    file: 'keys',
  });
  t.equal(formatConfig(back), out, 'the printed form is a fixed point');
  t.same(JSON.stringify(back), JSON.stringify(c));
});

t.test('formatConfig of a file setting every key is a fixed point', async (t) => {
  const text =
    'local id=user-fqdn:ops@example.net listen=192.0.2.1:4500,[2001:db8::1]:4501 driver=xfrm tun=wan_kl-1\n' +
    '  tun-addr=2001:db8:1::1/64 mtu=1280 log-level=warn backend=node replay-window=1024\n' +
    peer('mode=transport esn=no replay-window=32 lifetime=1d life-bytes=64k life-packets=5000').replace(
      'local-net=10.0.0.0/8 remote-net=10.1.0.0/16',
      'local-net=10.0.0.0/8,fd00::/8 remote-net=10.1.0.0/16,fd01::/16',
    );
  const out = formatConfig(parseConfig(text));
  t.equal(
    out.split('\n')[1],
    'local id=user-fqdn:ops@example.net listen=192.0.2.1:4500,[2001:db8::1]:4501 driver=xfrm tun=wan_kl-1 tun-addr=2001:db8:1::1/64 mtu=1280 log-level=warn backend=node replay-window=1024',
  );
  t.equal(
    out.split('\n')[2],
    'peer gw-b addr=192.0.2.2:4500 keying=manual esp=aes256gcm16 mode=transport local-net=10.0.0.0/8,fd00::/8 remote-net=10.1.0.0/16,fd01::/16' +
      ' spi-in=0x1001 spi-out=0x2001 key-in=<secret 36 bytes> key-out=<secret 36 bytes> esn=off replay-window=32 lifetime=1d life-bytes=64k life-packets=5000',
  );
  const again = out.replace('key-in=<secret 36 bytes>', `key-in=hex:${hexOf(KEY_IN)}`).replace('key-out=<secret 36 bytes>', `key-out=hex:${hexOf(KEY_OUT)}`);
  t.equal(formatConfig(parseConfig(again)), out);
});
