/**
 * Malformed but authenticated (RFC 7296 §2.21): requests and responses sealed with the IKE SA's
 * own keys whose decrypted content is broken. A request is answered, with the next message ID,
 * by one notify: INVALID_SYNTAX for anything badly formatted — fatal in both peers, so the IKE SA
 * and its children go without a Delete (§2.21.3) — and UNSUPPORTED_CRITICAL_PAYLOAD for an unknown
 * critical payload (§2.5), after which the SA stays as it was. Each refusal is logged with its
 * reason. A broken response sends no error notify (§2.21.3); the IKE SA is deleted and started over.
 */
import t from 'tap';
import { counterIv, openMessage } from '../../src/ike/sk.js';
import { decodeMessage, decodePayload, encodeChain, encodeMessage, encodePayload, type Payload, type RawPayload } from '../../src/ike/message.js';
import { EXCHANGE, NOTIFY, PAYLOAD } from '../../src/ike/constants.js';
import type { IkeSa } from '../../src/ike/ike-sa.js';
import { sendDpd } from '../../src/ike/tasks/info.js';
import { NON_ESP_MARKER } from '../../src/esp/udp.js';
import { fromHex } from '../../src/wire/bytes.js';
import { ADDR_A, ADDR_B, ikePair, type Pair, type Side } from '../ike/agents.js';
import { concat } from './mutate.js';
import { ikeSnapshot, sadSnapshot } from './snapshot.js';

const A = { addr: ADDR_A, port: 4500 };
const B = { addr: ADDR_B, port: 4500 };
let ivCounter = 1n << 40n; // far from the agents' own counters: an IV is never reused under a key

const sa = (s: Side): IkeSa => s.agent.ike.sas().find((x) => x.fsm.is('established'))!;
const w = (x: IkeSa) => x.window as unknown as { nextId: number; expectedId: number };

/** A whole message sealed with `from`'s send keys, its SK plaintext `plain` and a Pad Length of 0 (unless `bare`). */
function sealRaw(from: IkeSa, exchange: number, response: boolean, id: number, first: number, plain: Uint8Array, bare = false): Uint8Array {
  const aead = from.sk!.send;
  const body = bare ? plain : concat(plain, Uint8Array.of(0));
  const iv = aead.combined ? counterIv(ivCounter++) : new Uint8Array(aead.ivLen).fill(7);
  const h = { ...headerOf(from, exchange, response, id) };
  const msg = encodeMessage(h, [{ type: PAYLOAD.SK, critical: false, body: new Uint8Array(aead.ivLen + body.length + aead.icvLen), innerFirst: first }]);
  const at = msg.length - aead.ivLen - body.length - aead.icvLen;
  msg.set(iv, at);
  msg.set(aead.seal(msg.subarray(0, at), iv, body), at + aead.ivLen);
  return msg;
}

function headerOf(x: IkeSa, exchange: number, response: boolean, messageId: number) {
  return { spiI: x.spiI, spiR: x.spiR, major: 2, minor: 0, exchange, flags: (x.role === 'initiator' ? 0x08 : 0) | (response ? 0x20 : 0), messageId };
}

const chain = (payloads: Payload[]) => {
  const c = encodeChain(payloads.map(encodePayload));
  return { first: c.first, plain: c.bytes };
};

/** Send `plain` as a request from A to B with A's next message ID; B's answer, opened with A's keys. */
async function request(p: Pair, exchange: number, first: number, plain: Uint8Array, bare = false): Promise<{ notify: number[]; id: number; data: Uint8Array[] }> {
  const a = sa(p.a);
  const id = w(a).nextId++;
  const answers: Uint8Array[] = [];
  p.net.fault = (d, from, to) => (from.addr === ADDR_B && to.addr === ADDR_A && answers.push(d.subarray(4)), [d]);
  p.net.carry(concat(NON_ESP_MARKER, sealRaw(a, exchange, false, id, first, plain, bare)), A, B);
  await p.settle();
  p.net.fault = undefined;
  const m = decodeMessage(answers[0]!);
  if (!m.ok) throw new Error('no answer');
  const o = openMessage(answers[0]!, m, a.sk!.recv);
  if (!o.ok) throw new Error(`answer does not open: ${o.reason}`);
  const ns = o.inner.map(decodePayload).filter((x): x is Payload & { type: 'N' } => x.type === 'N');
  return { notify: ns.map((n) => n.notify), id: m.header.messageId, data: ns.map((n) => n.data) };
}

const CHILD_REQ = (x: IkeSa): Payload[] => [
  { type: 'SA', proposals: [{ num: 1, protocol: 3, spi: fromHex('0000c0de'), transforms: [{ type: 1, id: 20, attributes: [{ type: 14, tv: true, value: 256 }] }, { type: 5, id: 0, attributes: [] }] }] },
  { type: 'NONCE', data: new Uint8Array(32).fill(x.role === 'initiator' ? 1 : 2) },
  { type: 'TSi', selectors: [{ tsType: 7, protocol: 0, startPort: 0, endPort: 65535, start: fromHex('c6336400'), end: fromHex('c63364ff') }] },
  { type: 'TSr', selectors: [{ tsType: 7, protocol: 0, startPort: 0, endPort: 65535, start: fromHex('cb007100'), end: fromHex('cb0071ff') }] },
];

/** Broken plaintexts, each with the notify RFC 7296 asks for and the reason the log must give. */
const BROKEN: { name: string; exchange: number; make: (x: IkeSa) => { first: number; plain: Uint8Array; bare?: boolean }; notify: number; log: RegExp }[] = [
  {
    name: 'an inner payload length past the end',
    exchange: EXCHANGE.INFORMATIONAL,
    make: () => ({ first: PAYLOAD.N, plain: fromHex('00 00 00ff 00 00 4000') }),
    notify: NOTIFY.INVALID_SYNTAX,
    log: /INVALID_SYNTAX: undecodable SK content: malformed N payload length/,
  },
  {
    name: 'a payload chain that loops (each N names N next, to the end of the bytes)',
    exchange: EXCHANGE.INFORMATIONAL,
    make: () => ({ first: PAYLOAD.N, plain: fromHex('29 00 0008 00 00 4000'.repeat(3)) }),
    notify: NOTIFY.INVALID_SYNTAX,
    log: /undecodable SK content: malformed N generic header: need 4, have 0/,
  },
  {
    name: 'more payloads than a message may carry',
    exchange: EXCHANGE.INFORMATIONAL,
    make: () => ({ first: PAYLOAD.N, plain: concat(fromHex('29 00 0008 00 00 4000'.repeat(70)), fromHex('00 00 0008 00 00 4000')) }),
    notify: NOTIFY.INVALID_SYNTAX,
    log: /malformed payload count: need 64, have 65/,
  },
  {
    name: 'CREATE_CHILD_SA without its nonce',
    exchange: EXCHANGE.CREATE_CHILD_SA,
    make: (x) => chain(CHILD_REQ(x).filter((p) => p.type !== 'NONCE')),
    notify: NOTIFY.INVALID_SYNTAX,
    log: /missing NONCE in CREATE_CHILD_SA request/,
  },
  {
    name: 'a TS selector whose length lies',
    exchange: EXCHANGE.CREATE_CHILD_SA,
    make: (x) => {
      const c = chain(CHILD_REQ(x));
      const ts = c.plain.length - 2 * 24 + 8; // TSi body: count, reserved, then the selector's length field at +2
      c.plain.set([0x00, 0x28], ts + 2);
      return c;
    },
    notify: NOTIFY.INVALID_SYNTAX,
    log: /malformed TS selector length: need 16, have 40/,
  },
  {
    name: 'a DELETE whose SPI count lies',
    exchange: EXCHANGE.INFORMATIONAL,
    make: (x) => {
      const c = chain([{ type: 'D', protocol: 3, spiSize: 4, spis: [fromHex(x.children[0]!.spiOut.toString(16).padStart(8, '0'))] }]);
      c.plain.set([0xff, 0xff], 6);
      return c;
    },
    notify: NOTIFY.INVALID_SYNTAX,
    log: /malformed delete SPIs \(count x size\): need 262140, have 4/,
  },
  {
    name: 'garbage',
    exchange: EXCHANGE.INFORMATIONAL,
    make: () => ({ first: 0x9d, plain: fromHex('9d7f0013c0ffee00112233445566778899aabbccdd') }),
    notify: NOTIFY.INVALID_SYNTAX,
    log: /undecodable SK content/,
  },
  {
    name: 'a bad Pad Length',
    exchange: EXCHANGE.INFORMATIONAL,
    make: () => ({ first: 0, plain: Uint8Array.of(0, 0xc8), bare: true }),
    notify: NOTIFY.INVALID_SYNTAX,
    log: /undecodable SK content: Pad Length 200 in 2 bytes/,
  },
];

for (const c of BROKEN) {
  t.test(`authenticated request with ${c.name}: ${c.notify === NOTIFY.INVALID_SYNTAX ? 'INVALID_SYNTAX, the IKE SA closed' : ''}`, async (t) => {
    const p = await ikePair();
    t.teardown(() => p.stop());
    const b = sa(p.b);
    const expected = w(b).expectedId;
    const { first, plain, bare } = c.make(b);
    const r = await request(p, c.exchange, first, plain, bare);
    t.same(r.notify, [c.notify], 'answered with one notify');
    t.equal(r.id, expected, 'with the request message ID');
    t.equal(w(b).expectedId, expected + 1, 'the message ID advanced');
    t.ok(p.b.log.some((l) => c.log.test(l)), `B logged the reason (${c.log})`);
    t.ok(p.b.log.some((l) => /refusing .* request \d+ with INVALID_SYNTAX/.test(l)));
    // Fatal in both peers (§2.21.3): B's IKE SA and its child SAs are gone, without a Delete.
    t.ok(b.fsm.is('closed'), 'B closed the IKE SA');
    t.same(sadSnapshot(p.b).sad, [], "B's child SAs are gone from the SAD");
    t.equal(p.b.agent.ike.drops.byReason['internal'], undefined, 'nothing thrown');
  });
}

t.test('authenticated request with an unknown critical payload: UNSUPPORTED_CRITICAL_PAYLOAD, nothing else changes', async (t) => {
  const p = await ikePair();
  t.teardown(() => p.stop());
  const b = sa(p.b);
  const before = { ike: ikeSnapshot(b), ...sadSnapshot(p.b) };
  const unknown: RawPayload = { type: 0x9d, critical: true, body: fromHex('c0ffee') };
  const c = encodeChain([unknown, encodePayload({ type: 'N', protocol: 0, notify: 16384, spi: new Uint8Array(0), data: new Uint8Array(0) })]);
  const r = await request(p, EXCHANGE.INFORMATIONAL, c.first, c.bytes);
  t.same(r.notify, [NOTIFY.UNSUPPORTED_CRITICAL_PAYLOAD]);
  t.same([...(r.data[0] ?? [])], [0x9d], 'the notify data is the payload type (§3.10.1)');
  const after = { ike: ikeSnapshot(b), ...sadSnapshot(p.b) };
  const [ours, theirs] = before.ike.ids as [number, number];
  t.same(after, { ...before, ike: { ...before.ike, ids: [ours, theirs + 1] } }, 'only the message ID advanced');
  t.ok(p.b.log.some((l) => /refusing INFORMATIONAL request \d+ with UNSUPPORTED_CRITICAL_PAYLOAD: unsupported critical payload 157/.test(l)));
  t.ok(await p.ping('a'), 'the SA carries traffic');
});

/** A's liveness check is out and B's genuine answer lost: the test sends B's answer instead. */
async function livenessAnswerLost(p: Pair): Promise<{ a: IkeSa; b: IkeSa; id: number }> {
  const a = sa(p.a);
  const b = sa(p.b);
  p.net.fault = (d, from) => (from.addr === ADDR_B ? [] : [d]);
  sendDpd(p.a.agent.ike, a);
  await p.settle();
  p.net.fault = undefined;
  return { a, b, id: w(a).nextId - 1 };
}

t.test('an answer with INVALID_SYNTAX closes the asking IKE SA too (fatal in both peers)', async (t) => {
  const p = await ikePair();
  t.teardown(() => p.stop());
  // B's genuine answer is lost and one with N(INVALID_SYNTAX) arrives instead.
  const { a, b, id } = await livenessAnswerLost(p);
  const n = chain([{ type: 'N', protocol: 0, notify: NOTIFY.INVALID_SYNTAX, spi: new Uint8Array(0), data: new Uint8Array(0) }]);
  p.net.carry(concat(NON_ESP_MARKER, sealRaw(b, EXCHANGE.INFORMATIONAL, true, id, n.first, n.plain)), B, A);
  await p.settle();
  t.ok(a.fsm.is('closed'), 'A closed the IKE SA');
  t.ok(p.a.log.some((l) => /peer answered liveness check with INVALID_SYNTAX: closing the IKE SA/.test(l)));
  t.same(sadSnapshot(p.a).sad, [], "A's child SAs are gone");
  await p.advance(60_000, 5_000);
  t.ok(p.a.agent.ike.sas().some((x) => x.fsm.is('established')), 'and a new one is up (A initiates)');
  t.ok(await p.ping('a'));
});

for (const broken of [
  { name: 'a payload length past the end', first: PAYLOAD.N, plain: fromHex('00 00 00ff 00 00 4000'), log: /liveness check failed: unusable response: undecodable SK content/ },
  { name: 'a payload not allowed there', first: PAYLOAD.NONCE, plain: fromHex('00 00 0014' + '11'.repeat(16)), log: /liveness check failed: unusable response: NONCE not allowed in INFORMATIONAL response/ },
]) {
  t.test(`an authenticated answer with ${broken.name}: no error notify; the IKE SA is deleted and started over`, async (t) => {
    const p = await ikePair();
    t.teardown(() => p.stop());
    const { a, b, id } = await livenessAnswerLost(p);
    const sent: Uint8Array[] = [];
    p.net.fault = (d, from) => (from.addr === ADDR_A && d[0] === 0 && sent.push(d.subarray(4)), [d]);
    p.net.carry(concat(NON_ESP_MARKER, sealRaw(b, EXCHANGE.INFORMATIONAL, true, id, broken.first, broken.plain)), B, A);
    await p.settle();
    p.net.fault = undefined;
    t.ok(p.a.log.some((l) => broken.log.test(l)), `A logged why (${broken.log})`);
    // What A sent next: an INFORMATIONAL with a Delete of the IKE SA, no error notify.
    const inner = sent.map((m) => {
      const d = decodeMessage(m);
      const o = d.ok ? openMessage(m, d, b.sk!.recv) : undefined;
      return o?.ok ? o.inner.map(decodePayload) : [];
    });
    t.same(inner.map((x) => x.map((y) => y.type)), [['D']], 'A sent one request: a Delete');
    t.equal(inner[0]?.[0]?.type === 'D' && inner[0][0].protocol, 1, 'of the IKE SA');
    t.ok(a.fsm.is('closed') && b.fsm.is('closed'), 'both ends closed the IKE SA');
    await p.advance(60_000, 5_000);
    t.ok(p.a.agent.ike.sas().some((x) => x.fsm.is('established')), 'and a new one is up');
    t.ok(await p.ping('a'));
  });
}
