import t from 'tap';
import { createHmac } from 'node:crypto';
import { nobleBackend, nodeBackend } from '../../src/crypto/index.js';
import type { Hash } from '../../src/crypto/types.js';
import { newKeyExchange } from '../../src/crypto/dh/index.js';
import { deriveIkeKeys } from '../../src/crypto/ike-keys.js';
import { pskAuth, verifyPskAuth } from '../../src/crypto/psk-auth.js';
import { hex } from '../../src/wire/bytes.js';
import { errorCode, flip, rnd } from './helpers.js';

const BACKENDS = [nodeBackend, nobleBackend];
const HASHES: readonly Hash[] = ['sha256', 'sha384', 'sha512'];

/** RFC 7296 §2.15 written out on node's createHmac: prf(prf(PSK, "Key Pad for IKEv2"), msg | nonce | prf(SK_p, ID)). */
function reference(h: Hash, psk: Uint8Array, msg: Uint8Array, nonce: Uint8Array, skP: Uint8Array, id: Uint8Array): string {
  const macedId = createHmac(h, skP).update(id).digest();
  const key = createHmac(h, psk).update('Key Pad for IKEv2', 'latin1').digest();
  return createHmac(h, key).update(msg).update(nonce).update(macedId).digest('hex');
}

/** An IDi body: ID_FQDN (2), three reserved zero octets, the name. */
const idBody = (name: string): Uint8Array => new Uint8Array([2, 0, 0, 0, ...new TextEncoder().encode(name)]);

t.test('AUTH matches an independent RFC 7296 §2.15 implementation', async (t) => {
  for (const be of BACKENDS) {
    for (const h of HASHES) {
      for (const pskLen of [1, 16, 32, 64, 200]) {
        const [psk, msg, nonce, skP, id] = [rnd(pskLen), rnd(300), rnd(32), rnd(64), idBody('gw.example.net')];
        t.equal(hex(pskAuth(be.prf(h), psk, msg, nonce, skP, id)), reference(h, psk, msg, nonce, skP, id), `${be.name} ${h} PSK of ${pskLen} bytes`);
      }
    }
  }
});

t.test('verifyPskAuth accepts the right value and rejects every one-bit change', async (t) => {
  for (const be of BACKENDS) {
    const prf = be.prf('sha256');
    const [psk, msg, nonce, skP, id] = [rnd(32), rnd(120), rnd(32), rnd(32), idBody('a')];
    const auth = pskAuth(prf, psk, msg, nonce, skP, id);
    t.ok(verifyPskAuth(prf, psk, msg, nonce, skP, id, auth), `${be.name}: accepts`);
    let accepted = 0;
    for (let bit = 0; bit < auth.length * 8; bit++) if (verifyPskAuth(prf, psk, msg, nonce, skP, id, flip(auth, bit))) accepted++;
    t.equal(accepted, 0, `${be.name}: all ${auth.length * 8} single-bit flips of AUTH rejected`);
    // One bit of any input changes AUTH too: the PSK, the message, the nonce, SK_p, the ID.
    const inputs = { psk, msg, nonce, skP, id };
    for (const [name, value] of Object.entries(inputs)) {
      const changed = { ...inputs, [name]: flip(value, 8 * value.length - 1) };
      t.notOk(verifyPskAuth(prf, changed.psk, changed.msg, changed.nonce, changed.skP, changed.id, auth), `${be.name}: one bit of ${name}`);
    }
    t.notOk(verifyPskAuth(prf, psk, msg, nonce, skP, id, auth.subarray(0, 31)), `${be.name}: truncated`);
    t.notOk(verifyPskAuth(prf, psk, msg, nonce, skP, id, new Uint8Array([...auth, 0])), `${be.name}: extended`);
    t.notOk(verifyPskAuth(prf, psk, msg, nonce, skP, id, new Uint8Array(0)), `${be.name}: empty`);
  }
});

t.test('an empty PSK is refused', async (t) => {
  t.equal(errorCode(() => pskAuth(nodeBackend.prf('sha256'), new Uint8Array(0), rnd(8), rnd(8), rnd(32), idBody('x'))), 'BAD_KEY');
});

t.test('end to end: two peers on different backends agree on keys and verify each other', async (t) => {
  for (const group of [31, 14]) {
    const prfI = nodeBackend.prf('sha384');
    const prfR = nobleBackend.prf('sha384');
    const [ni, nr, spii, spir, psk] = [rnd(32), rnd(32), rnd(8), rnd(8), rnd(32)];
    const [msg1, msg2] = [rnd(400), rnd(380)]; // stand-ins for the IKE_SA_INIT request and response
    const kxI = newKeyExchange(group, 'node');
    const kxR = newKeyExchange(group, 'noble');
    const keysI = deriveIkeKeys(prfI, 'aes256gcm16', ni, nr, kxI.computeShared(kxR.publicKey), spii, spir);
    const keysR = deriveIkeKeys(prfR, 'aes256gcm16', ni, nr, kxR.computeShared(kxI.publicKey), spii, spir);
    t.equal(hex(keysI.skD), hex(keysR.skD), `group ${group}: same SK_d`);
    const [idI, idR] = [idBody('initiator'), idBody('responder')];
    // Initiator's AUTH: its request, Nr, SK_pi, IDi. Responder's: its response, Ni, SK_pr, IDr.
    const authI = pskAuth(prfI, psk, msg1, nr, keysI.skPi, idI);
    const authR = pskAuth(prfR, psk, msg2, ni, keysR.skPr, idR);
    t.ok(verifyPskAuth(prfR, psk, msg1, nr, keysR.skPi, idI, authI), `group ${group}: responder verifies the initiator`);
    t.ok(verifyPskAuth(prfI, psk, msg2, ni, keysI.skPr, idR, authR), `group ${group}: initiator verifies the responder`);
    t.notOk(verifyPskAuth(prfI, psk, msg2, ni, keysI.skPi, idR, authR), `group ${group}: SK_pi instead of SK_pr fails`);
    t.notOk(verifyPskAuth(prfR, rnd(32), msg1, nr, keysR.skPi, idI, authI), `group ${group}: another PSK fails`);
  }
});
