import t from 'tap';
import { parseConfig, ConfigError, MAX_PROBLEMS } from '../../src/config/index.js';
import { KeylineError } from '../../src/wire/errors.js';
import { GOOD, b64Of, hexOf, peer } from './fixtures/keys.js';
import { errorsOf } from './fixtures/expect.js';

/** Why validate.ts refuses combined-mode suites with keying=manual. */
const NONCE_WHY =
  'AES-GCM and ChaCha20-Poly1305 need a nonce that never repeats under one key, and a restart would repeat it (RFC 8221 §5)';

// The shared peer line puts keys at fixed columns: esp's value at 44, local-net's at 68, remote-net's
// at 90, spi-in's at 109, spi-out's at 124, key-in's at 138, key-out's at 279; extra keys start at 412.
const cases: [string, string, string][] = [
  [
    'misspelt key, suggestion (the brief example)',
    'local mtu=1400\n' + peer('').replace(' remote-net', '\n   remote-nte'),
    "keys:3:4: unknown key 'remote-nte' in peer gw-b (did you mean 'remote-net'?)",
  ],
  ['unknown key, nothing close', peer('frobnicate=1'), "keys:1:412: unknown key 'frobnicate' in peer gw-b"],
  [
    'key on the wrong directive',
    peer('mtu=1400') + 'local esn=on\n',
    "keys:1:412: unknown key 'mtu' in peer gw-b ('mtu' belongs in the local entry)\n" +
      "keys:2:7: unknown key 'esn' in the local entry ('esn' belongs in a peer entry)",
  ],
  ['duplicate key', peer('esp=aes128-sha256'), "keys:1:412: duplicate key 'esp' in peer gw-b (first set on line 1)"],
  ['duplicate peer', peer('') + peer('', 'gw-b'), "keys:2:6: duplicate peer 'gw-b' (first defined on line 1)"],
  ['second local', 'local mtu=1400\nlocal tun=x\n', 'keys:2:1: second local entry (the first is on line 1); put all local keys in one entry'],
  [
    'missing required key',
    peer('').replace('addr=192.0.2.2 ', ''),
    "keys:1:6: missing required key 'addr' in peer gw-b; addr is the peer's ADDRESS[:PORT] (port 4500 by default; :500 starts IKE on the plain IKE port), or any (keying=ike: wait for the peer)",
  ],
  [
    'SPI 255',
    peer('').replace('spi-in=0x1001', 'spi-in=255'),
    "keys:1:109: bad value '255' for spi-in in peer gw-b: SPI 255 is reserved (1..255 are reserved by IANA); expected 256..0xffffffff, in hex (0x...) or decimal",
  ],
  [
    'host bits in the second list element: column of the element',
    peer('').replace('remote-net=10.1.0.0/16', 'remote-net=10.1.0.0/16,10.2.0.1/16'),
    "keys:1:102: bad value '10.2.0.1/16' for remote-net in peer gw-b: host bits are set; the network is 10.2.0.0/16",
  ],
  [
    'prefix /33',
    peer('').replace('10.0.0.0/8', '10.0.0.0/33'),
    "keys:1:68: bad value '10.0.0.0/33' for local-net in peer gw-b: the prefix length must be 0..32 for IPv4",
  ],
  [
    'continuation with no entry',
    '# header\n  local mtu=1400\n',
    "keys:2:3: indented line 'local' continues no entry (an entry starts in column 1 with local or peer NAME)",
  ],
  [
    'space after = (value with a space)',
    'local mtu=1400 tun= kl1\n',
    "keys:1:20: bad value '' for tun in the local entry: expected an interface name of 1..15 letters, digits, _ or -\n" +
      "keys:1:21: expected key=value in the local entry, found 'kl1' (values cannot contain spaces)",
  ],
  ['unknown directive', 'peers a addr=any\n', "keys:1:1: unknown directive 'peers' (did you mean 'peer'?); expected local or peer NAME"],
  ['continuation not indented', peer('') + 'spi-in=0x1001\n', "keys:2:1: 'spi-in=...' in column 1 starts a new entry; indent continuation lines"],
  ['peer without a name', 'peer addr=192.0.2.2\n', "keys:1:1: expected a name after 'peer' (1..32 of A-Z a-z 0-9 _ . -)"],
  [
    'bad peer name',
    'peer gw/b addr=192.0.2.2\npeer ' + 'x'.repeat(33) + ' addr=any\n',
    "keys:1:6: bad peer name '<4 characters>': character 3 ('/') is not allowed; expected 1..32 of A-Z a-z 0-9 _ . -\n" +
      "keys:2:6: bad peer name '<33 characters>': 33 characters; expected 1..32 of A-Z a-z 0-9 _ . -",
  ],
  [
    'keying=ike by default: a psk, an id for addr=any and a local identity',
    'peer gw-b addr=any local-net=10.0.0.0/8 remote-net=10.1.0.0/16\n',
    'keys:1:6: peer gw-b lacks psk, which keying=ike needs\n' +
      "keys:1:6: keying=ike in peer gw-b needs this side's identity, and there is no local entry: add one with id=, e.g. 'local id=fqdn:gw-a.example', or set local-id= in each keying=ike peer\n" +
      'keys:1:16: peer gw-b has addr=any and no id=: a keying=ike peer that may come from any address must name the identity it proves (e.g. id=fqdn:gw-b.example)',
  ],
  [
    // keying=psk-static is implemented now (test/config/inline.test.ts): what this peer lacks is its psk and an address.
    'keying=psk-static without a psk, from any address',
    'peer gw-b addr=any keying=psk-static local-net=10.0.0.0/8 remote-net=10.1.0.0/16\n',
    'keys:1:6: peer gw-b lacks psk, which keying=psk-static needs\n' +
      "keys:1:16: addr=any cannot be used with keying=psk-static in peer gw-b: a static parent sends the first packet, so it needs the peer's ADDRESS[:PORT]",
  ],
  // The AEAD key length is still checked for manual peers, next to the refusal of the suite itself.
  [
    'AEAD key length (reported with the combined-suite error)',
    peer('')
      .replace('aes256-sha256', 'aes256gcm16')
      .replace(/key-in=\S+/, 'key-in=hex:' + '00'.repeat(32))
      .replace(/key-out=\S+/, 'key-out=hex:' + '00'.repeat(36)),
    `keys:1:44: esp=aes256gcm16 cannot be used with keying=manual in peer gw-b: ${NONCE_WHY}; use aes128-sha256 or aes256-sha256\n` +
      'keys:1:136: key-in of peer gw-b is 32 bytes; aes256gcm16 needs 36 (32-byte key + 4-byte salt)',
  ],
  [
    'AEAD key length, both directions wrong (aes128gcm16 with 64-byte keys)',
    peer('').replace('aes256-sha256', 'aes128gcm16'),
    `keys:1:44: esp=aes128gcm16 cannot be used with keying=manual in peer gw-b: ${NONCE_WHY}; use aes128-sha256 or aes256-sha256\n` +
      'keys:1:136: key-in of peer gw-b is 64 bytes; aes128gcm16 needs 20 (16-byte key + 4-byte salt)\n' +
      'keys:1:277: key-out of peer gw-b is 64 bytes; aes128gcm16 needs 20 (16-byte key + 4-byte salt)',
  ],
  [
    'CBC key length',
    peer('').replace('aes256-sha256', 'aes128-sha256').replace(/key-in=\S+/, 'key-in=hex:' + '00'.repeat(48)),
    'keys:1:247: key-out of peer gw-b is 64 bytes; aes128-sha256 needs 48 (16-byte AES key + 32-byte HMAC-SHA-256 key)',
  ],
  [
    'CBC key length, aes256-sha256',
    peer('').replace(/key-in=\S+/, 'key-in=hex:' + '00'.repeat(36)),
    'keys:1:138: key-in of peer gw-b is 36 bytes; aes256-sha256 needs 64 (32-byte AES key + 32-byte HMAC-SHA-256 key)',
  ],
  [
    'manual keying without its keys',
    'peer gw-b addr=any keying=manual mode=transport\n',
    'keys:1:6: peer gw-b lacks esp, spi-in, spi-out, key-in and key-out, which keying=manual needs\n' +
      "keys:1:16: addr=any cannot be used with keying=manual in peer gw-b: manual SAs need the peer's ADDRESS[:PORT]",
  ],
  ['tunnel without nets', peer('').replace(/ local-net=\S+/, ''), 'keys:1:6: peer gw-b lacks local-net, which mode=tunnel needs'],
  [
    'SPIs shared by two peers',
    peer('') + peer('', 'gw-c'),
    'keys:2:109: spi-in 0x1001 of peer gw-c is already used by peer gw-b (SPIs must be unique per direction)\n' +
      'keys:2:124: spi-out 0x2001 of peer gw-c is already used by peer gw-b (SPIs must be unique per direction)',
  ],
  [
    'address families that cannot match',
    peer('').replace('remote-net=10.1.0.0/16', 'remote-net=fd00::/8'),
    'keys:1:68: local-net of peer gw-b has IPv4 prefixes but remote-net has none, so they can never match\n' +
      'keys:1:90: remote-net of peer gw-b has IPv6 prefixes but local-net has none, so they can never match',
  ],
  [
    'bad values of every local key type, all reported',
    'local mtu=1 tun=! driver=xfrn log-level=loud backend=z replay-window=-1 listen=1.2.3.4:0\n',
    "keys:1:11: bad value '1' for mtu in the local entry: 1 is out of range; expected 576..9000\n" +
      "keys:1:17: bad value '!' for tun in the local entry: expected an interface name of 1..15 letters, digits, _ or -\n" +
      "keys:1:26: bad value 'xfrn' for driver in the local entry: expected one of userspace, memory, xfrm (did you mean 'xfrm'?)\n" +
      "keys:1:41: bad value 'loud' for log-level in the local entry: expected one of error, warn, info, debug\n" +
      "keys:1:54: bad value 'z' for backend in the local entry: expected one of node, noble, auto\n" +
      "keys:1:70: bad value '-1' for replay-window in the local entry: expected a decimal integer 0..4096\n" +
      "keys:1:80: bad value '1.2.3.4:0' for listen in the local entry: expected a UDP port 1..65535 after the address",
  ],
];

for (const [name, text, expected] of cases) {
  t.test(name, async (t) => t.equal(errorsOf(t, text), expected));
}

t.test('errors come sorted by position, from every entry at once', async (t) => {
  const text = 'peer b addr=nowhere\nlocal mtu=99999\npeer a addr=any esp=rot13\n';
  t.equal(
    errorsOf(t, text),
    "keys:1:13: bad value 'nowhere' for addr in peer b: expected ADDRESS[:PORT] with an IPv4 address or [IPv6] (host names are not resolved)\n" +
      "keys:2:11: bad value '99999' for mtu in the local entry: 99999 is out of range; expected 576..9000\n" +
      "keys:3:21: bad value 'rot13' for esp in peer a: unknown algorithm \"rot13\"; accepted: encryption aes128gcm16, aes256gcm16, chacha20poly1305, aes128, aes256;" +
      ' integrity sha256 (sha2_256); prf prfsha256, prfsha384, prfsha512; key exchange x25519 (curve25519), modp2048, modp3072; esn, noesn (ESP)',
  );
});

t.test('the problem list is capped, the rest counted', async (t) => {
  const text = Array.from({ length: 30 }, (_, i) => `bogus${i}\n`).join('');
  const e = t.throws(() => parseConfig(text)) as ConfigError;
  t.equal(e.problems.length, MAX_PROBLEMS);
  t.equal(e.more, 10);
  const lines = e.message.split('\n');
  t.equal(lines.length, MAX_PROBLEMS + 1);
  t.equal(lines[0], "keys:1:1: unknown directive 'bogus0'; expected local or peer NAME");
  t.equal(lines.at(-1), '(10 more errors not shown)');
});

t.test('ConfigError shape', async (t) => {
  const e = t.throws(() => parseConfig('local mtu=1\n', { file: '/etc/keyline/keys' })) as ConfigError;
  t.ok(e instanceof KeylineError);
  t.equal(e.code, 'CONFIG');
  t.equal(e.name, 'ConfigError');
  t.same(e.problems, [
    {
      file: '/etc/keyline/keys',
      line: 1,
      column: 11,
      token: '1',
      message: "bad value '1' for mtu in the local entry: 1 is out of range; expected 576..9000",
    },
  ]);
});

t.test('a bad local entry does not hide peer errors', async (t) => {
  t.equal(
    errorsOf(t, 'local replay-window=x\npeer p addr=any esn=maybe\n'),
    "keys:1:21: bad value 'x' for replay-window in the local entry: expected a decimal integer 0..4096\n" +
      "keys:2:21: bad value 'maybe' for esn in peer p: expected on/off, yes/no or true/false",
  );
});

t.test('value errors and validation errors are reported together', async (t) => {
  const text = 'peer a addr=any esn=maybe\npeer b addr=any keying=psk-static local-net=10.0.0.0/8 remote-net=10.1.0.0/16\n';
  t.equal(
    errorsOf(t, text),
    "keys:1:21: bad value 'maybe' for esn in peer a: expected on/off, yes/no or true/false\n" +
      'keys:2:6: peer b lacks psk, which keying=psk-static needs\n' +
      "keys:2:13: addr=any cannot be used with keying=psk-static in peer b: a static parent sends the first packet, so it needs the peer's ADDRESS[:PORT]",
  );
});

t.test('keying=manual refuses combined-mode suites, at the esp token (RFC 8221 §5)', async (t) => {
  const keys = (n: number) => (text: string) =>
    text.replace(/key-in=\S+/, `key-in=hex:${'11'.repeat(n)}`).replace(/key-out=\S+/, `key-out=hex:${'22'.repeat(n)}`);
  // Key lengths right for each suite, so the suite itself is the only problem.
  for (const [suite, len] of [
    ['aes128gcm16', 20],
    ['aes256gcm16', 36],
    ['chacha20poly1305', 36],
  ] as const) {
    const text = keys(len)(peer('').replace('esp=aes256-sha256', `esp=${suite}`));
    t.equal(text.indexOf(`esp=${suite}`) + 'esp='.length + 1, 44, 'the value of esp= starts at column 44');
    t.equal(
      errorsOf(t, text),
      `keys:1:44: esp=${suite} cannot be used with keying=manual in peer gw-b: ${NONCE_WHY}; use aes128-sha256 or aes256-sha256`,
      suite,
    );
  }
  // On a continuation line of a multi-line entry, and named by the peer it is in.
  const good = GOOD.replace('esp=aes256-sha256', 'esp=chacha20poly1305')
    .replace(/key-in=\S+/, `key-in=hex:${'11'.repeat(36)}`)
    .replace(/key-out=\S+/, `key-out=base64:${b64Of(new Uint8Array(36))}`);
  t.equal(good.split('\n')[3]!.indexOf('esp=chacha20poly1305') + 'esp='.length + 1, 49);
  t.equal(
    errorsOf(t, good),
    `keys:4:49: esp=chacha20poly1305 cannot be used with keying=manual in peer gw-b: ${NONCE_WHY}; use aes128-sha256 or aes256-sha256`,
  );
  // Another spelling of the suite (the notation ignores case) is refused too, reported by its
  // canonical name at the written token.
  const upper = keys(36)(peer('', 'gw-c').replace('esp=aes256-sha256', 'esp=AES256GCM16-noesn'));
  const e = t.throws(() => parseConfig(upper, { file: 'keys' })) as ConfigError;
  t.equal(
    e.message,
    `keys:1:44: esp=aes256gcm16 cannot be used with keying=manual in peer gw-c: ${NONCE_WHY}; use aes128-sha256 or aes256-sha256`,
  );
  t.same(e.problems.map((p) => [p.line, p.column, p.token]), [[1, 44, 'aes256gcm16']]);
  t.equal(upper.slice(43, 43 + 'AES256GCM16 '.length), 'AES256GCM16-', 'column 44 is the suite as written');
  // The CBC suites the message recommends pass with their own key lengths.
  for (const [suite, len] of [
    ['aes128-sha256', 16 + 32],
    ['aes256-sha256', 32 + 32],
  ] as const) {
    const c = parseConfig(keys(len)(peer('').replace('esp=aes256-sha256', `esp=${suite}`)));
    t.same(c.peers[0]!.esp, [{ suite, esn: false }]);
    t.equal(c.peers[0]!.keyIn!.length, len);
    t.equal(hexOf(c.peers[0]!.keyOut!), '22'.repeat(len));
  }
});
