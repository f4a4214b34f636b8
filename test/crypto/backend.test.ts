import t from 'tap';
import {
  autoBackend,
  backendFor,
  composeBackend,
  isSuite,
  nobleBackend,
  nodeBackend,
  pickBackend,
  SUITE_NAMES,
  SUITES,
  suiteInfo,
} from '../../src/crypto/index.js';
import type { Backend, CipherSuite, Hash } from '../../src/crypto/types.js';
import { ENCR, INTEG } from '../../src/wire/iana.js';
import { BACKENDS } from './helpers.js';

t.test('suite table', async (t) => {
  t.same(SUITE_NAMES, ['aes128gcm16', 'aes256gcm16', 'chacha20poly1305', 'aes128-sha256', 'aes256-sha256']);
  const gcm = { combined: true, integKeyLen: 0, ivLen: 8, icvLen: 16, blockLen: 4, integId: INTEG.NONE };
  t.match(SUITES.aes128gcm16, { ...gcm, encKeyLen: 20, encrId: ENCR.ENCR_AES_GCM_16, keyBits: 128 });
  t.match(SUITES.aes256gcm16, { ...gcm, encKeyLen: 36, encrId: ENCR.ENCR_AES_GCM_16, keyBits: 256 });
  t.match(SUITES.chacha20poly1305, { ...gcm, encKeyLen: 36, encrId: ENCR.ENCR_CHACHA20_POLY1305, keyBits: 256 });
  const cbc = { combined: false, integKeyLen: 32, ivLen: 16, icvLen: 16, blockLen: 16, encrId: ENCR.ENCR_AES_CBC, integId: INTEG.AUTH_HMAC_SHA2_256_128 };
  t.match(SUITES['aes128-sha256'], { ...cbc, encKeyLen: 16, keyBits: 128 });
  t.match(SUITES['aes256-sha256'], { ...cbc, encKeyLen: 32, keyBits: 256 });
  for (const s of SUITE_NAMES) t.equal(suiteInfo(s).suite, s);
  t.ok(isSuite('aes256gcm16'));
  t.notOk(isSuite('toString'), 'prototype names are not suites');
  t.throws(() => suiteInfo('des3' as CipherSuite), { code: 'BAD_SUITE' });
});

t.test('both backends reject bad keys and caller errors the same way', async (t) => {
  for (const be of BACKENDS) {
    const n = be.name;
    t.throws(() => be.aead('aes128gcm16', new Uint8Array(16)), { code: 'BAD_KEY', message: /20 bytes.*salt/ }, `${n}: GCM key without salt`);
    t.throws(() => be.aead('chacha20poly1305', new Uint8Array(36), new Uint8Array(32)), { code: 'BAD_KEY' }, `${n}: integ key on AEAD`);
    t.throws(() => be.aead('aes128-sha256', new Uint8Array(16)), { code: 'BAD_KEY', message: /none/ }, `${n}: CBC without integ key`);
    t.throws(() => be.aead('aes256-sha256', new Uint8Array(32), new Uint8Array(20)), { code: 'BAD_KEY' }, `${n}: short integ key`);
    t.throws(() => be.aead('aes256-sha256', new Uint8Array(16), new Uint8Array(32)), { code: 'BAD_KEY' }, `${n}: AES-128 key for AES-256`);
    const gcm = be.aead('aes256gcm16', new Uint8Array(36), new Uint8Array(0));
    t.throws(() => gcm.seal(new Uint8Array(8), new Uint8Array(12), new Uint8Array(4)), { code: 'BAD_IV' }, `${n}: 12-byte IV`);
    t.throws(() => gcm.seal(new Uint8Array(8), new Uint8Array(8), new Uint8Array(4), new Uint8Array(4)), { code: 'BAD_TAIL' }, `${n}: tail on GCM seal`);
    t.throws(() => gcm.open(new Uint8Array(8), new Uint8Array(8), new Uint8Array(20), new Uint8Array(4)), { code: 'BAD_TAIL' }, `${n}: tail on GCM open`);
    t.ok(gcm.seal(new Uint8Array(8), new Uint8Array(8), new Uint8Array(5), new Uint8Array(0)), 'an empty tail is no tail; any length for combined modes');
    const cbc = be.aead('aes128-sha256', new Uint8Array(16), new Uint8Array(32));
    t.throws(() => cbc.seal(new Uint8Array(8), new Uint8Array(16), new Uint8Array(15)), { code: 'BAD_LENGTH' }, `${n}: unpadded CBC input`);
    t.throws(() => cbc.seal(new Uint8Array(8), new Uint8Array(8), new Uint8Array(16)), { code: 'BAD_IV' }, `${n}: 8-byte CBC IV`);
    t.match(cbc, { suite: 'aes128-sha256', combined: false, ivLen: 16, icvLen: 16, blockLen: 16 });
    t.throws(() => be.prf('md5' as Hash), { code: 'BAD_HASH' });
  }
});

t.test('node:crypto is probed for every suite; noble does them all', async (t) => {
  for (const s of SUITE_NAMES) {
    t.equal(typeof nodeBackend.supports(s), 'boolean');
    t.ok(nobleBackend.supports(s));
    t.ok(autoBackend.supports(s), `auto covers ${s}`);
  }
});

t.test('backend choice: node where it supports the suite, noble otherwise', async (t) => {
  for (const s of SUITE_NAMES) {
    t.equal(backendFor(s), nodeBackend.supports(s) ? nodeBackend : nobleBackend, s);
    t.equal(backendFor(s, 'noble'), nobleBackend);
  }
  t.equal(pickBackend('noble'), nobleBackend);
  t.equal(pickBackend('node'), autoBackend);
  t.equal(pickBackend(), autoBackend);
  t.equal(autoBackend.name, 'node');

  // A primary that lacks ChaCha20 (as on an OpenWrt OpenSSL without it): that suite goes to noble.
  const used: string[] = [];
  const spy = (be: Backend, lacks: CipherSuite[]): Backend => ({
    ...be,
    supports: (s) => !lacks.includes(s),
    aead: (s, k, i) => (used.push(`${be.name}:${s}`), be.aead(s, k, i)),
  });
  const both = composeBackend(spy(nodeBackend, ['chacha20poly1305']), spy(nobleBackend, []));
  both.aead('chacha20poly1305', new Uint8Array(36));
  both.aead('aes128gcm16', new Uint8Array(20));
  t.same(used, ['noble:chacha20poly1305', 'node:aes128gcm16']);
  t.ok(both.supports('chacha20poly1305'));
  t.equal(both.prf('sha256'), nodeBackend.prf('sha256'), 'PRF from the primary');
});

t.test('randomBytes: right length, fresh buffer owned from offset 0, not constant', async (t) => {
  for (const be of [...BACKENDS, autoBackend]) {
    for (const n of [0, 1, 4, 32, 70_000]) {
      const r = be.randomBytes(n);
      t.equal(r.length, n);
      t.equal(Object.getPrototypeOf(r), Uint8Array.prototype, 'a plain Uint8Array');
      t.ok(r.byteOffset === 0 && r.buffer.byteLength === n, 'owns its ArrayBuffer (safe to view .buffer)');
    }
    const a = be.randomBytes(32);
    const b = be.randomBytes(32);
    t.not(Buffer.from(a).toString('hex'), Buffer.from(b).toString('hex'), `${be.name}: two draws differ`);
    t.ok(be.randomBytes(70_000).some((x) => x !== 0), 'large draws are filled to the end');
  }
});

t.test('PRFs are cached per hash and return plain Uint8Arrays', async (t) => {
  for (const be of BACKENDS) {
    t.equal(be.prf('sha384'), be.prf('sha384'));
    const out = be.prf('sha512').mac(new Uint8Array(0), new Uint8Array(0));
    t.equal(out.length, 64, 'an empty key works (HMAC pads it)');
    t.equal(Object.getPrototypeOf(out), Uint8Array.prototype);
  }
  t.same(nodeBackend.prf('sha512').mac(new Uint8Array(0), new Uint8Array(0)), nobleBackend.prf('sha512').mac(new Uint8Array(0), new Uint8Array(0)));
});
