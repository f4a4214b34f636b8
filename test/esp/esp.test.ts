import t from 'tap';
import { nodeBackend, nobleBackend } from '../../src/crypto/index.js';
import { SUITES } from '../../src/crypto/suites.js';
import type { CipherSuite } from '../../src/crypto/types.js';
import { openEsp, sealEsp, espOverhead, minEspLen, type SendState, type RecvState } from '../../src/esp/esp.js';
import { ReplayWindow } from '../../src/esp/replay.js';
import { classify } from '../../src/esp/udp.js';
import { writeU32 } from '../../src/wire/bytes.js';

const SUITE_LIST = Object.keys(SUITES) as CipherSuite[];

function pair(suite: CipherSuite, esn: boolean, backend = nodeBackend) {
  const info = SUITES[suite];
  const key = new Uint8Array(info.encKeyLen).map((_, i) => i);
  const integ = info.integKeyLen ? new Uint8Array(info.integKeyLen).map((_, i) => 255 - i) : undefined;
  const aead = backend.aead(suite, key, integ);
  const send: SendState = { spi: 0xc0ffee01, aead, esn, seq: 0 };
  const recv: RecvState = { aead, esn, replay: new ReplayWindow(64) };
  return { send, recv, aead };
}

const iv = (n: number) => nodeBackend.randomBytes(n);

t.test('seal/open round trip for every suite, ESN on and off, sizes 0..300', async (t) => {
  for (const suite of SUITE_LIST) {
    for (const esn of [false, true]) {
      const { send, recv, aead } = pair(suite, esn);
      for (let len = 0; len <= 300; len += 37) {
        const payload = new Uint8Array(len).map((_, i) => i * 7);
        const pkt = sealEsp(send, 4, payload, iv)!;
        t.equal(pkt.length, len + espOverhead(aead, len), `${suite} overhead`);
        t.equal((pkt.length - 8 - aead.ivLen - aead.icvLen) % aead.blockLen, 0, 'ciphertext is block aligned');
        const r = openEsp(recv, pkt);
        if (!r.ok) {
          t.fail(`${suite} esn=${esn} len=${len}: ${r.reason}`);
          continue;
        }
        t.equal(r.nextHeader, 4);
        t.same(r.payload, payload);
      }
    }
  }
});

t.test('node and noble backends interoperate on whole ESP packets', async (t) => {
  for (const suite of SUITE_LIST) {
    const a = pair(suite, true, nodeBackend);
    const b = pair(suite, true, nobleBackend);
    const payload = new Uint8Array(100).fill(9);
    t.ok(openEsp(b.recv, sealEsp(a.send, 41, payload, iv)!).ok, `${suite}: node -> noble`);
    t.ok(openEsp(a.recv, sealEsp(b.send, 41, payload, iv)!).ok, `${suite}: noble -> node`);
  }
});

t.test('combined modes use the 64-bit sequence number as IV; CBC uses a random IV', async (t) => {
  const g = pair('aes256gcm16', true);
  g.send.seq = 0x1_0000_0000 - 1;
  const pkt = sealEsp(g.send, 4, new Uint8Array(10), iv)!;
  t.same([...pkt.subarray(4, 16)], [0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0], 'seq low 0, IV = 2^32');
  const c = pair('aes128-sha256', false);
  const p1 = sealEsp(c.send, 4, new Uint8Array(10), iv)!;
  const p2 = sealEsp(c.send, 4, new Uint8Array(10), iv)!;
  t.not(Buffer.from(p1.subarray(8, 24)).toString('hex'), Buffer.from(p2.subarray(8, 24)).toString('hex'));
});

t.test('every single-bit flip is caught and nothing is committed', async (t) => {
  for (const suite of ['aes256gcm16', 'chacha20poly1305', 'aes128-sha256'] as const) {
    const { send, recv } = pair(suite, true);
    const pkt = sealEsp(send, 4, new Uint8Array(40).fill(1), iv)!;
    let caught = 0;
    for (let bit = 0; bit < pkt.length * 8; bit++) {
      const bad = pkt.slice();
      bad[bit >> 3]! ^= 1 << (bit & 7);
      const r = openEsp(recv, bad);
      if (!r.ok) caught++;
    }
    t.equal(caught, pkt.length * 8, `${suite}: all ${pkt.length * 8} flips rejected`);
    t.equal(recv.replay.highest, 0, `${suite}: the window did not move`);
    t.ok(openEsp(recv, pkt).ok, 'the original still opens');
  }
});

t.test('truncated packets are "short", never a throw', async (t) => {
  const { send, recv, aead } = pair('aes256gcm16', false);
  const pkt = sealEsp(send, 4, new Uint8Array(40), iv)!;
  for (let n = 0; n < minEspLen(aead); n++) t.match(openEsp(recv, pkt.subarray(0, n)), { ok: false, reason: 'short' });
  const cbc = pair('aes128-sha256', false);
  const c = sealEsp(cbc.send, 4, new Uint8Array(40), iv)!;
  t.match(openEsp(cbc.recv, c.subarray(0, c.length - 1)), { ok: false, reason: 'short' }, 'CBC not block aligned');
});

t.test('replayed packets are dropped after the first', async (t) => {
  const { send, recv } = pair('chacha20poly1305', false);
  const pkt = sealEsp(send, 4, new Uint8Array(8), iv)!;
  t.ok(openEsp(recv, pkt).ok);
  t.match(openEsp(recv, pkt), { ok: false, reason: 'replay' });
});

/** Build an authenticated packet with a hand-made trailer, to test what a real peer could send. */
function craft(suite: CipherSuite, plain: Uint8Array, seq = 1) {
  const { aead, recv } = pair(suite, false);
  const aad = new Uint8Array(8);
  writeU32(aad, 0, 0xc0ffee01);
  writeU32(aad, 4, seq);
  const ivb = new Uint8Array(aead.ivLen).fill(3);
  const sealed = aead.seal(aad, ivb, plain);
  const pkt = new Uint8Array(8 + ivb.length + sealed.length);
  pkt.set(aad);
  pkt.set(ivb, 8);
  pkt.set(sealed, 8 + ivb.length);
  return { pkt, recv };
}

t.test('bad padding is dropped after authentication', async (t) => {
  // payload of 4 bytes, pad bytes 1,3 (should be 1,2), pad length 2, next header 4
  const { pkt, recv } = craft('aes256gcm16', new Uint8Array([0xa, 0xb, 0xc, 0xd, 1, 3, 2, 4]));
  t.match(openEsp(recv, pkt), { ok: false, reason: 'padding' });
  const long = craft('aes256gcm16', new Uint8Array([1, 2, 9, 4])); // pad length 9 > data
  t.match(openEsp(long.recv, long.pkt), { ok: false, reason: 'padding' });
});

t.test('dummy packets (next header 59) authenticate and come back marked', async (t) => {
  const { send, recv } = pair('aes256gcm16', false);
  const r = openEsp(recv, sealEsp(send, 59, new Uint8Array(0), iv)!);
  t.match(r, { ok: true, nextHeader: 59 });
});

t.test('the sequence number never cycles: without ESN the SA stops at 2^32-1', async (t) => {
  const { send } = pair('aes256gcm16', false);
  send.seq = 0xffff_fffe;
  t.ok(sealEsp(send, 4, new Uint8Array(1), iv));
  t.equal(sealEsp(send, 4, new Uint8Array(1), iv), undefined);
  t.equal(send.seq, 0xffff_ffff, 'no wrap to 0');
});

t.test('UDP port 4500 demultiplexing (RFC 3948)', async (t) => {
  t.equal(classify(new Uint8Array([0xff])), 'keepalive');
  t.equal(classify(new Uint8Array(3)), 'runt');
  t.equal(classify(new Uint8Array(40)), 'ike', 'non-ESP marker');
  t.equal(classify(new Uint8Array([0, 0, 1, 0, 0, 0, 0, 1])), 'esp');
});
