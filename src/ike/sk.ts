/**
 * The Encrypted payload, SK (RFC 7296 §3.14; RFC 5282 for AES-GCM, RFC 7634 for
 * ChaCha20-Poly1305 in IKEv2):
 *
 *                        1                   2                   3
 *    0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   | Next Payload  |C|  RESERVED   |         Payload Length        |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |                     Initialization Vector                     |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   ~              Inner payloads, Padding, Pad Length  (encrypted) ~
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   ~                    Integrity Checksum Data                    ~
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * Both protections cover the same bytes: everything from the IKE header up to the IV. For CBC +
 * HMAC the ICV is over the whole message through the ciphertext (§3.14); for AEADs that prefix is
 * the associated data (RFC 5282 §5.1). The Aead interface takes exactly that split (aad = the
 * prefix, iv, plain), so one code path serves both. The prefix holds the IKE header's Length and
 * SK's Payload Length, so both are computed, IV and ICV included, before sealing.
 */
import type { Aead, Backend, CipherSuite } from '../crypto/types.js';
import type { IkeSaKeys } from '../crypto/ike-keys.js';
import { KeylineError, MalformedError } from '../wire/errors.js';
import { IKE, PAYLOAD } from './constants.js';
import { decodePayloadChain, encodeChain, encodeMessage } from './message.js';
import type { DecodedMessage, HeaderFields, RawPayload } from './message.js';

/** One IKE SA's SK protection, per direction. */
export interface SkKeys {
  /** Seals what we send: SK_ei/SK_ai for the original initiator, SK_er/SK_ar for the responder. */
  readonly send: Aead;
  /** Opens what the peer sends. */
  readonly recv: Aead;
}

export type Role = 'initiator' | 'responder';

/**
 * The two Aeads of an IKE SA. The keys follow the original roles of the IKE SA (§2.14), not who
 * sends a given request: the original initiator always sends with SK_ei/SK_ai, even its responses.
 */
export function skKeys(keys: IkeSaKeys, suite: CipherSuite, backend: Backend, role: Role): SkKeys {
  const i = backend.aead(suite, keys.skEi, keys.skAi);
  const r = backend.aead(suite, keys.skEr, keys.skAr);
  return role === 'initiator' ? { send: i, recv: r } : { send: r, recv: i };
}

/** Supplies the IV for one message; called with the IV length the Aead wants. */
export type IvSource = (n: number) => Uint8Array;

const COUNTER_LEN = 8;
const COUNTER_MAX = (1n << 64n) - 1n;

/**
 * A combined-mode IV from a 64-bit counter (RFC 5282 §3.1, RFC 7634 §2: the IV must never repeat
 * under one key; a counter is the recommended way). The counter must count every message sealed
 * with the key, requests and responses alike: it cannot be the Message ID, because an endpoint
 * sends requests (its own Message IDs) and responses (the peer's) under the same SK_e.
 */
export function counterIv(counter: bigint): Uint8Array {
  if (counter < 0n || counter > COUNTER_MAX) throw new KeylineError('IV_EXHAUSTED', `IV counter ${counter} is outside 0..2^64-1`);
  const iv = new Uint8Array(COUNTER_LEN);
  new DataView(iv.buffer).setBigUint64(0, counter);
  return iv;
}

/**
 * The IV source for one SA direction: a counter from 0 for combined modes, fresh random bytes for
 * CBC (which needs an unpredictable IV, RFC 7296 §3.14). Keep one per send Aead, never share.
 */
export function ivSource(aead: Aead, random: (n: number) => Uint8Array): IvSource {
  if (!aead.combined) return (n) => random(n);
  let next = 0n;
  return (n) => {
    if (n !== COUNTER_LEN) throw new KeylineError('BAD_IV', `counter IVs are ${COUNTER_LEN} bytes; ${n} asked for`);
    return counterIv(next++);
  };
}

/** Pad Length so that inner || padding || Pad Length is a multiple of the cipher's block. */
function padFor(aead: Aead, innerLen: number): number {
  // AEADs need no alignment: RFC 5282 §3 allows zero padding, which is the least to send.
  if (aead.combined) return 0;
  return (aead.blockLen - ((innerLen + 1) % aead.blockLen)) % aead.blockLen;
}

/**
 * Build a whole IKE message: `before` (rarely anything; unencrypted payloads precede SK), then SK
 * carrying `inner`. Padding is zeros (§3.14: any content). The IV comes from `iv` (see ivSource).
 */
export function sealMessage(header: HeaderFields, inner: readonly RawPayload[], aead: Aead, iv: IvSource, before: readonly RawPayload[] = []): Uint8Array {
  const chain = encodeChain(inner);
  const padLen = padFor(aead, chain.bytes.length);
  const plain = new Uint8Array(chain.bytes.length + padLen + 1);
  plain.set(chain.bytes, 0);
  plain[plain.length - 1] = padLen;
  const ivBytes = iv(aead.ivLen);
  if (ivBytes.length !== aead.ivLen) throw new KeylineError('BAD_IV', `${aead.suite} needs a ${aead.ivLen}-byte IV; got ${ivBytes.length}`);
  // Encode with a placeholder body of the final size, so every length field is already right.
  const bodyLen = aead.ivLen + plain.length + aead.icvLen;
  const sk: RawPayload = { type: PAYLOAD.SK, critical: false, body: new Uint8Array(bodyLen), innerFirst: chain.first };
  const msg = encodeMessage(header, [...before, sk]);
  const ivAt = msg.length - bodyLen;
  const sealed = aead.seal(msg.subarray(0, ivAt), ivBytes, plain);
  plain.fill(0);
  msg.set(ivBytes, ivAt);
  msg.set(sealed, ivAt + aead.ivLen);
  return msg;
}

/**
 * 'auth': did not authenticate (or cannot have: no SK, too short). Drop and count; never answer.
 * 'malformed': authenticated, but the padding or the inner chain is broken. The peer holds the
 * keys, so this is answered with INVALID_SYNTAX (RFC 7296 §2.21.2).
 */
export type OpenResult = { ok: true; inner: RawPayload[] } | { ok: false; reason: 'auth' } | { ok: false; reason: 'malformed'; why: string };

export type DecodedOk = Extract<DecodedMessage, { ok: true }>;

/**
 * Verify and decrypt the SK payload of `msg`, which decodeMessage made from `buf`. The SK body is
 * the tail of the datagram (decodeMessage checked SK is last and the header length is exact), so
 * the protected prefix is buf[0 .. end - body). Never throws on peer input. SKF (RFC 7383
 * fragments) is not opened here: keyline does not announce IKEV2_FRAGMENTATION_SUPPORTED, so a
 * message ending in SKF reads as 'auth' and is dropped.
 */
export function openMessage(buf: Uint8Array, msg: DecodedOk, aead: Aead): OpenResult {
  const sk = msg.payloads.at(-1);
  if (sk?.type !== PAYLOAD.SK) return { ok: false, reason: 'auth' };
  const bodyAt = buf.length - sk.body.length;
  if (bodyAt < IKE.headerLen + IKE.genericLen || sk.body.length < aead.ivLen + aead.icvLen) return { ok: false, reason: 'auth' };
  const iv = buf.subarray(bodyAt, bodyAt + aead.ivLen);
  const plain = aead.open(buf.subarray(0, bodyAt), iv, buf.subarray(bodyAt + aead.ivLen));
  if (plain === null) return { ok: false, reason: 'auth' };
  // From here on the sender holds our keys: failures are 'malformed', not 'auth'.
  if (plain.length === 0) return { ok: false, reason: 'malformed', why: 'no Pad Length' };
  const padLen = plain[plain.length - 1]!;
  if (padLen + 1 > plain.length) return { ok: false, reason: 'malformed', why: `Pad Length ${padLen} in ${plain.length} bytes` };
  try {
    return { ok: true, inner: decodePayloadChain(sk.innerFirst ?? PAYLOAD.NONE, plain.subarray(0, plain.length - 1 - padLen)) };
  } catch (e) {
    if (e instanceof MalformedError) return { ok: false, reason: 'malformed', why: e.message };
    throw e;
  }
}

