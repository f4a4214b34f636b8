import t from 'tap';
import { randomBytes, randomInt } from 'node:crypto';
import { nobleBackend, nodeBackend, SUITE_NAMES, SUITES } from '../../src/crypto/index.js';
import type { Aead, CipherSuite } from '../../src/crypto/types.js';
import { hex } from '../../src/wire/bytes.js';
import { BACKENDS, at } from './helpers.js';

/** Random inputs come from node:crypto directly, not from the backends under test. */
const rnd = (n: number): Uint8Array => new Uint8Array(randomBytes(n));

function keys(suite: CipherSuite): [Uint8Array, Uint8Array | undefined] {
  const s = SUITES[suite];
  return [rnd(s.encKeyLen), s.integKeyLen ? rnd(s.integKeyLen) : undefined];
}

const LENGTHS = [0, 1, 3, 4, 15, 16, 17, 31, 32, 64, 100, 255, 1400, 4096];

/** Per-suite Aeads on both backends with the same keys. */
function pair(suite: CipherSuite): { node: Aead; noble: Aead } {
  const [enc, integ] = keys(suite);
  return { node: nodeBackend.aead(suite, enc, integ), noble: nobleBackend.aead(suite, enc, integ) };
}

for (const suite of SUITE_NAMES) {
  const info = SUITES[suite];
  const skip = nodeBackend.supports(suite) ? false : `this Node build lacks ${suite}`;

  t.test(`${suite}: node and noble seal identically and open each other's output`, { skip }, async (t) => {
    for (const len0 of LENGTHS) {
      const len = info.combined ? len0 : Math.ceil(len0 / 16) * 16;
      const { node, noble } = pair(suite);
      const k = randomInt(8);
      const aad = at(rnd([0, 8, 12, 20, 33][randomInt(5)]!), k);
      const iv = at(rnd(info.ivLen), k);
      const plain = at(rnd(len), k);
      const tail = info.combined ? undefined : at(rnd(4), k);
      const a = node.seal(aad, iv, plain, tail);
      const b = noble.seal(aad, iv, plain, tail);
      t.equal(a.length, len + info.icvLen, `length ${len}`);
      t.equal(hex(a), hex(b), `identical sealed output, ${len} bytes, offset ${k}`);
      t.same(noble.open(aad, iv, a, tail), plain, 'noble opens node');
      t.same(node.open(aad, iv, b, tail), plain, 'node opens noble');
    }
  });

  t.test(`${suite}: every single-bit flip of aad, iv, ciphertext, icv${info.combined ? '' : ', tail'} is rejected`, { skip }, async (t) => {
    const { node, noble } = pair(suite);
    const aad = rnd(12);
    const iv = rnd(info.ivLen);
    const plain = rnd(48);
    const tail = info.combined ? undefined : rnd(4);
    const sealed = node.seal(aad, iv, plain, tail);
    const flips = (b: Uint8Array) => Array.from({ length: b.length * 8 }, (_, bit) => {
      const c = b.slice();
      c[bit >> 3]! ^= 1 << (bit & 7);
      return c;
    });
    for (const aead of [node, noble]) {
      let accepted = 0;
      let total = 0;
      const tryOpen = (a: Uint8Array, i: Uint8Array, s: Uint8Array, tl: Uint8Array | undefined) => {
        total++;
        if (aead.open(a, i, s, tl) !== null) accepted++;
      };
      for (const a of flips(aad)) tryOpen(a, iv, sealed, tail);
      for (const i of flips(iv)) tryOpen(aad, i, sealed, tail);
      for (const s of flips(sealed)) tryOpen(aad, iv, s, tail); // ciphertext and ICV bits
      if (tail) for (const tl of flips(tail)) tryOpen(aad, iv, sealed, tl);
      t.equal(accepted, 0, `${aead === node ? 'node' : 'noble'}: all ${total} flips rejected`);
      t.same(aead.open(aad, iv, sealed, tail), plain, 'the original still opens');
    }
  });

  t.test(`${suite}: truncated or extended input gives null, never a throw`, { skip }, async (t) => {
    const { node, noble } = pair(suite);
    const aad = rnd(8);
    const iv = rnd(info.ivLen);
    const tail = info.combined ? undefined : rnd(4);
    const sealed = node.seal(aad, iv, rnd(32), tail);
    for (const aead of [node, noble]) {
      const results: (Uint8Array | null)[] = [];
      t.doesNotThrow(() => {
        for (let n = 0; n < sealed.length; n++) results.push(aead.open(aad, iv, sealed.subarray(0, n), tail));
        for (let n = 1; n <= 16; n++) results.push(aead.open(aad, iv, new Uint8Array([...sealed, ...new Uint8Array(n)]), tail));
        results.push(aead.open(aad, iv.subarray(1), sealed, tail), aead.open(aad, new Uint8Array(0), sealed, tail));
        results.push(aead.open(aad, iv, sealed.subarray(1), tail)); // dropped first byte
      });
      t.ok(results.every((r) => r === null), `all ${results.length} malformed inputs rejected`);
    }
  });

  t.test(`${suite}: wrong key fails${info.combined ? '' : ', wrong or missing icvTail fails'}`, { skip }, async (t) => {
    const a = pair(suite);
    const b = pair(suite);
    const aad = rnd(8);
    const iv = rnd(info.ivLen);
    const tail = info.combined ? undefined : rnd(4);
    const sealed = a.node.seal(aad, iv, rnd(32), tail);
    t.equal(b.node.open(aad, iv, sealed, tail), null, 'node, other key');
    t.equal(b.noble.open(aad, iv, sealed, tail), null, 'noble, other key');
    if (info.combined) return;
    for (const aead of [a.node, a.noble]) {
      t.equal(aead.open(aad, iv, sealed, undefined), null, 'tail missing');
      t.equal(aead.open(aad, iv, sealed, rnd(4)), null, 'other tail');
      t.equal(aead.open(aad, iv, sealed, new Uint8Array([...tail!, 0])), null, 'longer tail');
      t.ok(aead.open(aad, iv, sealed, tail), 'right tail');
    }
    const noTail = a.noble.seal(aad, iv, new Uint8Array(16));
    t.equal(a.node.open(aad, iv, noTail, tail), null, 'a tail where none was sealed');
  });
}

t.test('seal never aliases its inputs: changing them afterwards leaves the output alone', async (t) => {
  for (const be of BACKENDS) {
    for (const suite of SUITE_NAMES) {
      if (!be.supports(suite)) continue;
      const [enc, integ] = keys(suite);
      const aead = be.aead(suite, enc, integ);
      const plain = rnd(64);
      const iv = rnd(SUITES[suite].ivLen);
      const out = aead.seal(rnd(8), iv, plain);
      const before = hex(out);
      plain.fill(0);
      iv.fill(0);
      enc.fill(0); // the Aead keeps its own copy of the key
      t.equal(hex(out), before, `${be.name} ${suite}`);
      t.ok(aead.open(new Uint8Array(8), rnd(SUITES[suite].ivLen), out) === null, 'still keyed (wrong aad fails, no throw)');
    }
  }
});
