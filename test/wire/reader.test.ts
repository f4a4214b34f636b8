import t from 'tap';
import { Reader } from '../../src/wire/reader.js';
import { Writer } from '../../src/wire/writer.js';
import { MalformedError } from '../../src/wire/errors.js';
import { name, ENCR, IPPROTO } from '../../src/wire/iana.js';

t.test('writer and reader round-trip every width', async (t) => {
  const w = new Writer(2);
  w.u8(0xab).u16(0xbeef).u32(0xdeadbeef).u64(0x0102030405060708n).bytes(new Uint8Array([9, 8])).zeros(3);
  const at = w.length;
  w.u16(0);
  w.patchU16(at, 0x1234);
  const r = new Reader(w.finish());
  t.equal(r.u8(), 0xab);
  t.equal(r.u16(), 0xbeef);
  t.equal(r.u32(), 0xdeadbeef);
  t.equal(r.u64(), 0x0102030405060708n);
  t.same([...r.bytes(2)], [9, 8]);
  t.same([...r.bytes(3)], [0, 0, 0]);
  t.equal(r.u16(), 0x1234);
  t.equal(r.left, 0);
});

t.test('every read past the end throws MalformedError with need/have', async (t) => {
  const r = new Reader(new Uint8Array([1, 2, 3]));
  r.u8();
  const e = t.throws(() => r.u32('payload length')) as unknown as MalformedError;
  t.type(e, MalformedError);
  t.equal(e.what, 'payload length');
  t.equal(e.need, 4);
  t.equal(e.have, 2);
  t.equal(r.offset, 1, 'a failed read does not move the cursor');
  t.throws(() => r.bytes(-1), MalformedError);
  t.throws(() => new Reader(new Uint8Array(2), 1, 3), MalformedError);
});

t.test('sub() confines a decoder to its payload', async (t) => {
  const r = new Reader(new Uint8Array([1, 2, 3, 4, 5]));
  const body = r.sub(2);
  t.equal(body.u16(), 0x0102);
  t.throws(() => body.u8(), MalformedError, 'cannot read into the neighbour');
  t.equal(r.u8(), 3);
  t.equal(r.rest().length, 2);
});

t.test('registries print names for logs', async (t) => {
  t.equal(name(ENCR, 20), 'ENCR_AES_GCM_16');
  t.equal(name(IPPROTO, 59), 'NONE');
  t.equal(name(ENCR, 99), 'UNKNOWN(99)');
});
