/**
 * Replay and forgery against two `keyline run` agents (the built bundle, real UDP), with a small
 * relay between them (test/attack/child.ts `relay`) that carries and records every datagram and
 * sends what the test tells it to from the address the receiver expects its peer at:
 *
 *   ns A: agent A 192.0.2.1 ── veth ── 192.0.2.3 relay 192.0.2.4 ── lo ── 192.0.2.2 agent B :ns B
 *
 * 1. Capture a live session: IKE_SA_INIT, IKE_AUTH (ports 500 and 4500) and ESP both ways under a
 *    ping. Replay every datagram to where it went: no SA, SPI, message ID or per-SA counter
 *    changes (other than drops), every replayed datagram is counted (`replay` on the child SA,
 *    `ike-init-replay`, `ike-resent`, `ike-unexpected-response`).
 * 2. Forged INFORMATIONAL messages to each agent, as from its peer (RFC 7296 §1.5, §2.21.4: an
 *    unprotected error message may be noted, never acted on): INVALID_SPI for the live child
 *    SPI outside SK (as a request, as a response, and outside any IKE SA), DELETE inside an SK
 *    payload sealed with wrong keys, DELETE in an unencrypted INFORMATIONAL with the right IKE SPIs
 *    and the next message ID, and a message with the ID of the last request already answered:
 *    nothing is torn down, nothing is sent in answer, each is counted.
 * 3. The message-ID windows are intact: `keyline down` from A is processed by B at once.
 *
 * Root only; never skips.
 */
import t, { type Test } from 'tap';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { nodeBackend } from '../../src/crypto/index.js';
import { EXCHANGE, FLAG, NOTIFY, PROTO } from '../../src/ike/constants.js';
import { decodeMessage, encodeMessage, encodePayload, type IkeHeader, type Payload } from '../../src/ike/message.js';
import { sealMessage } from '../../src/ike/sk.js';
import type { AgentStatus } from '../../src/control/status.js';
import type { DownResult, UpResult } from '../../src/control/ops.js';
import type { Carried } from './child.js';
import { bundleMain, cleanupLeftovers, registerCleanup, requireNetnsTools } from '../netns/ns.js';
import { ADDR, attackWorld, ikeSaOf, logged, type Child } from './world.js';

const BUNDLE = resolve('dist/keyline.js');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Datagram {
  to: 'a' | 'b';
  port: number;
  /** As on the wire (non-ESP marker included on 4500). */
  wire: Uint8Array;
  kind: 'ike' | 'esp' | 'keepalive';
  ike?: IkeHeader;
}

function parse(c: Carried): Datagram {
  const wire = new Uint8Array(Buffer.from(c.hex, 'hex'));
  if (wire.length === 1 && wire[0] === 0xff) return { to: c.to, port: c.port, wire, kind: 'keepalive' };
  const marker = c.port === 4500;
  if (marker && (wire.length < 4 || wire[0] || wire[1] || wire[2] || wire[3])) return { to: c.to, port: c.port, wire, kind: 'esp' };
  const d = decodeMessage(marker ? wire.subarray(4) : wire);
  return { to: c.to, port: c.port, wire, kind: 'ike', ike: d.header };
}

/** What the relay carried, from line `from` on. */
const carried = (relay: Child, from = 0): Datagram[] =>
  relay.lines
    .slice(from)
    .filter((l) => l.startsWith('{"to"'))
    .map((l) => parse(JSON.parse(l) as Carried));

/** Send datagrams through the relay, as from the receiver's peer; resolves when all went out. */
async function inject(relay: Child, list: readonly { to: 'a' | 'b'; port: number; wire: Uint8Array }[]): Promise<void> {
  let id = 0;
  const from = relay.lines.length;
  for (const d of list) {
    relay.write(`${JSON.stringify({ send: d.to, port: d.port, hex: Buffer.from(d.wire).toString('hex'), id: ++id })}\n`);
    if (id % 32 === 0) await sleep(5); // paced: a burst would measure the socket buffer, not keyline
  }
  const last = `{"sent":${id}}`;
  await relay.waitFor((l) => l === last, { timeoutMs: 10_000, from });
}

/** What must not change: SAs, SPIs, states, message IDs, per-SA traffic counters. */
function snapshot(s: AgentStatus) {
  return {
    sas: s.ikeLoad.sas,
    ike: s.peers.flatMap((p) => p.ikeSas ?? []).map((x) => ({
      state: x.state,
      role: x.role,
      spiI: x.spiI,
      spiR: x.spiR,
      messageIds: x.messageIds,
      children: x.children.map((c) => ({ spiIn: c.spiIn, spiOut: c.spiOut, state: c.state, in: [c.in.bytes, c.in.packets], out: c.out })),
    })),
  };
}

const delta = (after: Readonly<Record<string, number>>, before: Readonly<Record<string, number>>) =>
  Object.fromEntries(Object.keys(after).filter((k) => (after[k] ?? 0) !== (before[k] ?? 0)).map((k) => [k, (after[k] ?? 0) - (before[k] ?? 0)]));

async function setup(t: Test) {
  requireNetnsTools();
  t.ok(existsSync(BUNDLE), `${BUNDLE} exists (npm test builds it first)`);
  await cleanupLeftovers();
  const child = await bundleMain(resolve('test/attack/child.ts'));
  registerCleanup(t, child.remove);
  const w = await attackWorld({ bundle: BUNDLE, childArgv: [process.execPath, child.file], relay: true, startA: 'wait', peerExtra: 'dpd=off' });
  registerCleanup(t, w.close);
  const relay = w.attacker('b', 'relay', { facingA: ADDR.relayA, facingB: ADDR.relayB, agentB: ADDR.b, ports: [500, 4500] });
  await relay.waitFor((l) => l.startsWith('{"ready"'));
  const up = await w.control<UpResult>('a', { cmd: 'up', peer: 'b' });
  t.ok(up.established, 'A and B are up through the relay');
  return { w, relay };
}

t.test('replayed IKE and ESP from a capture, then forged INFORMATIONAL messages: nothing changes, all counted', async (t) => {
  const { w, relay } = await setup(t);
  const ping = await w.ping(5);
  t.equal(ping.received, 5, `traffic both ways: ${ping.out}`);
  await sleep(300);
  const capture = carried(relay);
  const esp = { a: capture.filter((d) => d.kind === 'esp' && d.to === 'a').length, b: capture.filter((d) => d.kind === 'esp' && d.to === 'b').length };
  const ike = capture.filter((d) => d.kind === 'ike');
  t.same(
    ike.map((d) => [d.to, d.port, d.ike!.exchange, d.ike!.messageId]),
    [
      ['b', 4500, EXCHANGE.IKE_SA_INIT, 0],
      ['a', 4500, EXCHANGE.IKE_SA_INIT, 0],
      ['b', 4500, EXCHANGE.IKE_AUTH, 1],
      ['a', 4500, EXCHANGE.IKE_AUTH, 1],
    ],
    'captured: IKE_SA_INIT and IKE_AUTH, each way',
  );
  t.ok(esp.a >= 5 && esp.b >= 5, `captured ESP: ${esp.b} to B, ${esp.a} to A`);

  // ---- 1. replay everything -----------------------------------------------------------------------
  const before = { a: await w.show('a'), b: await w.show('b') };
  const mark = relay.lines.length;
  await inject(relay, capture);
  await sleep(500);
  const after = { a: await w.show('a'), b: await w.show('b') };
  for (const side of ['a', 'b'] as const) {
    t.same(snapshot(after[side]), snapshot(before[side]), `${side}: SAs, SPIs, message IDs and traffic counters unchanged by the replay`);
    const child0 = ikeSaOf(before[side])!.children[0]!;
    const child1 = ikeSaOf(after[side])!.children[0]!;
    t.same(delta(child1.in.drops, child0.in.drops), { replay: esp[side] }, `${side}: every replayed ESP packet counted as replay (${esp[side]})`);
  }
  // B: the IKE_SA_INIT request is recognised (its SA exists), the IKE_AUTH request is the last one
  // it answered: a retransmission as far as B can tell (bitwise identical, RFC 7296 §2.1), so B
  // sends its cached answer again, which A counts as a response to nothing.
  t.same(delta(after.b.drops.ike, before.b.drops.ike), { 'ike-init-replay': 1, 'ike-resent': 1 }, 'B: replayed IKE requests counted');
  t.same(delta(after.a.drops.ike, before.a.drops.ike), { 'ike-unexpected-response': 3 }, 'A: both replayed responses and B\'s re-sent one counted');
  const answers = carried(relay, mark).filter((d) => d.kind !== 'keepalive');
  t.same(answers.map((d) => [d.to, d.ike?.exchange, d.ike?.messageId]), [['a', EXCHANGE.IKE_AUTH, 1]], 'the one answer to the replay: B re-sending its cached IKE_AUTH response');

  // ---- 2. forged INFORMATIONAL messages -----------------------------------------------------------
  const sa = { a: ikeSaOf(after.a)!, b: ikeSaOf(after.b)! };
  const spiI = BigInt(`0x${sa.a.spiI}`);
  const spiR = BigInt(`0x${sa.a.spiR}`);
  const wrongKeys = nodeBackend.aead('aes256gcm16', new Uint8Array(randomBytes(36)));
  const marked = (m: Uint8Array) => {
    const out = new Uint8Array(4 + m.length);
    out.set(m, 4);
    return out;
  };
  const notify = (type: number, data: Uint8Array, protocol = 0): Payload => ({ type: 'N', protocol, notify: type, spi: new Uint8Array(0), data });
  const spiBytes = (hex: string) => new Uint8Array(Buffer.from(hex.slice(2), 'hex'));
  const forgeriesTo = (to: 'a' | 'b') => {
    // As from the receiver's peer: A is the original initiator (flag I on all it sends).
    const flags = to === 'b' ? FLAG.I : 0;
    const target = sa[to];
    const next = target.messageIds.recv;
    const child = target.children[0]!;
    const hdr = (h: Partial<IkeHeader>) => ({ spiI, spiR, major: 2, minor: 0, exchange: EXCHANGE.INFORMATIONAL, flags, messageId: next, ...h });
    const invalidSpi = notify(NOTIFY.INVALID_SPI, spiBytes(child.spiOut), PROTO.ESP);
    const del: Payload[] = [
      { type: 'D', protocol: PROTO.ESP, spiSize: 4, spis: [spiBytes(child.spiOut)] },
      { type: 'D', protocol: PROTO.IKE, spiSize: 0, spis: [] },
    ];
    const list: [string, Uint8Array][] = [
      ['INVALID_SPI outside SK, as a request', encodeMessage(hdr({}), [encodePayload(invalidSpi)])],
      ['INVALID_SPI outside SK, as a response', encodeMessage(hdr({ flags: flags | FLAG.R, messageId: target.messageIds.send }), [encodePayload(invalidSpi)])],
      ['INVALID_SPI outside any IKE SA', encodeMessage(hdr({ spiR: 0n, messageId: 0 }), [encodePayload(invalidSpi)])],
      ['DELETE in SK with wrong keys', sealMessage(hdr({}), del.map(encodePayload), wrongKeys, () => new Uint8Array(randomBytes(8)))],
      ['DELETE unencrypted, right SPIs and message ID', encodeMessage(hdr({}), del.map(encodePayload))],
    ];
    // The ID of the last request it answered: only a bitwise retransmission may have the answer again.
    if (next > 0) list.push(['the last answered message ID, other bytes', sealMessage(hdr({ messageId: next - 1 }), del.map(encodePayload), wrongKeys, () => new Uint8Array(randomBytes(8)))]);
    return list.map(([what, m]) => ({ what, to, port: 4500, wire: marked(m) }));
  };
  const forged = [...forgeriesTo('b'), ...forgeriesTo('a')];
  const mark2 = relay.lines.length;
  await inject(relay, forged);
  await sleep(500);
  const forgedAfter = { a: await w.show('a'), b: await w.show('b') };
  for (const side of ['a', 'b'] as const) {
    t.same(snapshot(forgedAfter[side]), snapshot(after[side]), `${side}: nothing torn down, no message ID moved (${forged.filter((f) => f.to === side).map((f) => f.what).join('; ')})`);
    t.same(delta(ikeSaOf(forgedAfter[side])!.children[0]!.in.drops, ikeSaOf(after[side])!.children[0]!.in.drops), {}, `${side}: child SA drops unchanged`);
  }
  t.same(
    delta(forgedAfter.b.drops.ike, after.b.drops.ike),
    { 'ike-auth': 3, 'ike-unexpected-response': 1, 'ike-unknown-spi': 1, 'ike-drop-mismatch': 1 },
    'B: each forgery counted (not authenticated, a response to nothing, no such IKE SA, not a retransmission)',
  );
  t.same(delta(forgedAfter.a.drops.ike, after.a.drops.ike), { 'ike-auth': 3, 'ike-unexpected-response': 1, 'ike-unknown-spi': 1 }, 'A: each forgery counted');
  t.same(carried(relay, mark2).filter((d) => d.kind === 'ike'), [], 'no agent answered a forgery');
  t.equal((await w.ping(3)).received, 3, 'the tunnel works');

  // ---- 3. the windows are intact: A's next request is processed at once --------------------------
  const down = await w.control<DownResult>('a', { cmd: 'down', peer: 'b' });
  t.equal(down.deleted, 1, 'A deletes its IKE SA');
  await logged(w.agents.b, /peer deleted the IKE SA/, "B processing A's DELETE", 3_000);
  const errors = [w.agents.a, w.agents.b].flatMap((c) => c.stderr().split('\n').filter((l) => /^error:/.test(l)));
  t.same(errors, [], 'no errors in either log');
});
