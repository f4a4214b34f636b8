import t from 'tap';
import { newKeyExchange, keyExchangeLength } from '../../src/crypto/dh/index.js';
import { hex, fromHex } from '../../src/wire/bytes.js';
import { DH_BACKENDS, errorCode, fixedKey, leBytes, rnd } from './helpers.js';

const G = 31; // Curve25519 (RFC 8031)

/*
 * RFC 7748 §5.2 (X25519 function) and §6.1 (Diffie-Hellman) vectors, hex as the RFC prints them
 * (identical in the test suites of several independent X25519 implementations). In §5.2 the
 * "scalar" is our private key and the "u-coordinate" the peer's public value; vector 2's u has
 * the top bit set, which §5 says to mask.
 */
const RFC7748_5_2 = [
  {
    scalar: 'a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4',
    u: 'e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c',
    out: 'c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552',
  },
  {
    scalar: '4b66e9d4d1b4673c5ad22691957d6af5c11b6421e0ea01d42ca4169e7918ba0d',
    u: 'e5210f12786811d3f4b7959d0538ae2c31dbe7106fc03c3efc4cd549c715a493',
    out: '95cbde9476e8907d7aade45cb4b873f88b595a68799fa152e6f8f7647aac7957',
  },
];
/** §5.2 iterated test: k = u = 9, then k, u = X25519(k, u), k. After 1 and 1000 iterations: */
const ITER_1 = '422c8e7a6227d7bca1350b3e2bb7279f7897b87bb6854b783c60e80311ae3079';
const ITER_1000 = '684cf59ba83309552800ef566f2f4d3c1c3887c49360e3875f2eb94d99532c51';
const RFC7748_6_1 = {
  alicePriv: '77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a',
  alicePub: '8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a',
  bobPriv: '5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb',
  bobPub: 'de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f',
  shared: '4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742',
};

const P = 2n ** 255n - 19n;
/**
 * Peer values that force an all-zero output: the u coordinates of order 1, 2, 4 and 8 (0, 1,
 * p-1 and the two order-8 points; see cr.yp.to/ecdh.html "validate", the list libsodium and
 * @noble/curves block), plus non-canonical encodings of 0 and 1 (p, p+1, and 0 with the masked
 * top bit set).
 */
const LOW_ORDER: readonly [string, Uint8Array][] = [
  ['0', leBytes(0n, 32)],
  ['1', leBytes(1n, 32)],
  ['p-1', leBytes(P - 1n, 32)],
  ['order 8 (a)', leBytes(325606250916557431795983626356110631294008115727848805560023387167927233504n, 32)],
  ['order 8 (b)', leBytes(39382357235489614581723060781553021112529911719440698176882885853963445705823n, 32)],
  ['p (= 0)', leBytes(P, 32)],
  ['p+1 (= 1)', leBytes(P + 1n, 32)],
  ['2^255 (masked to 0)', leBytes(2n ** 255n, 32)],
];

t.test('Curve25519 public value is 32 bytes', async (t) => {
  t.equal(keyExchangeLength(G), 32);
  for (const be of DH_BACKENDS) t.equal(newKeyExchange(G, be).publicKey.length, 32, be);
});

t.test('RFC 7748 §5.2 X25519 vectors on both backends', async (t) => {
  for (const be of DH_BACKENDS) {
    for (const [i, v] of RFC7748_5_2.entries()) {
      const kx = newKeyExchange(G, be, fixedKey(v.scalar));
      t.equal(hex(kx.computeShared(fromHex(v.u))), v.out, `${be}: vector ${i + 1}`);
    }
  }
});

t.test('RFC 7748 §5.2 iterated vector, 1 and 1000 iterations, on both backends', async (t) => {
  for (const be of DH_BACKENDS) {
    let k: Uint8Array = fromHex('09'.padEnd(64, '0'));
    let u: Uint8Array = k.slice();
    for (let i = 1; i <= 1000; i++) {
      const out = newKeyExchange(G, be, fixedKey(k)).computeShared(u);
      u = k;
      k = out;
      if (i === 1) t.equal(hex(k), ITER_1, `${be}: after 1 iteration`);
    }
    t.equal(hex(k), ITER_1000, `${be}: after 1000 iterations`);
  }
});

t.test('RFC 7748 §6.1 Diffie-Hellman on both backends, and across them', async (t) => {
  const v = RFC7748_6_1;
  for (const a of DH_BACKENDS) {
    const alice = newKeyExchange(G, a, fixedKey(v.alicePriv));
    t.equal(hex(alice.publicKey), v.alicePub, `${a}: Alice's public key`);
    for (const b of DH_BACKENDS) {
      const bob = newKeyExchange(G, b, fixedKey(v.bobPriv));
      t.equal(hex(bob.publicKey), v.bobPub, `${b}: Bob's public key`);
      t.equal(hex(alice.computeShared(bob.publicKey)), v.shared, `${a} Alice with ${b} Bob`);
      t.equal(hex(bob.computeShared(alice.publicKey)), v.shared, `${b} Bob with ${a} Alice`);
    }
  }
});

t.test('low-order peer values (all-zero shared secret) are rejected with BAD_KE', async (t) => {
  for (const be of DH_BACKENDS) {
    const kx = newKeyExchange(G, be);
    for (const [name, u] of LOW_ORDER) t.equal(errorCode(() => kx.computeShared(u)), 'BAD_KE', `${be}: u = ${name}`);
    // The same object still works afterwards: a rejected value leaves no state behind.
    const peer = newKeyExchange(G, be);
    t.same(kx.computeShared(peer.publicKey), peer.computeShared(kx.publicKey), `${be}: still usable`);
  }
});

t.test('peer values of the wrong length are rejected with BAD_KE', async (t) => {
  for (const be of DH_BACKENDS) {
    const kx = newKeyExchange(G, be);
    for (const n of [0, 1, 31, 33, 56, 256]) t.equal(errorCode(() => kx.computeShared(rnd(n))), 'BAD_KE', `${be}: ${n} bytes`);
  }
});

t.test('node and noble agree on random key pairs, both directions', async (t) => {
  for (let i = 0; i < 20; i++) {
    const sk = rnd(32);
    const n = newKeyExchange(G, 'node', fixedKey(sk));
    const b = newKeyExchange(G, 'noble', fixedKey(sk));
    t.equal(hex(n.publicKey), hex(b.publicKey), `run ${i}: same private key, same public key`);
    const peerNode = newKeyExchange(G, 'node'); // natively generated private key
    const peerNoble = newKeyExchange(G, 'noble');
    t.equal(hex(n.computeShared(peerNoble.publicKey)), hex(peerNoble.computeShared(n.publicKey)), `run ${i}: node x noble`);
    t.equal(hex(b.computeShared(peerNode.publicKey)), hex(peerNode.computeShared(b.publicKey)), `run ${i}: noble x node`);
  }
});

t.test('an injected private key of the wrong size is a BAD_KEY', async (t) => {
  for (const be of DH_BACKENDS) t.equal(errorCode(() => newKeyExchange(G, be, () => rnd(31))), 'BAD_KEY', be);
});
