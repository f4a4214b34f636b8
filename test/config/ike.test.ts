/**
 * keying=ike in the key file: every key it adds, its defaults, the checks between keys, and the
 * printed form. Error tests give the exact file:line:column; errorsOf also checks that each
 * column is where the reported token is written.
 */
import t from 'tap';
import { parseConfig, formatConfig, ConfigError } from '../../src/config/index.js';
import { KE } from '../../src/wire/iana.js';
import { addrText } from '../../src/sa/selector.js';
import { errorsOf } from './fixtures/expect.js';
import { IKE_LOCAL, PSK, b64Of, hexOf, ikePeer, peer, secretPieces } from './fixtures/keys.js';
import { DEFAULT_ESP, DEFAULT_IKE, LOCAL_INLINE_PRINTED } from './fixtures/expect.js';

const hex = (b: Uint8Array | undefined) => (b ? Buffer.from(b).toString('hex') : undefined);
const pfx = (p: { addr: Uint8Array; len: number }) => `${addrText(p.addr)}/${p.len}`;
const NO_KEYING = 'keying=ike (the default, as no keying= is given)';
const MARGIN_WHY = 'rekeying starts between the margin and twice the margin before a lifetime ends';

t.test('the fixture line has its keys where its comment says', async (t) => {
  const line = ikePeer('x=1');
  for (const [needle, col] of [
    ['addr=', 16],
    ['psk=', 30],
    ['local-net=', 109],
    ['remote-net=', 131],
  ] as const) {
    t.equal(line.indexOf(needle) + needle.length + 1, col, needle);
  }
  t.equal(line.indexOf('x=1') + 1, 143);
  t.equal(peer('x=1').indexOf('x=1') + 1, 412);
});

t.test('a minimal keying=ike peer: every default', async (t) => {
  const c = parseConfig(IKE_LOCAL + ikePeer(''));
  const { psk, localNet, remoteNet, ...p } = c.peers[0]!;
  t.strictSame(p, {
    name: 'gw-b',
    addr: { addr: '192.0.2.2', port: 4500 },
    keying: 'ike',
    id: { type: 'ipv4', value: '192.0.2.2' },
    ike: DEFAULT_IKE,
    esp: DEFAULT_ESP,
    mode: 'tunnel',
    replayWindow: 64,
    start: 'initiate',
    dpd: 30,
    dpdTimeout: 120,
    retransmitTimeout: 2,
    retransmitTries: 5,
    lifetime: 3600,
    ikeLifetime: 4 * 3600,
    rekeyMargin: 9 * 60,
    inline: false, // keying=ike offers inline keying only with inline=on; none of its settings then
  });
  t.equal(hex(psk), hexOf(PSK));
  t.same(localNet?.map(pfx), ['10.0.0.0/8']);
  t.same(remoteNet?.map(pfx), ['10.1.0.0/16']);
  t.same(c.local.listen, [
    { addr: '0.0.0.0', port: 500 },
    { addr: '0.0.0.0', port: 4500 },
  ]);
  t.same(c.local.id, { type: 'fqdn', value: 'gw-a.example' });
});

t.test('defaults that follow addr: the peer id and start', async (t) => {
  const v6 = parseConfig(IKE_LOCAL + ikePeer('').replace('addr=192.0.2.2', 'addr=[2001:DB8::2]')).peers[0]!;
  t.same(v6.id, { type: 'ipv6', value: '2001:db8::2' }, 'the canonical address');
  t.equal(v6.start, 'initiate');
  const plain = parseConfig(IKE_LOCAL + ikePeer('').replace('addr=192.0.2.2', 'addr=192.0.2.2:500')).peers[0]!;
  t.same(plain.addr, { addr: '192.0.2.2', port: 500 }, 'start on the plain IKE port');
  const any = parseConfig(IKE_LOCAL + ikePeer('id=fqdn:road.example').replace('addr=192.0.2.2', 'addr=any')).peers[0]!;
  t.equal(any.addr, 'any');
  t.equal(any.start, 'wait', 'addr=any only responds');
  t.same(any.id, { type: 'fqdn', value: 'road.example' });
  const waits = parseConfig(IKE_LOCAL + ikePeer('id=fqdn:road.example start=wait').replace('addr=192.0.2.2', 'addr=any')).peers[0]!;
  t.equal(waits.start, 'wait', 'start=wait is allowed with addr=any');
});

t.test('every keying=ike key set explicitly', async (t) => {
  const text =
    'local listen=192.0.2.1:500,192.0.2.1:4500,[2001:db8::1]:4500 tun-addr=198.51.100.1/24\n' +
    ikePeer(
      'keying=ike id=user-fqdn:ops@example.net local-id=keyid:0A0B0c ike=aes128-sha256-prfsha384-modp3072,chacha20poly1305-prfsha256-x25519' +
        ' esp=aes128-sha256-modp2048-esn,chacha20poly1305-esn start=on-traffic dpd=2m lifetime=30m ike-lifetime=8h rekey-margin=5m' +
        ' replay-window=1024 mode=transport',
    )
      .replace(/psk=\S+/, `psk=base64:${b64Of(PSK)}`)
      .replace('local-net=10.0.0.0/8 remote-net=10.1.0.0/16', 'local-net=192.0.2.1 remote-net=192.0.2.2/32');
  const c = parseConfig(text);
  t.equal(c.local.id, undefined, 'every keying=ike peer has local-id, so the local entry needs no id');
  const p = c.peers[0]!;
  t.same(p.id, { type: 'user-fqdn', value: 'ops@example.net' });
  t.same(p.localId, { type: 'keyid', value: '0a0b0c' });
  t.equal(hex(p.psk), hexOf(PSK), 'base64');
  t.same(p.ike, [
    { suite: 'aes128-sha256', prf: 'sha384', group: KE.MODP_3072 },
    { suite: 'chacha20poly1305', prf: 'sha256', group: KE.CURVE25519 },
  ]);
  t.same(p.esp, [
    { suite: 'aes128-sha256', esn: true, group: KE.MODP_2048 },
    { suite: 'chacha20poly1305', esn: true },
  ]);
  t.equal(p.start, 'on-traffic');
  t.equal(p.dpd, 120);
  t.equal(p.lifetime, 1800);
  t.equal(p.ikeLifetime, 8 * 3600);
  t.equal(p.rekeyMargin, 300);
  t.equal(p.replayWindow, 1024);
  t.equal(p.mode, 'transport');
  t.same([p.localNet?.map(pfx), p.remoteNet?.map(pfx)], [['192.0.2.1/32'], ['192.0.2.2/32']], 'single hosts in transport mode');
  t.equal(p.esn, undefined, 'no esn= for keying=ike: ESN is in the proposals');
  for (const [dpd, want] of [
    ['off', 0],
    ['0', 0],
    ['45', 45],
  ] as const) {
    t.equal(parseConfig(IKE_LOCAL + ikePeer(`dpd=${dpd}`)).peers[0]!.dpd, want, `dpd=${dpd}`);
  }
});

t.test('psk from a file', async (t) => {
  const files: Record<string, string> = { '/etc/keyline/gw-b.psk': `base64:${b64Of(PSK)}\n` };
  const readFile = (p: string) => files[p] ?? '';
  const c = parseConfig(IKE_LOCAL + ikePeer('').replace(/psk=\S+/, 'psk=file:gw-b.psk'), { file: '/etc/keyline/keys', readFile });
  t.equal(hex(c.peers[0]!.psk), hexOf(PSK));
});

t.test('keyline check: the effective keying=ike peer, psk masked, and it parses back', async (t) => {
  const c = parseConfig(IKE_LOCAL + ikePeer(''));
  const out = formatConfig(c);
  t.equal(
    out,
    '# effective configuration of keys: defaults included, secrets masked\n' +
      `local id=fqdn:gw-a.example listen=0.0.0.0:500,0.0.0.0:4500 driver=userspace tun=kl0 tun-addr=198.51.100.1/24 mtu=1400 log-level=info backend=auto replay-window=64 ${LOCAL_INLINE_PRINTED}\n` +
      'peer gw-b addr=192.0.2.2:4500 keying=ike id=ipv4:192.0.2.2 psk=<secret 32 bytes>' +
      ' ike=aes256gcm16-prfsha256-x25519,chacha20poly1305-prfsha256-x25519,aes128-sha256-modp2048' +
      ' esp=aes256gcm16,chacha20poly1305,aes128-sha256 mode=tunnel local-net=10.0.0.0/8 remote-net=10.1.0.0/16' +
      ' replay-window=64 start=initiate dpd=30s dpd-timeout=2m retransmit-timeout=2s retransmit-tries=5 lifetime=1h ike-lifetime=4h rekey-margin=9m inline=off\n',
  );
  t.same(
    secretPieces(12).filter((s) => out.includes(s)),
    [],
    'no piece of the psk',
  );
  const back = parseConfig(out.replace('psk=<secret 32 bytes>', `psk=hex:${hexOf(PSK)}`));
  t.equal(formatConfig(back), out, 'the printed form is a fixed point');
  t.equal(JSON.stringify(back), JSON.stringify(c));
  t.match(JSON.stringify(c), /"psk":"<secret 32 bytes>"/, 'and JSON of the config masks it too');

  const every = parseConfig(
    IKE_LOCAL +
      ikePeer('esp=aes128-sha256-modp2048-esn,aes256gcm16-noesn ike=aes128-sha256-prfsha256-modp2048 dpd=0 local-id=user-fqdn:a@b.example').replace(
        'addr=192.0.2.2',
        'addr=any id=keyid:00ff',
      ),
  );
  const line = formatConfig(every).split('\n')[2]!;
  t.match(line, / ike=aes128-sha256-modp2048 esp=aes128-sha256-modp2048-esn,aes256gcm16 /, 'implied PRF and noesn are left out');
  t.match(line, / id=keyid:00ff local-id=user-fqdn:a@b\.example /);
  t.match(line, / start=wait dpd=off /);
});

t.test('manual peers get none of the keying=ike defaults', async (t) => {
  const c = parseConfig(peer(''));
  const p = c.peers[0]!;
  for (const f of ['id', 'localId', 'psk', 'ike', 'start', 'dpd', 'dpdTimeout', 'retransmitTimeout', 'retransmitTries', 'lifetime', 'ikeLifetime', 'rekeyMargin'] as const) {
    t.equal(p[f], undefined, f);
  }
  for (const f of ['inline', 'inlineScope', 'inlineLifetime', 'inlineIdle', 'inlineMaxSpawn', 'pubkey'] as const) {
    t.equal(p[f], undefined, `${f}: a manual peer has no parent secret to key inline from`);
  }
  t.equal(p.esn, true, 'manual ESN from esn=, on by default');
  t.same(p.esp, [{ suite: 'aes256-sha256', esn: false }]);
  t.notMatch(formatConfig(c), /start=|dpd=|dpd-timeout=|retransmit-timeout=|retransmit-tries=|ike=|rekey-margin=|ike-lifetime=|lifetime=|inline=|inline-scope=|inline-lifetime=|inline-idle=|inline-max-spawn=/);
});

const cases: [string, string, string][] = [
  ['missing psk', IKE_LOCAL + ikePeer('').replace(/ psk=\S+/, ''), 'keys:2:6: peer gw-b lacks psk, which keying=ike needs'],
  [
    'short psk: 15 bytes',
    IKE_LOCAL + ikePeer('').replace(/psk=\S+/, `psk=hex:${'ab'.repeat(15)}`),
    'keys:2:30: psk of peer gw-b is 15 bytes; at least 16 are needed: a short PSK can be brute-forced offline from one captured IKE_AUTH exchange;' +
      ' `keyline genpsk` prints 32 random bytes',
  ],
  [
    'bad IKE proposal: at the second proposal',
    IKE_LOCAL + ikePeer('ike=aes256gcm16-prfsha256-x25519,aes128-sha256'),
    "keys:2:176: bad value 'aes128-sha256' for ike in peer gw-b: no key exchange method (x25519, modp2048, modp3072)",
  ],
  [
    'bad IKE proposal on a continuation line',
    IKE_LOCAL + ikePeer('').trimEnd() + '\n\tike=aes256gcm16-prfsha999-x25519\n',
    "keys:3:6: bad value 'aes256gcm16-prfsha999-x25519' for ike in peer gw-b: unknown algorithm \"prfsha999\"; accepted: encryption aes128gcm16," +
      ' aes256gcm16, chacha20poly1305, aes128, aes256; integrity sha256 (sha2_256); prf prfsha256, prfsha384, prfsha512;' +
      ' key exchange x25519 (curve25519), modp2048, modp3072; esn, noesn (ESP)',
  ],
  [
    'bad ESP proposal',
    IKE_LOCAL + ikePeer('esp=aes256gcm16,aes128'),
    "keys:2:159: bad value 'aes128' for esp in peer gw-b: aes128 (CBC) needs an integrity algorithm: aes128-sha256",
  ],
  [
    'an ESP proposal with a PRF',
    IKE_LOCAL + ikePeer('esp=aes256gcm16-prfsha256'),
    "keys:2:147: bad value 'aes256gcm16-prfsha256' for esp in peer gw-b: ESP takes no PRF",
  ],
  [
    'esn= with keying=ike',
    IKE_LOCAL + ikePeer('esn=on'),
    'keys:2:143: esn= applies to keying=manual only; with keying=ike in peer gw-b, ESN is negotiated: add -esn to the esp= proposals instead (e.g. esp=aes256gcm16-esn)',
  ],
  [
    'manual-only keys with keying=ike (the default)',
    IKE_LOCAL + ikePeer('spi-in=0x1001 key-out=hex:00 life-bytes=1G'),
    `keys:2:143: spi-in is not used with ${NO_KEYING} in peer gw-b (IKE negotiates SPIs and keys); remove it\n` +
      `keys:2:157: key-out is not used with ${NO_KEYING} in peer gw-b (IKE negotiates SPIs and keys); remove it\n` +
      `keys:2:172: life-bytes is not used with ${NO_KEYING} in peer gw-b (this build's IKE replaces child SAs on time only: lifetime= and rekey-margin=); remove it`,
  ],
  [
    'manual-only keys with keying=ike written out',
    IKE_LOCAL + ikePeer('keying=ike spi-out=0x2001 key-in=hex:00 life-packets=1000'),
    'keys:2:154: spi-out is not used with keying=ike in peer gw-b (IKE negotiates SPIs and keys); remove it\n' +
      'keys:2:169: key-in is not used with keying=ike in peer gw-b (IKE negotiates SPIs and keys); remove it\n' +
      "keys:2:183: life-packets is not used with keying=ike in peer gw-b (this build's IKE replaces child SAs on time only: lifetime= and rekey-margin=); remove it",
  ],
  [
    'keying=ike keys with keying=manual',
    peer(
      'psk=hex:00112233445566778899aabbccddeeff ike=aes128-sha256-modp2048 id=fqdn:x.example local-id=fqdn:y.example start=wait dpd=off ike-lifetime=8h rekey-margin=5m dpd-timeout=10s',
    ),
    ['psk 412', 'ike 453', 'id 480', 'local-id 498', 'start 522', 'dpd 533', 'ike-lifetime 541', 'rekey-margin 557', 'dpd-timeout 573']
      .map((kc) => {
        const [key, col] = kc.split(' ');
        const why = 'manually keyed SAs have no IKE: no authentication, identities, proposals, rekeying or liveness checks';
        return `keys:1:${col}: ${key} is not used with keying=manual in peer gw-b (${why}); remove it`;
      })
      .join('\n'),
  ],
  [
    'start=initiate with addr=any',
    IKE_LOCAL + ikePeer('id=fqdn:road.example start=initiate').replace('addr=192.0.2.2', 'addr=any'),
    'keys:2:164: start=initiate cannot be used with addr=any in peer gw-b: there is no address to send IKE_SA_INIT to; use start=wait or give addr=ADDRESS[:PORT]',
  ],
  [
    'start=on-traffic with addr=any',
    IKE_LOCAL + ikePeer('id=fqdn:road.example start=on-traffic').replace('addr=192.0.2.2', 'addr=any'),
    'keys:2:164: start=on-traffic cannot be used with addr=any in peer gw-b: there is no address to send IKE_SA_INIT to; use start=wait or give addr=ADDRESS[:PORT]',
  ],
  [
    'addr=any without id',
    IKE_LOCAL + ikePeer('').replace('addr=192.0.2.2', 'addr=any'),
    'keys:2:16: peer gw-b has addr=any and no id=: a keying=ike peer that may come from any address must name the identity it proves (e.g. id=fqdn:gw-b.example)',
  ],
  [
    'rekey-margin of half the lifetime',
    IKE_LOCAL + ikePeer('rekey-margin=30m'),
    `keys:2:143: rekey-margin 30m of peer gw-b must be less than half of the shorter lifetime, lifetime 1h (the default): ${MARGIN_WHY}`,
  ],
  [
    'the default rekey-margin against a short lifetime: at the lifetime',
    IKE_LOCAL + ikePeer('lifetime=10m'),
    `keys:2:143: rekey-margin 9m (the default) of peer gw-b must be less than half of the shorter lifetime, lifetime 10m: ${MARGIN_WHY}`,
  ],
  [
    'rekey-margin against ike-lifetime when it is the shorter one',
    IKE_LOCAL + ikePeer('ike-lifetime=50m rekey-margin=25m lifetime=2h'),
    `keys:2:160: rekey-margin 25m of peer gw-b must be less than half of the shorter lifetime, ike-lifetime 50m: ${MARGIN_WHY}`,
  ],
  [
    'missing local id, with a local entry: at the local entry',
    'local mtu=1400\n' + ikePeer(''),
    'keys:1:1: the local entry lacks id, which keying=ike in peer gw-b needs: set id= (the identity this side proves, e.g. id=fqdn:gw-a.example), or local-id= in each keying=ike peer',
  ],
  [
    'missing local id, two peers need it, one has its own',
    '# site A\n\nlocal mtu=1400\n' + ikePeer('') + ikePeer('local-id=fqdn:a.example', 'gw-c') + ikePeer('', 'gw-d'),
    'keys:3:1: the local entry lacks id, which keying=ike in peers gw-b, gw-d needs: set id= (the identity this side proves, e.g. id=fqdn:gw-a.example), or local-id= in each keying=ike peer',
  ],
  [
    'missing local id, no local entry: at the first keying=ike peer',
    peer('') + ikePeer('', 'gw-c') + ikePeer('', 'gw-d'),
    "keys:2:6: keying=ike in peers gw-c, gw-d needs this side's identity, and there is no local entry: add one with id=, e.g. 'local id=fqdn:gw-a.example', or set local-id= in each keying=ike peer",
  ],
  [
    'a local entry with a bad value: no second complaint about its id',
    'local mtu=1\n' + ikePeer(''),
    "keys:1:11: bad value '1' for mtu in the local entry: 1 is out of range; expected 576..9000",
  ],
  [
    'transport mode: networks instead of hosts',
    IKE_LOCAL + ikePeer('mode=transport').replace('remote-net=10.1.0.0/16', 'remote-net=192.0.2.2,10.1.0.0/16'),
    'keys:2:109: local-net of peer gw-b must list single hosts in mode=transport (/32 or /128), but 10.0.0.0/8 is a network\n' +
      'keys:2:141: remote-net of peer gw-b must list single hosts in mode=transport (/32 or /128), but 10.1.0.0/16 is a network',
  ],
  [
    'transport mode without nets',
    IKE_LOCAL + ikePeer('mode=transport').replace(/ (local|remote)-net=\S+/g, ''),
    'keys:2:6: peer gw-b lacks local-net and remote-net, which keying=ike needs',
  ],
  [
    'tunnel mode without nets',
    IKE_LOCAL + ikePeer('').replace(/ (local|remote)-net=\S+/g, ''),
    'keys:2:6: peer gw-b lacks local-net and remote-net, which mode=tunnel needs',
  ],
  [
    'dpd that is neither a duration nor off',
    IKE_LOCAL + ikePeer('dpd=never'),
    "keys:2:147: bad value 'never' for dpd in peer gw-b: expected a duration 0s..1d like 90s, 10m, 2h30m or 1d (a bare number is seconds), or off",
  ],
  [
    'retransmit-timeout past a minute',
    IKE_LOCAL + ikePeer('retransmit-timeout=2m'),
    "keys:2:162: bad value '2m' for retransmit-timeout in peer gw-b: 2m is out of range; expected 1s..1m",
  ],
  [
    'retransmit-tries past 10',
    IKE_LOCAL + ikePeer('retransmit-tries=11'),
    "keys:2:160: bad value '11' for retransmit-tries in peer gw-b: 11 is out of range; expected 0..10",
  ],
  [
    'dpd-timeout under the 2 s the first retransmission needs',
    IKE_LOCAL + ikePeer('dpd-timeout=1s'),
    "keys:2:155: bad value '1s' for dpd-timeout in peer gw-b: 1s is out of range; expected 2s..1d",
  ],
  [
    'start with a typo',
    IKE_LOCAL + ikePeer('start=initate'),
    "keys:2:149: bad value 'initate' for start in peer gw-b: expected one of initiate, wait, on-traffic (did you mean 'initiate'?)",
  ],
  [
    'keying=manual takes one ESP suite',
    peer('').replace('esp=aes256-sha256', 'esp=aes256-sha256,aes128-sha256'),
    'keys:1:58: keying=manual takes exactly one ESP suite, but esp= of peer gw-b lists 2 proposals (manual keys leave nothing to negotiate)',
  ],
  [
    'keying=manual has no key exchange',
    peer('').replace('esp=aes256-sha256', 'esp=aes256-sha256-x25519'),
    'keys:1:44: esp=aes256-sha256-x25519 of peer gw-b asks for a key exchange (PFS), which keying=manual cannot do: its keys come from the file; write esp=aes256-sha256',
  ],
  [
    'keying=manual takes ESN from esn=',
    peer('').replace('esp=aes256-sha256', 'esp=aes256-sha256-esn'),
    'keys:1:44: esp=aes256-sha256-esn of peer gw-b: -esn is negotiated by keying=ike; with keying=manual write esp=aes256-sha256 and esn=on (the default)',
  ],
];

for (const [name, text, expected] of cases) {
  t.test(name, async (t) => t.equal(errorsOf(t, text), expected));
}

t.test('the limits of those checks pass', async (t) => {
  const ok = (extra: string, why: string, text = IKE_LOCAL + ikePeer(extra)) => t.doesNotThrow(() => parseConfig(text), why);
  ok('', 'a 32-byte psk');
  ok('', 'a 16-byte psk', IKE_LOCAL + ikePeer('').replace(/psk=\S+/, `psk=hex:${'ab'.repeat(16)}`));
  ok('rekey-margin=29m', 'a margin just under half the lifetime');
  ok('lifetime=19m', 'the default margin, 9m, under half of 19m');
  ok('local-id=fqdn:gw-a.example', 'local-id instead of a local id', ikePeer('local-id=fqdn:gw-a.example'));
  ok('mode=transport', 'transport between two hosts', IKE_LOCAL + ikePeer('mode=transport').replace('10.0.0.0/8', '192.0.2.1').replace('10.1.0.0/16', '192.0.2.2/32'));
  ok('esp=aes128-sha256-x25519-esn', 'PFS and ESN in a keying=ike proposal');
});

t.test('errors about a psk never show it', async (t) => {
  const short = PSK.subarray(0, 12);
  for (const text of [
    IKE_LOCAL + ikePeer('').replace(/psk=\S+/, `psk=hex:${hexOf(short)}`),
    IKE_LOCAL + ikePeer('').replace(/psk=\S+/, `psk=base64:${b64Of(short)}`),
    IKE_LOCAL + ikePeer(`ike=${hexOf(PSK)}`),
    IKE_LOCAL + ikePeer(`esp=aes256gcm16-${b64Of(PSK)}`),
    peer(`psk=hex:${hexOf(PSK)}`),
  ]) {
    const e = t.throws(() => parseConfig(text)) as ConfigError;
    t.ok(e instanceof ConfigError);
    const shown = e.message + JSON.stringify(e.problems);
    t.same(
      secretPieces(12).filter((s) => shown.includes(s)),
      [],
      e.message.slice(0, 60),
    );
  }
});
