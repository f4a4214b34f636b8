/**
 * Key derivation (README.md §5, §7) and the "cryptographic distance" between the keys the draft
 * keeps apart: the carrier's (payload riding along), the header key, and the new SAs' keys.
 */
import t from 'tap';
import { nodeBackend, nobleBackend } from '../../src/crypto/index.js';
import { carrierKey, carrierSpi, epochSecret, headerKey, ikeParentSecret, newPrivateKey, publicFromPrivate, pskRoot, saKey, tagHeader, tagOk, x25519Root } from '../../src/inline/keys.js';
import { encodeHeader, HEADER_TYPE } from '../../src/inline/header.js';
import { fromHex, hex } from '../../src/wire/bytes.js';
import { deriveChildKeys } from '../../src/crypto/ike-keys.js';

const prf = nodeBackend.prf('sha256');
const N1 = fromHex('11'.repeat(16));
const N2 = fromHex('22'.repeat(16));
const S = fromHex('5a'.repeat(32));

t.test('the three keys of the draft are distinct, and each is useless for the others', async (t) => {
  const skD = fromHex('d0'.repeat(32));
  const ni = fromHex('01'.repeat(32));
  const nr = fromHex('02'.repeat(32));
  const s = ikeParentSecret(prf, skD, ni, nr);
  const keys = deriveChildKeys(prf, skD, 'aes256gcm16', ni, nr, undefined);
  const carrier = { ei: keys.initiatorToResponder.encKey, er: keys.responderToInitiator.encKey };
  const kHdr = headerKey(prf, s);
  const sa = saKey(prf, s, 'aes256gcm16', N1, N2, 0x1000);
  const all = [hex(s), hex(carrier.ei), hex(carrier.er), hex(kHdr), hex(sa)];
  t.equal(new Set(all).size, all.length, 'parent secret, carrier keys, header key and SA key all differ');
  t.not(hex(s), hex(prf.mac(skD, new Uint8Array([...ni, ...nr]))), 'the parent secret is not the child KEYMAT seed');

  // Whoever holds the carrier keys (or an SA key) in place of K_hdr cannot make a header verify.
  const h = encodeHeader({ next: 4, type: HEADER_TYPE.OFFER, scope: 2, encrId: 20, keyBits: 256, replySpi: 4096, lifetime: 600, nonce: N1 });
  const flow = fromHex('04000000000000c6336401cb007101');
  for (const [name, key] of [['carrier key', carrier.ei], ['SA key', sa]] as const) {
    const forged = h.slice();
    tagHeader(prf, key, forged, flow);
    t.notOk(tagOk(prf, kHdr, forged, flow), `a header tagged with the ${name} is refused`);
  }
  // Whoever holds K_hdr cannot compute an SA key: SA keys come from S, and K_hdr = prf(S, label).
  t.not(hex(saKey(prf, kHdr, 'aes256gcm16', N1, N2, 0x1000)), hex(sa), 'K_hdr in place of S gives other SA keys');
  // Each direction and SPI has its own key; the OFFER's SPI takes a zero peer nonce.
  t.not(hex(saKey(prf, s, 'aes256gcm16', undefined, N1, 0x1000)), hex(saKey(prf, s, 'aes256gcm16', N1, N2, 0x1000)));
  t.not(hex(saKey(prf, s, 'aes256gcm16', N1, N2, 0x1001)), hex(sa), 'the SPI is bound');
  t.equal(saKey(prf, s, 'aes128gcm16', N1, N2, 1).length, 20, 'AES-128-GCM: 16-octet key + 4-octet salt');
  t.equal(sa.length, 36, 'AES-256-GCM: 32 + 4');
});

t.test('static parents: both routers derive the same secrets; days and peers differ', async (t) => {
  const psk = fromHex('42'.repeat(32));
  t.equal(hex(pskRoot(prf, psk)), hex(pskRoot(nobleBackend.prf('sha256'), psk)), 'node and noble agree');
  const a = newPrivateKey();
  const b = newPrivateKey();
  const rootA = x25519Root(prf, a, publicFromPrivate(b));
  const rootB = x25519Root(prf, b, publicFromPrivate(a));
  t.equal(hex(rootA), hex(rootB), 'X25519 static-static: the same S0 on both routers');
  const c = newPrivateKey();
  t.not(hex(x25519Root(prf, a, publicFromPrivate(c))), hex(rootA), 'another peer, another S0');
  t.not(hex(epochSecret(prf, rootA, 20000)), hex(epochSecret(prf, rootA, 20001)), 'one secret per day');
  const spi = carrierSpi(prf, rootA);
  t.ok(spi >= 256 && spi <= 0xffffffff, 'carrier SPI outside the reserved range');
  t.equal(carrierKey(prf, S, 'chacha20poly1305').length, 36);
  t.throws(() => x25519Root(prf, a, new Uint8Array(32)), 'a low-order public key is refused');
});
