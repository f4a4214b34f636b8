import t from 'tap';
import { createHash } from 'node:crypto';
import { natHash, detectNat } from '../../src/ike/natd.js';

t.test('NAT detection hash is SHA-1(SPIi | SPIr | IP | port), RFC 7296 §2.23', async (t) => {
  // Independent computation from the RFC text.
  const expect = createHash('sha1')
    .update(Buffer.from('0102030405060708' + '0000000000000000' + 'c0000201' + '01f4', 'hex'))
    .digest('hex');
  t.equal(Buffer.from(natHash(0x0102030405060708n, 0n, { addr: '192.0.2.1', port: 500 })).toString('hex'), expect);
  const v6 = createHash('sha1')
    .update(Buffer.from('0102030405060708' + '1112131415161718' + '20010db8000000000000000000000001' + '1194', 'hex'))
    .digest('hex');
  t.equal(Buffer.from(natHash(0x0102030405060708n, 0x1112131415161718n, { addr: '2001:db8::1', port: 4500 })).toString('hex'), v6);
});

t.test('detectNat tells which side is behind a NAT', async (t) => {
  const spiI = 1n;
  const peerClaims = { addr: '192.0.2.1', port: 500 };
  const weAre = { addr: '192.0.2.2', port: 500 };
  const src = [natHash(spiI, 0n, peerClaims)];
  const dst = natHash(spiI, 0n, weAre);
  t.same(detectNat(spiI, 0n, src, dst, peerClaims, weAre), { peerBehindNat: false, selfBehindNat: false });
  t.same(detectNat(spiI, 0n, src, dst, { addr: '203.0.113.9', port: 61000 }, weAre), { peerBehindNat: true, selfBehindNat: false });
  t.same(detectNat(spiI, 0n, src, dst, peerClaims, { addr: '198.51.100.1', port: 500 }), { peerBehindNat: false, selfBehindNat: true });
  t.same(detectNat(spiI, 0n, [], undefined, peerClaims, weAre), { peerBehindNat: false, selfBehindNat: false }, 'a peer without NAT-T support');
});
