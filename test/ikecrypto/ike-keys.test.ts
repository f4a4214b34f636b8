import t from 'tap';
import { createHmac } from 'node:crypto';
import { nobleBackend, nodeBackend, prfPlus, SUITE_NAMES, SUITES } from '../../src/crypto/index.js';
import type { CipherSuite, Hash, Prf } from '../../src/crypto/types.js';
import {
  deriveChildKeys,
  deriveIkeKeys,
  deriveRekeyedIkeKeys,
  ikeSkeyseed,
  rekeyedSkeyseed,
  type ChildSaKeys,
  type IkeSaKeys,
} from '../../src/crypto/ike-keys.js';
import { concat, fromHex, hex } from '../../src/wire/bytes.js';
import { CAVS_IKEV2 } from './cavs-ikev2-vectors.js';
import { at, errorCode, rnd } from './helpers.js';

const BACKENDS = [nodeBackend, nobleBackend];
const HASHES: readonly Hash[] = ['sha256', 'sha384', 'sha512'];

/** The IKE SA keys in prf+ order, as one string: what the CAVS "DKM" is a prefix or extension of. */
const ikeStream = (k: IkeSaKeys): Uint8Array =>
  concat(k.skD, k.skAi ?? new Uint8Array(0), k.skAr ?? new Uint8Array(0), k.skEi, k.skEr, k.skPi, k.skPr);

const childStream = (k: ChildSaKeys): Uint8Array =>
  concat(
    k.initiatorToResponder.encKey,
    k.initiatorToResponder.integKey ?? new Uint8Array(0),
    k.responderToInitiator.encKey,
    k.responderToInitiator.integKey ?? new Uint8Array(0),
  );

/** Whether `a` and `b` agree on their common length (each key stream vs the fixed-length DKM). */
const prefixEqual = (a: Uint8Array, b: Uint8Array): boolean => {
  const n = Math.min(a.length, b.length);
  return hex(a.subarray(0, n)) === hex(b.subarray(0, n));
};

t.test('NIST CAVS IKEv2 KDF vectors (SP 800-135), both backends, every suite', async (t) => {
  for (const be of BACKENDS) {
    for (const v of CAVS_IKEV2) {
      const prf = be.prf(v.hash);
      const [ni, nr, gir, girNew, spii, spir] = [v.ni, v.nr, v.gir, v.girNew, v.spii, v.spir].map(fromHex) as [
        Uint8Array, Uint8Array, Uint8Array, Uint8Array, Uint8Array, Uint8Array,
      ];
      const dkm = fromHex(v.dkm);
      const what = `${be.name} ${v.name}`;

      t.equal(hex(ikeSkeyseed(prf, ni, nr, gir)), v.skeyseed, `${what}: SKEYSEED`);

      let skD: Uint8Array | undefined;
      for (const suite of SUITE_NAMES) {
        const keys = deriveIkeKeys(prf, suite, ni, nr, gir, spii, spir);
        const stream = ikeStream(keys);
        t.ok(prefixEqual(stream, dkm), `${what} ${suite}: SK_d..SK_pr agree with DKM over ${Math.min(stream.length, dkm.length)} bytes`);
        skD = keys.skD;
      }
      t.equal(hex(skD!), hex(dkm.subarray(0, prf.outLen)), `${what}: SK_d = DKM[0, ${prf.outLen})`);

      for (const suite of SUITE_NAMES) {
        const child = childStream(deriveChildKeys(prf, skD!, suite, ni, nr, undefined));
        t.ok(prefixEqual(child, fromHex(v.dkmChild)), `${what} ${suite}: KEYMAT = DKM(Child SA)`);
        const pfs = childStream(deriveChildKeys(prf, skD!, suite, ni, nr, girNew));
        t.ok(prefixEqual(pfs, fromHex(v.dkmChildDh)), `${what} ${suite}: KEYMAT with PFS = DKM(Child SA D-H)`);
      }

      t.equal(hex(rekeyedSkeyseed(prf, skD!, girNew, ni, nr)), v.skeyseedRekey, `${what}: SKEYSEED(Rekey)`);
      // The rekeyed SA's keys are prf+ of that SKEYSEED (prf+ has its own tests in test/crypto).
      const rekeyed = ikeStream(deriveRekeyedIkeKeys(prf, skD!, prf, 'aes256-sha256', ni, nr, girNew, spii, spir));
      const expected = prfPlus(prf, fromHex(v.skeyseedRekey), concat(ni, nr, spii, spir), rekeyed.length);
      t.equal(hex(rekeyed), hex(expected), `${what}: rekeyed IKE SA keys = prf+(SKEYSEED(Rekey), Ni | Nr | SPIi | SPIr)`);
    }
  }
});

/* An independent reference written from RFC 7296 §2.13, §2.14, §2.17, §2.18 on node's createHmac. */
const mac = (h: Hash, key: Uint8Array, ...data: Uint8Array[]): Buffer => {
  const m = createHmac(h, key);
  for (const d of data) m.update(d);
  return m.digest();
};
function refPrfPlus(h: Hash, key: Uint8Array, seed: Uint8Array, len: number): Buffer {
  const blocks: Buffer[] = [];
  let prev: Buffer = Buffer.alloc(0);
  for (let n = 1; blocks.length * prev.length < len || blocks.length === 0; n++) {
    prev = mac(h, key, prev, seed, Uint8Array.of(n));
    blocks.push(prev);
  }
  return Buffer.concat(blocks).subarray(0, len);
}
/** Splits `km` into named lengths, in order. */
function split(km: Buffer, lens: [string, number][]): Record<string, string> {
  const out: Record<string, string> = {};
  let o = 0;
  for (const [name, n] of lens) out[name] = km.subarray(o, (o += n)).toString('hex');
  return out;
}
function refIke(h: Hash, skeyseed: Buffer, suite: CipherSuite, ni: Uint8Array, nr: Uint8Array, spii: Uint8Array, spir: Uint8Array) {
  const d = createHmac(h, '').digest().length;
  const { encKeyLen: e, integKeyLen: a } = SUITES[suite];
  const km = refPrfPlus(h, skeyseed, Buffer.concat([ni, nr, spii, spir]), 3 * d + 2 * a + 2 * e);
  return split(km, [['skD', d], ['skAi', a], ['skAr', a], ['skEi', e], ['skEr', e], ['skPi', d], ['skPr', d]]);
}
const asHex = (k: IkeSaKeys): Record<string, string> => ({
  skD: hex(k.skD),
  skAi: k.skAi ? hex(k.skAi) : '',
  skAr: k.skAr ? hex(k.skAr) : '',
  skEi: hex(k.skEi),
  skEr: hex(k.skEr),
  skPi: hex(k.skPi),
  skPr: hex(k.skPr),
});

t.test('IKE SA keys match an independent RFC 7296 implementation (every hash, suite, backend)', async (t) => {
  for (const be of BACKENDS) {
    for (const h of HASHES) {
      for (const suite of SUITE_NAMES) {
        const [ni, nr, spii, spir] = [rnd(32), rnd(48), rnd(8), rnd(8)] as const;
        const shared = rnd(256);
        const keys = deriveIkeKeys(be.prf(h), suite, ni, nr, shared, spii, spir);
        const want = refIke(h, mac(h, concat(ni, nr), shared), suite, ni, nr, spii, spir);
        t.same(asHex(keys), want, `${be.name} ${h} ${suite}`);
        const info = SUITES[suite];
        t.equal(keys.skEi.length, info.encKeyLen, `${suite}: SK_ei is ${info.encKeyLen} bytes${info.combined ? ' (key || salt)' : ''}`);
        t.equal(keys.skAi === undefined, info.combined, `${suite}: SK_a* ${info.combined ? 'absent' : 'present'}`);
      }
    }
  }
});

t.test('rekeyed IKE SA: SKEYSEED with the old PRF and SK_d, prf+ with the new PRF (§2.18)', async (t) => {
  for (const be of BACKENDS) {
    for (const [oldH, newH] of [['sha512', 'sha256'], ['sha256', 'sha384']] as [Hash, Hash][]) {
      const oldSkD = rnd(createHmac(oldH, '').digest().length);
      const [ni, nr, spii, spir, shared] = [rnd(32), rnd(32), rnd(8), rnd(8), rnd(32)] as const;
      const keys = deriveRekeyedIkeKeys(be.prf(oldH), oldSkD, be.prf(newH), 'aes128gcm16', ni, nr, shared, spii, spir);
      const want = refIke(newH, mac(oldH, oldSkD, shared, ni, nr), 'aes128gcm16', ni, nr, spii, spir);
      t.same(asHex(keys), want, `${be.name}: old ${oldH}, new ${newH}`);
      t.equal(keys.skD.length, createHmac(newH, '').digest().length, 'SK_d has the new PRF length');
    }
  }
});

t.test('Child SA KEYMAT: initiator->responder first, encryption key before integrity key (§2.17)', async (t) => {
  for (const be of BACKENDS) {
    for (const h of HASHES) {
      for (const suite of SUITE_NAMES) {
        const { encKeyLen: e, integKeyLen: a } = SUITES[suite];
        const [skD, ni, nr, shared] = [rnd(64), rnd(16), rnd(16), rnd(384)] as const;
        for (const pfs of [undefined, shared]) {
          const seed = pfs ? Buffer.concat([pfs, ni, nr]) : Buffer.concat([ni, nr]);
          const want = split(refPrfPlus(h, skD, seed, 2 * (e + a)), [['ei', e], ['ai', a], ['er', e], ['ar', a]]);
          const k = deriveChildKeys(be.prf(h), skD, suite, ni, nr, pfs);
          const got = {
            ei: hex(k.initiatorToResponder.encKey),
            ai: k.initiatorToResponder.integKey ? hex(k.initiatorToResponder.integKey) : '',
            er: hex(k.responderToInitiator.encKey),
            ar: k.responderToInitiator.integKey ? hex(k.responderToInitiator.integKey) : '',
          };
          t.same(got, want, `${be.name} ${h} ${suite} ${pfs ? 'with' : 'without'} PFS`);
        }
      }
    }
  }
});

t.test('derived keys key the backends directly (shape matches Backend.aead)', async (t) => {
  const prf = nodeBackend.prf('sha256');
  for (const suite of SUITE_NAMES) {
    if (!nodeBackend.supports(suite)) continue;
    const ike = deriveIkeKeys(prf, suite, rnd(32), rnd(32), rnd(32), rnd(8), rnd(8));
    t.doesNotThrow(() => nodeBackend.aead(suite, ike.skEi, ike.skAi), `${suite}: IKE SK_ei/SK_ai`);
    const child = deriveChildKeys(prf, ike.skD, suite, rnd(32), rnd(32), undefined);
    t.doesNotThrow(() => nobleBackend.aead(suite, child.responderToInitiator.encKey, child.responderToInitiator.integKey), `${suite}: ESP keys`);
  }
});

t.test('caller errors: SPIs not 8 bytes, empty shared secret', async (t) => {
  const prf: Prf = nodeBackend.prf('sha256');
  const [n, s] = [rnd(32), rnd(32)];
  t.equal(errorCode(() => deriveIkeKeys(prf, 'aes128gcm16', n, n, s, rnd(4), rnd(8))), 'BAD_LENGTH', 'short SPIi');
  t.equal(errorCode(() => deriveIkeKeys(prf, 'aes128gcm16', n, n, s, rnd(8), rnd(9))), 'BAD_LENGTH', 'long SPIr');
  t.equal(errorCode(() => deriveIkeKeys(prf, 'aes128gcm16', n, n, new Uint8Array(0), rnd(8), rnd(8))), 'BAD_LENGTH', 'empty g^ir');
  t.equal(errorCode(() => deriveChildKeys(prf, s, 'aes128gcm16', n, n, new Uint8Array(0))), 'BAD_LENGTH', 'empty PFS g^ir');
});

t.test('inputs that are views at odd offsets into larger buffers give the same keys', async (t) => {
  const prf = nobleBackend.prf('sha256');
  const [ni, nr, shared, spii, spir] = [rnd(32), rnd(32), rnd(256), rnd(8), rnd(8)];
  const plain = asHex(deriveIkeKeys(prf, 'aes128-sha256', ni, nr, shared, spii, spir));
  for (const k of [1, 3, 7]) {
    const viewed = asHex(deriveIkeKeys(prf, 'aes128-sha256', at(ni, k), at(nr, k), at(shared, k), at(spii, k), at(spir, k)));
    t.same(viewed, plain, `offset ${k}`);
  }
});
