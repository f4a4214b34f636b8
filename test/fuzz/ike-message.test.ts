/**
 * The IKE message parser: golden messages (test/ike/vectors.ts) and decrypted SK chains, mutated,
 * go through decodeMessage / decodePayloadChain, the rules table, every payload codec and the
 * encoder. The parser may only return a message or throw MalformedError; the rules check never
 * throws; what decodes re-encodes to as many bytes, and that encoding is a fixpoint (reserved
 * fields are ignored on receipt and sent as zero, RFC 7296 §3.2).
 */
import t from 'tap';
import { fromHex } from '../../src/wire/bytes.js';
import { MalformedError } from '../../src/wire/errors.js';
import { decodeMessage, decodePayload, decodePayloadChain, encodeChain, encodeMessage } from '../../src/ike/message.js';
import { checkRules } from '../../src/ike/rules.js';
import { isResponse } from '../../src/ike/header.js';
import { EXCHANGE, PAYLOAD } from '../../src/ike/constants.js';
import { MESSAGES } from '../ike/vectors.js';
import { fuzz } from './harness.js';
import { chainShape, fixIkeLength, ikeShape, mutate, pick, toHex } from './mutate.js';

const WHOLE = MESSAGES.map((v) => fromHex(v.hex));
const CHAINS = MESSAGES.flatMap((v) => (v.inner && v.inner.hex ? [{ first: v.inner.first, bytes: fromHex(v.inner.hex) }] : []));
const SK_OUTER = [{ type: PAYLOAD.SK, critical: false, body: new Uint8Array(0) }];

/** Undefined when fine; MalformedError is fine; anything else escaping is the failure. */
function contained(fn: () => string | undefined): string | undefined {
  try {
    return fn();
  } catch (e) {
    if (e instanceof MalformedError) return undefined;
    throw e;
  }
}

let decoded = 0;

t.test('mutated whole messages: a message or MalformedError, and a faithful re-encoding', async (t) => {
  await fuzz(t, 'ike-message', {
    make: (r) => mutate(r, pick(r, WHOLE), { shape: ikeShape, others: WHOLE, fixLength: fixIkeLength }),
    show: toHex,
    run: (b) =>
      contained(() => {
        const m = decodeMessage(b);
        if (!m.ok) return undefined;
        decoded++;
        checkRules(m.header.exchange, isResponse(m.header), m.payloads, []);
        // Reserved bits are ignored on receipt and sent as zero (§3.2): same length, then a fixpoint.
        const again = encodeMessage(m.header, m.payloads);
        const twice = decodeMessage(again);
        if (again.length !== b.length || !twice.ok || toHex(encodeMessage(twice.header, twice.payloads)) !== toHex(again)) return 're-encoding differs';
        m.payloads.forEach(decodePayload);
        return undefined;
      }),
  });
  t.ok(decoded > 0, `${decoded} mutants still decoded`);
});

t.test('mutated decrypted chains: the same, under every exchange the rules know', async (t) => {
  const exchanges = [EXCHANGE.IKE_AUTH, EXCHANGE.CREATE_CHILD_SA, EXCHANGE.INFORMATIONAL];
  await fuzz(t, 'ike-chain', {
    make: (r) => {
      const c = pick(r, CHAINS);
      const first = r() < 0.1 ? pick(r, [0, 33, 41, 46, 0x7f]) : c.first;
      return { first, exchange: pick(r, exchanges), response: r() < 0.5, bytes: mutate(r, c.bytes, { shape: (b) => chainShape(b, c.first), others: CHAINS.map((x) => x.bytes) }) };
    },
    show: (x) => `first ${x.first} exchange ${x.exchange} ${x.response ? 'response' : 'request'} ${toHex(x.bytes)}`,
    run: (x) =>
      contained(() => {
        const inner = decodePayloadChain(x.first, x.bytes);
        checkRules(x.exchange, x.response, SK_OUTER, inner);
        const again = encodeChain(inner);
        const twice = encodeChain(decodePayloadChain(again.first, again.bytes));
        if (again.bytes.length !== x.bytes.length || (inner.length && again.first !== x.first) || toHex(twice.bytes) !== toHex(again.bytes)) return 're-encoding differs';
        inner.forEach(decodePayload);
        return undefined;
      }),
  });
});
