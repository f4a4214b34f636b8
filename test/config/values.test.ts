import t, { type Test } from 'tap';
import { bool, duration, durationOrOff, integer, listOf, oneOf, size, spi, type ValueContext, type ValueType } from '../../src/config/values.js';
import { endpoint, identity, interfaceAddress, network, orAny } from '../../src/config/net.js';
import { secret } from '../../src/config/secret.js';
import { espProposals, ikeProposals } from '../../src/config/proposals.js';
import { ValueError } from '../../src/config/errors.js';

const ctx: ValueContext = { readFile: () => 'hex:00', baseDir: '/etc/keyline' };

/** The parsed value, formatted back; or 'error: <reason>'. */
function run<T>(type: ValueType<T>, text: string): string {
  try {
    return type.format(type.parse(text, ctx));
  } catch (e) {
    if (e instanceof ValueError) return `error: ${e.message}`;
    throw e;
  }
}

function table<T>(t: Test, type: ValueType<T>, rows: [string, string][]): void {
  for (const [input, want] of rows) t.equal(run(type, input), want, JSON.stringify(input));
}

t.test('durations', async (t) => {
  const d = duration(0, 30 * 86400);
  table(t, d, [
    ['90s', '1m30s'],
    ['10m', '10m'],
    ['1h', '1h'],
    ['2h30m', '2h30m'],
    ['45', '45s'],
    ['0', '0s'],
    ['1d2h3m4s', '1d2h3m4s'],
    ['3600s', '1h'],
  ]);
  const bad = 'error: expected a duration 0s..30d like 90s, 10m, 2h30m or 1d (a bare number is seconds)';
  for (const s of ['', '1h1h', '30m1h', '1.5h', 'h', '-5', '05', '1H', '1w', ' 1h']) t.equal(run(d, s), bad, JSON.stringify(s));
  t.equal(run(d, '31d'), 'error: 31d is out of range; expected 0s..30d');
  t.equal(run(duration(10, 60), '5s'), 'error: 5s is out of range; expected 10s..1m');
  t.equal(duration(0, 1e9).parse('2h30m', ctx), 9000);
  const dpd = durationOrOff(86400);
  table(t, dpd, [
    ['off', 'off'],
    ['0', 'off'],
    ['0s', 'off'],
    ['30s', '30s'],
    ['90', '1m30s'],
    ['2d', 'error: 2d is out of range; expected 0s..1d, or off'],
    ['never', 'error: expected a duration 0s..1d like 90s, 10m, 2h30m or 1d (a bare number is seconds), or off'],
  ]);
  t.equal(dpd.parse('off', ctx), 0);
});

t.test('sizes', async (t) => {
  const s = size(1, 2 ** 50);
  table(t, s, [
    ['1G', '1G'],
    ['500M', '500M'],
    ['64k', '64k'],
    ['64K', '64k'],
    ['1g', '1G'],
    ['1024', '1k'],
    ['1000', '1000'],
    ['1536k', '1536k'],
    ['2048M', '2G'],
  ]);
  t.equal(s.parse('1G', ctx), 2 ** 30);
  t.equal(run(s, '0'), 'error: 0 is out of range; expected 1..1024T');
  t.equal(run(s, '2048T'), 'error: 2048T is out of range; expected 1..1024T');
  for (const x of ['1.5G', 'G', '1GB', '01k', '-1', '1 G']) {
    t.equal(run(s, x), 'error: expected a size 1..1024T like 64k, 500M or 1G (k, M, G, T are powers of 1024; a bare number is bytes)', x);
  }
});

t.test('integers, booleans, enums', async (t) => {
  const mtu = integer(576, 9000);
  table(t, mtu, [
    ['1400', '1400'],
    ['576', '576'],
    ['575', 'error: 575 is out of range; expected 576..9000'],
    ['01400', 'error: expected a decimal integer 576..9000'],
    ['0x578', 'error: expected a decimal integer 576..9000'],
    ['1e3', 'error: expected a decimal integer 576..9000'],
    ['99999999999999999999', 'error: expected a decimal integer 576..9000'],
  ]);
  table(t, bool, [
    ['on', 'on'],
    ['yes', 'on'],
    ['true', 'on'],
    ['off', 'off'],
    ['no', 'off'],
    ['false', 'off'],
    ['On', "error: expected on/off, yes/no or true/false (did you mean 'on'?)"],
    ['1', 'error: expected on/off, yes/no or true/false'],
  ]);
  table(t, oneOf(['tunnel', 'transport'] as const), [
    ['tunnel', 'tunnel'],
    ['tunel', "error: expected one of tunnel, transport (did you mean 'tunnel'?)"],
  ]);
});

t.test('SPIs', async (t) => {
  const range = 'expected 256..0xffffffff, in hex (0x...) or decimal';
  table(t, spi, [
    ['0x100', '0x100'],
    ['256', '0x100'],
    ['0xFFFFFFFF', '0xffffffff'],
    ['4294967295', '0xffffffff'],
    ['255', `error: SPI 255 is reserved (1..255 are reserved by IANA); ${range}`],
    ['0xff', `error: SPI 255 is reserved (1..255 are reserved by IANA); ${range}`],
    ['1', `error: SPI 1 is reserved (1..255 are reserved by IANA); ${range}`],
    ['0', `error: SPI 0 is never valid (RFC 4303 §2.1); ${range}`],
    ['4294967296', `error: SPI 4294967296 does not fit in 32 bits; ${range}`],
    ['0x100000000', `error: expected an SPI: ${range}`],
    ['0x', `error: expected an SPI: ${range}`],
    ['-256', `error: expected an SPI: ${range}`],
  ]);
});

t.test('prefixes: host bits, lengths, IPv6', async (t) => {
  table(t, network, [
    ['198.51.100.0/24', '198.51.100.0/24'],
    ['198.51.100.1/24', 'error: host bits are set; the network is 198.51.100.0/24'],
    ['10.1.2.3/12', 'error: host bits are set; the network is 10.0.0.0/12'],
    ['0.0.0.0/0', '0.0.0.0/0'],
    ['1.2.3.4/0', 'error: host bits are set; the network is 0.0.0.0/0'],
    ['192.0.2.7', '192.0.2.7/32'],
    ['10.0.0.0/33', 'error: the prefix length must be 0..32 for IPv4'],
    ['10.0.0.0/08', 'error: the prefix length must be 0..32 for IPv4'],
    ['10.0.0.0/', 'error: the prefix length must be 0..32 for IPv4'],
    ['010.0.0.0/8', 'error: expected ADDRESS/LENGTH with an IPv4 or IPv6 address'],
    ['10.0.0/8', 'error: expected ADDRESS/LENGTH with an IPv4 or IPv6 address'],
    ['::/0', '::/0'],
    ['2001:DB8:0:0::/32', '2001:db8::/32'],
    ['2001:db8::1/32', 'error: host bits are set; the network is 2001:db8::/32'],
    ['2001:db8::/129', 'error: the prefix length must be 0..128 for IPv6'],
    ['fe80::1%eth0/128', 'error: expected ADDRESS/LENGTH with an IPv4 or IPv6 address'],
    ['2001:db8::1', '2001:db8::1/128'],
  ]);
  table(t, interfaceAddress, [
    ['198.51.100.1/24', '198.51.100.1/24'],
    ['2001:db8::1/64', '2001:db8::1/64'],
  ]);
  table(t, listOf(network), [
    ['10.0.0.0/8,192.168.0.0/16', '10.0.0.0/8,192.168.0.0/16'],
    ['10.0.0.0/8,', 'error: empty list element; expected elements separated by single commas, no spaces'],
    ['10.0.0.0/8,,1.0.0.0/8', 'error: empty list element; expected elements separated by single commas, no spaces'],
    ['10.0.0.0/8,10.0.0.0/8', 'error: 10.0.0.0/8 is listed twice'],
  ]);
  const e = t.throws(() => listOf(network).parse('10.0.0.0/8,10.0.0.1/8', ctx)) as ValueError;
  t.equal(e.offset, 11, 'errors point at the element');
  t.equal(e.token, '10.0.0.1/8');
});

t.test('endpoints and identities', async (t) => {
  table(t, orAny(endpoint), [
    ['192.0.2.2:4500', '192.0.2.2:4500'],
    ['192.0.2.2', '192.0.2.2:4500'],
    ['192.0.2.2:500', '192.0.2.2:500'],
    ['[2001:db8::1]:4500', '[2001:db8::1]:4500'],
    ['[2001:DB8::1]', '[2001:db8::1]:4500'],
    ['any', 'any'],
    ['2001:db8::1', 'error: put IPv6 addresses in brackets: [2001:db8::1]:4500'],
    ['192.0.2.2:0', 'error: expected a UDP port 1..65535 after the address'],
    ['192.0.2.2:65536', 'error: expected a UDP port 1..65535 after the address'],
    ['192.0.2.2:', 'error: expected a UDP port 1..65535 after the address'],
    ['[192.0.2.2]:1', 'error: expected an IPv6 address inside [ ]'],
    ['gw-b.example:4500', 'error: expected ADDRESS[:PORT] with an IPv4 address or [IPv6] (host names are not resolved)'],
  ]);
  table(t, identity, [
    ['fqdn:gw-a.example', 'fqdn:gw-a.example'],
    ['ipv4:192.0.2.1', 'ipv4:192.0.2.1'],
    ['keyid:0A1B', 'keyid:0a1b'],
    ['user-fqdn:ops@example.net', 'user-fqdn:ops@example.net'],
    ['fqdn:-bad.example', 'error: expected a DNS name after fqdn:'],
    ['keyid:abc', 'error: expected an even number of hex digits (1..64 bytes) after keyid:'],
    ['ipv4:300.1.1.1', 'error: expected an IPv4 address after ipv4:'],
    ['dn:CN=x', 'error: expected TYPE:VALUE with TYPE one of fqdn, ipv4, ipv6, keyid, user-fqdn'],
  ]);
});

t.test('secrets: forms and malformed input', async (t) => {
  const hexOf = (text: string) => Buffer.from(secret.parse(text, ctx)).toString('hex');
  t.equal(hexOf('hex:00FF10'), '00ff10');
  t.equal(hexOf('base64:AP8Q'), '00ff10');
  t.equal(hexOf('file:k'), '00', 'file content through the reader');
  table(t, secret, [
    ['hex:00ff', '<secret 2 bytes>'],
    ['hex:0g', 'error: character 2 of the hex digits is not a hex digit'],
    ['hex:abc', 'error: odd number of hex digits (3); each byte takes two'],
    ['hex:', 'error: the secret is empty'],
    ['base64:AP8Q!!==', 'error: character 5 of the base64 text is not in the base64 alphabet (A-Z a-z 0-9 + /)'],
    ['base64:AP8', 'error: malformed base64 (3 characters; expected padded groups of 4)'],
    ['base64:AP9=', 'error: malformed base64 (4 characters; expected padded groups of 4)'],
    ['base64:A=P8', 'error: malformed base64 (4 characters; expected padded groups of 4)'],
    ['AP8Q', 'error: expected hex:DIGITS, base64:TEXT or file:PATH'],
    ['file:', 'error: expected a path after file:'],
    ['hex:' + '00'.repeat(1025), 'error: the secret is 1025 bytes; at most 1024'],
  ]);
  const fileCtx = (content: string): ValueContext => ({ readFile: () => content, baseDir: '/' });
  t.throws(() => secret.parse('file:x', fileCtx('file:/y')), { message: '/x holds a file: reference; it must hold the key itself' });
  t.throws(() => secret.parse('file:x', fileCtx('\u0001\u0002binary')), {
    message: '/x: character 1 of the base64 text is not in the base64 alphabet (A-Z a-z 0-9 + /)'.replace('/x:', 'in /x:'),
  });
});

t.test('proposal lists in strongSwan notation: parsed by src/ike/proposals.ts, printed back the same way', async (t) => {
  table(t, ikeProposals, [
    ['aes256gcm16-prfsha256-x25519', 'aes256gcm16-prfsha256-x25519'],
    ['aes128-sha256-modp2048', 'aes128-sha256-modp2048'],
    ['aes128-sha256-prfsha256-modp2048', 'aes128-sha256-modp2048'],
    ['aes256-sha256-prfsha384-modp3072', 'aes256-sha256-prfsha384-modp3072'],
    ['chacha20poly1305-prfsha512-curve25519', 'chacha20poly1305-prfsha512-x25519'],
    ['AES256GCM16-PRFSHA256-X25519,aes128-sha2_256-modp2048', 'aes256gcm16-prfsha256-x25519,aes128-sha256-modp2048'],
    ['aes256gcm16-x25519', 'error: a combined-mode cipher needs a PRF, e.g. aes256gcm16-prfsha256-x25519'],
    ['aes256gcm16-prfsha256', 'error: no key exchange method (x25519, modp2048, modp3072)'],
    ['aes128-sha256-modp2048,aes128-sha256-prfsha256-modp2048', 'error: aes128-sha256-modp2048 is listed twice'],
    ['aes128-sha256-modp2048,', 'error: empty proposal; expected proposals separated by single commas, no spaces'],
  ]);
  table(t, espProposals, [
    ['aes256gcm16', 'aes256gcm16'],
    ['aes256gcm16-noesn', 'aes256gcm16'],
    ['chacha20poly1305-esn', 'chacha20poly1305-esn'],
    ['aes128-sha256-modp2048-esn', 'aes128-sha256-modp2048-esn'],
    ['aes128-sha256-x25519,aes256gcm16', 'aes128-sha256-x25519,aes256gcm16'],
    ['aes128', 'error: aes128 (CBC) needs an integrity algorithm: aes128-sha256'],
    ['aes128gcm16-sha256', 'error: aes128gcm16 is a combined mode and takes no integrity algorithm'],
    ['aes256gcm16-prfsha256', 'error: ESP takes no PRF'],
  ]);
  const at = <T>(type: ValueType<T>, text: string) => {
    const e = t.throws(() => type.parse(text, ctx)) as ValueError;
    return [e.offset, e.token];
  };
  t.same(at(ikeProposals, 'aes256gcm16-prfsha256-x25519,aes999-sha256-x25519'), [29, 'aes999-sha256-x25519'], 'the bad proposal, not the list');
  t.same(at(espProposals, 'aes256gcm16,,aes128-sha256'), [12, ''], 'the empty element');
  t.same(at(espProposals, 'aes256gcm16,aes256gcm16-noesn'), [12, 'aes256gcm16-noesn'], 'the second of two equal ones');
  const many = Array.from({ length: 33 }, (_, i) => (i % 2 ? 'aes128-sha256' : 'aes256gcm16')).join(',');
  t.equal(run(espProposals, many), 'error: 33 proposals, at most 32', 'the cap of src/ike/proposals.ts, at the whole value');
  t.same(at(espProposals, many), [0, undefined]);
  // The parser quotes the word it did not know; a key pasted there must not come back.
  const key = 'hex:00112233445566778899aabbccddeeff';
  t.equal(run(ikeProposals, key), 'error: unknown algorithm "<36 characters>"; accepted: ' + ACCEPTED);
  t.equal(run(espProposals, 'aes256gcm16-Zm9vYmFyYmF6cXV4UVVVWA'), 'error: unknown algorithm "<22 characters>"; accepted: ' + ACCEPTED);
  t.equal(run(espProposals, 'aes256gcm16-aes256'), 'error: "aes256": one encryption algorithm per proposal; list alternatives as separate proposals, separated by commas');
});

const ACCEPTED =
  'encryption aes128gcm16, aes256gcm16, chacha20poly1305, aes128, aes256; integrity sha256 (sha2_256); ' +
  'prf prfsha256, prfsha384, prfsha512; key exchange x25519 (curve25519), modp2048, modp3072; esn, noesn (ESP)';
