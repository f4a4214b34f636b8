import t from 'tap';
import { Reader } from '../../src/wire/reader.js';
import { Writer } from '../../src/wire/writer.js';
import { fromHex, hex } from '../../src/wire/bytes.js';
import * as sa from '../../src/ike/payloads/sa.js';
import * as nonce from '../../src/ike/payloads/nonce.js';
import * as del from '../../src/ike/payloads/delete.js';
import * as ts from '../../src/ike/payloads/ts.js';
import * as notify from '../../src/ike/payloads/notify.js';
import * as header from '../../src/ike/header.js';
import { decodePayload } from '../../src/ike/message.js';
import { FLAG, NOTIFY, PAYLOAD, TRANSFORM } from '../../src/ike/constants.js';
import { malformed, patched } from './helpers.js';

const dec = <X>(codec: { decode(r: Reader): X }, b: Uint8Array): X => codec.decode(new Reader(b));

// One proposal (last), length 20: num 1, IKE, SPI size 0, 1 transform: ENCR_AES_GCM_16, KEY_LENGTH 256.
const SA1 = '00 00 0014 01 01 00 01   00 00 000c 01 00 0014 800e 0100';

t.test('SA: a minimal valid proposal decodes', async (t) => {
  const v = dec(sa, fromHex(SA1));
  t.equal(v.proposals.length, 1);
  t.equal(sa.keyLength(v.proposals[0]!.transforms[0]!), 256);
  const w = new Writer();
  sa.encode(w, { proposals: [{ num: 1, protocol: 1, spi: new Uint8Array(0), transforms: [sa.transform(TRANSFORM.ENCR, 20, 256)] }] });
  t.equal(hex(w.finish()), hex(fromHex(SA1)), 'transform() builds the same bytes');
});

t.test('SA: every disagreement is a MalformedError', async (t) => {
  malformed(t, () => dec(sa, new Uint8Array(0)), /proposal header/);
  malformed(t, () => dec(sa, patched(SA1, 4, 0)), /proposal number/);
  for (const size of [1, 2, 3, 5, 16]) malformed(t, () => dec(sa, patched(SA1, 6, size)), /SPI size/);
  malformed(t, () => dec(sa, patched(SA1, 0, 1)), /proposal last\/more/);
  malformed(t, () => dec(sa, patched(SA1, 0, 2)), /proposal header/); // "more" but nothing follows
  malformed(t, () => dec(sa, fromHex(SA1 + '00')), /after the last proposal/);
  malformed(t, () => dec(sa, patched(SA1, 2, 0, 7)), /proposal length/); // below 8
  malformed(t, () => dec(sa, patched(SA1, 2, 0, 0x15)), /proposal length/); // beyond the SA body
  malformed(t, () => dec(sa, patched(SA1, 7, 2)), /transform last\/more/); // count 2, 1 transform marked last
  malformed(t, () => dec(sa, patched(SA1, 7, 0)), /after the last transform/); // count 0, 1 transform present
  malformed(t, () => dec(sa, patched(SA1, 8, 3)), /transform last\/more/); // marked "more", count says last
  malformed(t, () => dec(sa, patched(SA1, 10, 0, 7)), /transform length/);
  malformed(t, () => dec(sa, patched(SA1, 10, 0, 0x0d)), /transform length/);
  malformed(t, () => dec(sa, patched(SA1, 16, 0x00)), /KEY_LENGTH attribute format/); // KEY_LENGTH as TLV
  malformed(t, () => dec(sa, patched(SA1, 16, 0x00, 0x21, 0x00, 0x09)), /attribute value/); // TLV runs out
});

t.test('SA: an 8-byte SPI (IKE rekey) and a 4-byte SPI (ESP) are fine', async (t) => {
  const p = (spi: string) => `00 00 ${(8 + spi.length / 2).toString(16).padStart(4, '0')} 01 01 ${(spi.length / 2).toString(16).padStart(2, '0')} 00 ${spi}`;
  t.equal(hex(dec(sa, fromHex(p('0102030405060708'))).proposals[0]!.spi), '0102030405060708');
  t.equal(hex(dec(sa, fromHex(p('01020304'))).proposals[0]!.spi), '01020304');
});

t.test('Nonce: 16..256 bytes (RFC 7296 §3.9)', async (t) => {
  malformed(t, () => dec(nonce, new Uint8Array(15)), /min 16/);
  malformed(t, () => dec(nonce, new Uint8Array(0)), /min 16/);
  t.equal(dec(nonce, new Uint8Array(16)).data.length, 16);
  t.equal(dec(nonce, new Uint8Array(256)).data.length, 256);
  malformed(t, () => dec(nonce, new Uint8Array(257)), /max 256/);
});

t.test('Delete: count x size must equal the SPI bytes', async (t) => {
  malformed(t, () => dec(del, fromHex('03 04 0003 c0ffee01 c0ffee02')), /count x size/);
  malformed(t, () => dec(del, fromHex('03 04 0001 c0ffee01 c0ffee02')), /count x size/);
  malformed(t, () => dec(del, fromHex('03 04 ffff c0ffee01')), /count x size/);
  malformed(t, () => dec(del, fromHex('01 00 0001')), /SPI size 0/);
  malformed(t, () => dec(del, fromHex('03 04 00')), /delete SPI count/);
  t.same(dec(del, fromHex('03 04 0000')).spis, []);
});

t.test('TS: only types 7 and 8, lengths matching the type, count matching the body', async (t) => {
  const v4 = '07 00 0010 0000 ffff c0000200 c00002ff';
  t.equal(dec(ts, fromHex('01 000000' + v4)).selectors.length, 1);
  malformed(t, () => dec(ts, fromHex('01 000000' + v4.replace(/^07/, '09'))), /TS type/);
  malformed(t, () => dec(ts, fromHex('01 000000' + v4.replace(/^07/, '08'))), /TS selector length/);
  malformed(t, () => dec(ts, fromHex('01 000000' + v4.replace('0010', '0028'))), /TS selector length/);
  malformed(t, () => dec(ts, fromHex('02 000000' + v4)), /TS type/);
  malformed(t, () => dec(ts, fromHex('01 000000' + v4 + '07')), /after the last selector/);
  malformed(t, () => dec(ts, fromHex('01 000000' + v4.slice(0, -2))), /TS selector/);
});

t.test('Notify: the SPI must fit in the body', async (t) => {
  malformed(t, () => dec(notify, fromHex('03 08 4009 01020304')), /notify SPI/);
  t.same(dec(notify, fromHex('00 00 4000')), { protocol: 0, notify: NOTIFY.INITIAL_CONTACT, spi: new Uint8Array(0), data: new Uint8Array(0) });
  t.ok(notify.isError(NOTIFY.AUTHENTICATION_FAILED));
  t.notOk(notify.isError(NOTIFY.COOKIE));
});

t.test('fixed parts of KE, ID, AUTH, CERT must be present', async (t) => {
  for (const type of [PAYLOAD.KE, PAYLOAD.IDi, PAYLOAD.IDr, PAYLOAD.AUTH, PAYLOAD.N, PAYLOAD.D, PAYLOAD.TSi]) {
    malformed(t, () => decodePayload({ type, critical: false, body: new Uint8Array(3) }));
  }
  malformed(t, () => decodePayload({ type: PAYLOAD.CERT, critical: false, body: new Uint8Array(0) }));
  t.same(decodePayload({ type: PAYLOAD.V, critical: false, body: new Uint8Array(0) }), { type: 'V', data: new Uint8Array(0) });
});

t.test('unknown payload types are kept whole, with their critical bit', async (t) => {
  const body = fromHex('0102');
  t.same(decodePayload({ type: PAYLOAD.CP, critical: true, body }), { type: 'unknown', code: 47, critical: true, body });
  t.same(decodePayload({ type: 200, critical: false, body }), { type: 'unknown', code: 200, critical: false, body });
});

t.test('header: a foreign major version is a typed result, not an exception', async (t) => {
  const h = '0102030405060708 0000000000000000 21 20 22 08 00000000 0000001c';
  for (const [v, major] of [
    [0x10, 1],
    [0x30, 3],
    [0xf2, 15],
  ] as const) {
    const r = header.decodeChecked(new Reader(patched(h, 17, v)));
    t.same(r.ok ? undefined : [r.notify, r.header.major, r.header.spiI, r.header.exchange], [NOTIFY.INVALID_MAJOR_VERSION, major, 0x0102030405060708n, 34]);
  }
  const ok = header.decodeChecked(new Reader(patched(h, 17, 0x21)));
  t.same(ok.ok && [ok.header.major, ok.header.minor], [2, 1], 'a higher minor version is fine');
  t.ok(header.isInitiator({ flags: FLAG.I }));
  t.notOk(header.isResponse({ flags: FLAG.I | FLAG.V }));
  t.ok(header.isResponse({ flags: FLAG.R }));
  malformed(t, () => header.decode(new Reader(new Uint8Array(27))), /IKE header/);
});
