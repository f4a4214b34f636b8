import t from 'tap';
import { fromHex } from '../../src/wire/bytes.js';
import { MalformedError } from '../../src/wire/errors.js';
import { decodeMessage, decodePayload, decodePayloadChain, encodeMessage } from '../../src/ike/message.js';
import { checkRules } from '../../src/ike/rules.js';
import { isResponse } from '../../src/ike/header.js';
import { MESSAGES } from './vectors.js';
import { rng } from './helpers.js';

/**
 * Bit flips (and the odd byte overwrite) in golden messages and decrypted chains: the parser may
 * only ever return a message or throw MalformedError; nothing else may escape, and the rules
 * check never throws. Seeded, so a failure reproduces; bounded by time so the suite stays fast.
 */
const BUDGET_MS = 2000;

interface Target {
  bytes: Uint8Array;
  /** Decrypted chain: first type. Undefined for whole messages. */
  first?: number;
}

const TARGETS: Target[] = MESSAGES.flatMap((v) => {
  const out: Target[] = [{ bytes: fromHex(v.hex) }];
  if (v.inner && v.inner.hex) out.push({ bytes: fromHex(v.inner.hex), first: v.inner.first });
  return out;
});

function mutate(b: Uint8Array, r: () => number): Uint8Array {
  const m = b.slice();
  const flips = 1 + Math.floor(r() * 3);
  for (let i = 0; i < flips; i++) {
    const at = Math.floor(r() * m.length);
    if (r() < 0.15) m[at] = r() < 0.5 ? 0x00 : 0xff;
    else m[at]! ^= 1 << Math.floor(r() * 8);
  }
  return m;
}

/** Decode everything decodable; return true if it all decoded. */
function exercise(target: Target, b: Uint8Array): boolean {
  if (target.first !== undefined) {
    const inner = decodePayloadChain(target.first, b);
    checkRules(35, false, [{ type: 46, critical: false, body: new Uint8Array(0) }], inner);
    inner.forEach(decodePayload);
    return true;
  }
  const m = decodeMessage(b);
  if (!m.ok) return true;
  checkRules(m.header.exchange, isResponse(m.header), m.payloads, []);
  if (encodeMessage(m.header, m.payloads).length !== b.length) throw new Error('re-encoded length differs');
  m.payloads.forEach(decodePayload);
  return true;
}

t.test('bit-flipped messages decode or throw MalformedError, nothing else', async (t) => {
  const r = rng(0x696b6576);
  const end = Date.now() + BUDGET_MS;
  let runs = 0;
  let decoded = 0;
  let malformed = 0;
  const escaped: string[] = [];
  while (Date.now() < end && escaped.length < 5) {
    for (let k = 0; k < 50; k++, runs++) {
      const target = TARGETS[Math.floor(r() * TARGETS.length)]!;
      const b = mutate(target.bytes, r);
      try {
        if (exercise(target, b)) decoded++;
      } catch (e) {
        if (e instanceof MalformedError) malformed++;
        else escaped.push(`${String(e)} on ${Buffer.from(b).toString('hex')}`);
      }
    }
  }
  t.same(escaped, [], 'no other exception escaped');
  t.ok(runs > 1000, `${runs} runs: ${decoded} decoded, ${malformed} malformed`);
  t.ok(decoded > 0 && malformed > 0, 'both outcomes were reached');
});
