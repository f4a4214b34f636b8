/**
 * From a parsed key file to the agent's plan: manual peers to ManualPeer, keying=ike peers to
 * the IKE engine's IkePeer (src/ike/peer.ts), inline keying parents (src/inline/) for keying=ike
 * peers with inline=on and for the static keyings, with reqids that never collide.
 */
import t from 'tap';
import { createHmac } from 'node:crypto';
import { parseConfig } from '../../src/config/index.js';
import { ikePeersFromConfig, idSpec, planFromConfig } from '../../src/cli/plan.js';
import { ID_TYPE } from '../../src/ike/constants.js';
import { addrText } from '../../src/sa/selector.js';
import type { Selector } from '../../src/sa/types.js';
import { KE } from '../../src/wire/iana.js';
import { KeylineError } from '../../src/wire/errors.js';
import { IKE_LOCAL, PSK, STATIC_LOCAL, hexOf, ikePeer, peer, pskStaticPeer } from '../config/fixtures/keys.js';
import { DEFAULT_ESP, DEFAULT_IKE } from '../config/fixtures/expect.js';

const bytes = (...b: number[]) => new Uint8Array(b);
const ascii = (s: string) => new Uint8Array(Buffer.from(s, 'ascii'));
const sel = (s: Selector) => `${addrText(s.local.addr)}/${s.local.len} <-> ${addrText(s.remote.addr)}/${s.remote.len}`;
/** Two manual peers around an IKE one; the second manual peer needs SPIs of its own. */
const MIXED =
  IKE_LOCAL +
  peer('') +
  ikePeer('', 'gw-c') +
  peer('', 'gw-d').replace('spi-in=0x1001', 'spi-in=0x1002').replace('spi-out=0x2001', 'spi-out=0x2002').replace('192.0.2.2', '192.0.2.4');

/** S0 of a psk-static parent with the fixtures' PSK, computed here from src/inline/README.md §7.2. */
const PSK_ROOT = createHmac('sha256', PSK).update('keyline inline psk-static').digest('hex');

t.test('manual peers go to manual, keying=ike peers to ike; reqids are file positions', async (t) => {
  const plan = planFromConfig(parseConfig(MIXED));
  t.same(
    plan.manual.map((m) => [m.peer, m.reqid]),
    [
      ['gw-b', 1],
      ['gw-d', 3],
    ],
  );
  t.same(
    plan.ike.map((p) => [p.name, p.reqid]),
    [['gw-c', 2]],
  );
  t.equal(plan.manual[0]!.suite, 'aes256-sha256', 'the manual suite is the one ESP proposal');
  t.equal(plan.manual[0]!.esn, true, 'manual ESN from esn=');
  t.same(plan.listen, [
    { addr: '0.0.0.0', port: 500 },
    { addr: '0.0.0.0', port: 4500 },
  ]);
  t.same(plan.manual[0]!.local, { addr: '0.0.0.0', port: 4500 }, 'ESP-in-UDP never leaves from the plain IKE port');
  t.same(ikePeersFromConfig(parseConfig(MIXED)), plan.ike, 'planFromConfig uses ikePeersFromConfig');
  t.same(plan.inline, [], 'no inline keying: the IKE peer has inline=off (the default)');
});

t.test('an IkePeer with every default', async (t) => {
  const [p, ...rest] = ikePeersFromConfig(parseConfig(IKE_LOCAL + ikePeer('')));
  t.equal(rest.length, 0);
  t.strictSame(p, {
    name: 'gw-b',
    reqid: 1,
    remote: { addr: '192.0.2.2', port: 4500 },
    localId: { type: ID_TYPE.ID_FQDN, data: ascii('gw-a.example') },
    remoteId: { type: ID_TYPE.ID_IPV4_ADDR, data: bytes(192, 0, 2, 2) },
    psk: p!.psk,
    ike: DEFAULT_IKE,
    esp: DEFAULT_ESP,
    mode: 'tunnel',
    selectors: p!.selectors,
    ikeLifetime: 14400,
    childLifetime: 3600,
    rekeyMargin: 540,
    dpd: 30,
    dpdTimeout: 120,
    retransmit: { firstMs: 2000, tries: 5 },
    start: 'initiate',
    replayWindow: 64,
    inline: false,
  });
  t.equal(Buffer.from(p!.psk).toString('hex'), hexOf(PSK));
  t.same(p!.selectors.map(sel), ['10.0.0.0/8 <-> 10.1.0.0/16']);
  t.same(p!.selectors[0], { local: p!.selectors[0]!.local, remote: p!.selectors[0]!.remote, proto: 0, localPorts: [0, 65535], remotePorts: [0, 65535] });
});

t.test('explicit keys: any, identities, lists of nets, times in seconds', async (t) => {
  const text =
    IKE_LOCAL +
    ikePeer('id=user-fqdn:ops@example.net local-id=keyid:0A0b00ff start=wait dpd=off lifetime=20m ike-lifetime=1d rekey-margin=3m esp=aes128-sha256-x25519-esn')
      .replace('addr=192.0.2.2', 'addr=any')
      .replace('local-net=10.0.0.0/8', 'local-net=10.0.0.0/8,fd00::/64,192.168.0.0/24')
      .replace('remote-net=10.1.0.0/16', 'remote-net=10.1.0.0/16,fd01::/64');
  const [p] = ikePeersFromConfig(parseConfig(text));
  t.equal(p!.remote, undefined, 'addr=any: responder only');
  t.same(p!.remoteId, { type: ID_TYPE.ID_RFC822_ADDR, data: ascii('ops@example.net') });
  t.same(p!.localId, { type: ID_TYPE.ID_KEY_ID, data: bytes(0x0a, 0x0b, 0x00, 0xff) }, 'local-id overrides the local entry');
  t.equal(p!.start, 'wait');
  t.equal(p!.dpd, 0);
  t.same([p!.childLifetime, p!.ikeLifetime, p!.rekeyMargin], [1200, 86400, 180]);
  t.same(p!.esp, [{ suite: 'aes128-sha256', esn: true, group: KE.CURVE25519 }]);
  t.same(
    p!.selectors.map(sel),
    ['10.0.0.0/8 <-> 10.1.0.0/16', 'fd00::/64 <-> fd01::/64', '192.168.0.0/24 <-> 10.1.0.0/16'],
    'every local × remote pair of one family',
  );
});

t.test('IdSpec: ID type and data for every identity type (RFC 7296 §3.5)', async (t) => {
  t.same(idSpec({ type: 'ipv4', value: '192.0.2.1' }), { type: ID_TYPE.ID_IPV4_ADDR, data: bytes(192, 0, 2, 1) });
  t.same(idSpec({ type: 'ipv6', value: '2001:db8::1' }), { type: ID_TYPE.ID_IPV6_ADDR, data: bytes(0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1) });
  t.same(idSpec({ type: 'fqdn', value: 'gw-a.example' }), { type: ID_TYPE.ID_FQDN, data: ascii('gw-a.example') });
  t.same(idSpec({ type: 'user-fqdn', value: 'ops@example.net' }), { type: ID_TYPE.ID_RFC822_ADDR, data: ascii('ops@example.net') });
  t.same(idSpec({ type: 'keyid', value: '00ff10' }), { type: ID_TYPE.ID_KEY_ID, data: bytes(0, 0xff, 0x10) });
  // The peer's default id is its address in the address's own family.
  const v6 = parseConfig(IKE_LOCAL + ikePeer('').replace('addr=192.0.2.2', 'addr=[2001:db8::2]:500'));
  const [p] = ikePeersFromConfig(v6);
  t.same(p!.remote, { addr: '2001:db8::2', port: 500 });
  t.equal(p!.remoteId?.type, ID_TYPE.ID_IPV6_ADDR);
  t.equal(p!.remoteId?.data.length, 16);
});

t.test('plan errors: what a file can say but this agent cannot do', async (t) => {
  const only500 = parseConfig('local listen=0.0.0.0:500 id=fqdn:a.example tun-addr=198.51.100.1/24\n' + peer('') + ikePeer('', 'gw-c'));
  const e = t.throws(() => planFromConfig(only500)) as KeylineError;
  t.equal(e.code, 'CONFIG');
  t.equal(e.message, 'keys: peer gw-b: listen has no ESP-in-UDP endpoint for IPv4 (a port other than 500)');
  const v6 = parseConfig(IKE_LOCAL.replace('local ', 'local listen=0.0.0.0:4500 ') + ikePeer('').replace('addr=192.0.2.2', 'addr=[2001:db8::2]'));
  t.throws(() => planFromConfig(v6), { message: 'keys: peer gw-b: listen has no IPv6 endpoint to reach it from' });
  const transport = parseConfig('local tun-addr=198.51.100.1/24\n' + peer('mode=transport').replace(/ (local|remote)-net=\S+/g, ''));
  t.throws(() => planFromConfig(transport), {
    message: 'keys: peer gw-b: this build needs local-net and remote-net for keying=manual, also in mode=transport',
  });
  // A Config not made by parseConfig: the contract's required fields are checked, not assumed.
  const c = parseConfig(IKE_LOCAL + ikePeer(''));
  const { psk: _psk, ...noPsk } = c.peers[0]!;
  t.throws(() => ikePeersFromConfig({ ...c, peers: [noPsk] }), { code: 'CONFIG', message: 'peer gw-b: keying=ike needs psk' });
  t.throws(() => ikePeersFromConfig({ ...c, local: { ...c.local, id: undefined } }), {
    message: 'peer gw-b: keying=ike needs local-id or the local entry id',
  });
  // keying=psk-static is in this build now: a static peer built by hand plans to an inline parent.
  const byHand = { ...c, peers: [{ ...c.peers[0]!, keying: 'psk-static' as const, inline: true }] };
  const plan = planFromConfig(byHand);
  t.same([plan.manual, plan.ike], [[], []]);
  t.same(
    plan.inline?.map((x) => [x.peer, x.reqid, hexOf(x.static!.root)]),
    [['gw-b', 1, PSK_ROOT]],
  );
  // Static parents send their carrier as ESP-in-UDP: never from the plain IKE port.
  const static500 = parseConfig(STATIC_LOCAL.replace('local ', 'local listen=0.0.0.0:500 ') + pskStaticPeer(''));
  t.throws(() => planFromConfig(static500), { code: 'CONFIG', message: 'keys: peer gw-b: listen has no ESP-in-UDP endpoint for IPv4 (a port other than 500)' });
  // The kernel driver never sees the data packets that inline headers ride on.
  const xfrm = parseConfig(STATIC_LOCAL.replace('local ', 'local driver=xfrm ') + pskStaticPeer('') + ikePeer('inline=on local-id=fqdn:a.example', 'gw-c'));
  t.throws(() => planFromConfig(xfrm), {
    code: 'CONFIG',
    message:
      'keys: peer gw-b: inline keying needs driver=userspace (the kernel driver never sees the data packets)\n' +
      'keys: peer gw-c: inline keying needs driver=userspace (the kernel driver never sees the data packets)',
  });
});

t.test('a keying=psk-static peer: an inline parent with a static root and every default', async (t) => {
  const plan = planFromConfig(parseConfig(STATIC_LOCAL + pskStaticPeer('')));
  t.same([plan.manual, plan.ike], [[], []], 'no manual SAs, no IKE');
  const [p, ...rest] = plan.inline ?? [];
  t.equal(rest.length, 0);
  t.strictSame(p, {
    reqid: 1,
    peer: 'gw-b',
    scope: 'host-pair',
    suite: 'aes256gcm16',
    lifetime: 600,
    idle: 120,
    maxSpawn: 10_000,
    selectors: p!.selectors,
    replayWindow: 64,
    pathMtu: 1500,
    static: { keying: 'psk-static', root: p!.static!.root, local: { addr: '0.0.0.0', port: 4500 }, remote: { addr: '192.0.2.2', port: 4500 }, skew: 120 },
  });
  t.same(p!.selectors.map(sel), ['198.51.100.0/24 <-> 203.0.113.0/24']);
  t.equal(hexOf(p!.static!.root), PSK_ROOT, 'S0 = HMAC-SHA-256(psk, "keyline inline psk-static")');
  // Every setting from the file reaches the parent.
  const set = planFromConfig(
    parseConfig(
      'local tun-addr=198.51.100.1/24 listen=192.0.2.1:4501 inline-skew=30s path-mtu=1280\n' +
        pskStaticPeer('esp=chacha20poly1305 inline-scope=port inline-lifetime=1h inline-idle=30s inline-max-spawn=50 replay-window=1024'),
    ),
  ).inline![0]!;
  t.same(
    [set.scope, set.suite, set.lifetime, set.idle, set.maxSpawn, set.replayWindow, set.pathMtu, set.static?.skew, set.static?.local],
    ['port', 'chacha20poly1305', 3600, 30, 50, 1024, 1280, 30, { addr: '192.0.2.1', port: 4501 }],
  );
});

t.test('reqids over manual, IKE and static peers; an IKE parent for keying=ike with inline=on', async (t) => {
  const text = IKE_LOCAL + peer('') + ikePeer('inline=on inline-scope=proto', 'gw-c') + pskStaticPeer('', 'gw-d').replace('192.0.2.2', '192.0.2.4');
  const plan = planFromConfig(parseConfig(text));
  t.same(plan.manual.map((m) => [m.peer, m.reqid]), [['gw-b', 1]]);
  t.same(plan.ike.map((p) => [p.name, p.reqid, p.inline]), [['gw-c', 2, true]]);
  t.same(
    plan.inline?.map((x) => [x.peer, x.reqid, x.scope, x.static === undefined]),
    [
      ['gw-c', 2, 'proto', true],
      ['gw-d', 3, 'host-pair', false],
    ],
    'an IKE parent shares its connection reqid and gets its secret from IKE; the static one has a root',
  );
  t.same(plan.inline![0]!.selectors.map(sel), ['10.0.0.0/8 <-> 10.1.0.0/16']);
  t.equal(plan.inline![0]!.suite, 'aes256gcm16', 'the first AEAD of the ESP proposals');
});

t.test('hand-built static peers: refused with what they lack, as keying=ike peers are', async (t) => {
  // A Config not made by parseConfig: toIke checks keying=ike's required fields ("keying=ike needs
  // psk"); inlineParents/staticRoot in src/cli/plan.ts do not for the static keyings.
  const c = parseConfig(IKE_LOCAL + ikePeer(''));
  const { psk: _psk, ...noPsk } = c.peers[0]!;
  // inline=false (carried over from the keying=ike parse): the peer must not vanish from the plan in silence.
  const noInline = { ...c, peers: [{ ...c.peers[0]!, keying: 'psk-static' as const }] };
  let planned: boolean;
  try {
    planned = planFromConfig(noInline).inline?.some((x) => x.peer === 'gw-b') ?? false;
  } catch (e) {
    planned = (e as KeylineError).code === 'CONFIG';
  }
  t.ok(planned, 'a psk-static peer gets an inline parent, or the Config is refused; never dropped in silence');
  t.throws(() => planFromConfig({ ...c, peers: [{ ...noPsk, keying: 'psk-static' as const, inline: true }] }), { code: 'CONFIG', message: /psk/ }, 'psk-static without psk: a CONFIG error, not a TypeError from HMAC');
  const noKeys = { ...c, peers: [{ ...c.peers[0]!, keying: 'x25519-static' as const, inline: true }] };
  const e = t.throws(() => planFromConfig(noKeys)) as KeylineError;
  t.match(e.message, /privkey/, 'x25519-static without privkey and pubkey: says what is missing');
  t.notMatch(e.message, /low-order/, 'not that the (missing) pubkey is a low-order point');
});
