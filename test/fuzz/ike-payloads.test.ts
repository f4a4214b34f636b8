/**
 * Every payload decoder of src/ike/payloads, fed mutated bodies of its own type: the golden
 * bodies of test/ike/vectors.ts and every body found in the golden messages and decrypted
 * chains. A decoder returns a payload or throws MalformedError; what it returns re-encodes to as
 * many bytes, and that encoding is a fixpoint (a decoder that accepts bytes it cannot account for
 * has skipped something; reserved fields alone may come back as zero).
 */
import t from 'tap';
import { fromHex } from '../../src/wire/bytes.js';
import { MalformedError } from '../../src/wire/errors.js';
import { decodeMessage, decodePayload, decodePayloadChain, encodePayload, payloadName, type RawPayload } from '../../src/ike/message.js';
import { BODIES, MESSAGES } from '../ike/vectors.js';
import { fuzz } from './harness.js';
import { bodyShape, mutate, pick, toHex } from './mutate.js';

/** Golden bodies by payload type (SK and SKF are ciphertext: no decoder of their own). */
function goldenBodies(): Map<number, Uint8Array[]> {
  const raw: RawPayload[] = BODIES.map((b) => ({ type: b.type, critical: false, body: fromHex(b.hex) }));
  for (const v of MESSAGES) {
    const m = decodeMessage(fromHex(v.hex));
    if (m.ok) raw.push(...m.payloads);
    if (v.inner?.hex) raw.push(...decodePayloadChain(v.inner.first, fromHex(v.inner.hex)));
  }
  const out = new Map<number, Uint8Array[]>();
  for (const p of raw) {
    const n = payloadName(p.type);
    if (n === undefined || n === 'SK' || n === 'SKF') continue;
    out.set(p.type, [...(out.get(p.type) ?? []), p.body]);
  }
  return out;
}

const GOLDEN = goldenBodies();
// IDr, CERT and TSr are decoded by the same codecs as IDi, CERTREQ and TSi; give them seeds too.
for (const [to, from] of [[36, 35], [37, 38], [45, 44]] as const) if (!GOLDEN.has(to)) GOLDEN.set(to, GOLDEN.get(from) ?? []);
const TYPES = [...GOLDEN.keys()].sort((a, b) => a - b);

t.test('golden bodies for every decoder', async (t) => {
  t.same(TYPES.map((x) => payloadName(x)), ['SA', 'KE', 'IDi', 'IDr', 'CERT', 'CERTREQ', 'AUTH', 'NONCE', 'N', 'D', 'V', 'TSi', 'TSr']);
  for (const [type, bodies] of GOLDEN) for (const body of bodies) t.equal(toHex(encodePayload(decodePayload({ type, critical: false, body })).body), toHex(body), `${payloadName(type)} round trip`);
});

t.test('each decoder on mutated bodies of its type', async (t) => {
  const perType = new Map<number, { ok: number; malformed: number }>(TYPES.map((x) => [x, { ok: 0, malformed: 0 }]));
  await fuzz(t, 'ike-payloads', {
    make: (r) => {
      const type = pick(r, TYPES);
      const seeds = GOLDEN.get(type)!;
      return { type, body: mutate(r, pick(r, seeds), { shape: bodyShape(type), others: seeds }) };
    },
    show: (x) => `type ${x.type} body ${toHex(x.body)}`,
    run: ({ type, body }) => {
      const n = perType.get(type)!;
      try {
        const p = decodePayload({ type, critical: false, body });
        n.ok++;
        const again = encodePayload(p).body;
        const twice = encodePayload(decodePayload({ type, critical: false, body: again })).body;
        return again.length === body.length && toHex(twice) === toHex(again) ? undefined : `re-encodes to ${toHex(again)}`;
      } catch (e) {
        if (!(e instanceof MalformedError)) throw e;
        n.malformed++;
        return undefined;
      }
    },
  });
  t.comment([...perType].map(([k, v]) => `${payloadName(k)} ${v.ok}/${v.malformed}`).join(', ') + ' (decoded/malformed)');
  t.ok([...perType.values()].every((v) => v.ok + v.malformed > 0), 'every decoder was fed');
});
