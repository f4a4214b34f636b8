import type { Aead } from '../crypto/types.js';
import { readU32, writeU32 } from '../wire/bytes.js';
import { IPPROTO } from '../wire/iana.js';
import { LIMITS } from '../limits.js';
import type { ReplayWindow } from './replay.js';

/**
 * ESP packet codec (RFC 4303 §2):
 *
 *    0                   1                   2                   3
 *    0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |               Security Parameters Index (SPI)                 |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |                      Sequence Number                          |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |                    IV (8 bytes AEAD, 16 CBC)                  |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   ~      Payload Data, Padding (1,2,3..), Pad Length, Next Header ~  (encrypted)
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |                 Integrity Check Value (16 bytes)              |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * The sequence number state and replay window live with the SA; this module only moves bytes,
 * and `open` changes the window only after the ICV verified.
 */

export const ESP_HEADER_LEN = 8;

/** Why `openEsp` refused a packet (the driver counts further reasons of its own). */
export type DropReason = 'short' | 'replay' | 'auth' | 'padding';

/** Outbound sequence state: the last sequence number used (0 before the first packet). */
export interface SendState {
  readonly spi: number;
  readonly aead: Aead;
  readonly esn: boolean;
  seq: number;
}

export interface RecvState {
  readonly aead: Aead;
  readonly esn: boolean;
  readonly replay: ReplayWindow;
}

export type OpenResult =
  | { ok: true; nextHeader: number; payload: Uint8Array; seq: number }
  | { ok: false; reason: DropReason };

/** Build the AAD and, for CBC+HMAC with ESN, the ICV tail (RFC 4303 §2.2.1, RFC 4106 §5). */
function authData(aead: Aead, spi: number, seq: number, esn: boolean): [Uint8Array, Uint8Array | undefined] {
  const hi = Math.floor(seq / 0x1_0000_0000);
  const lo = seq % 0x1_0000_0000;
  if (aead.combined && esn) {
    const aad = new Uint8Array(12);
    writeU32(aad, 0, spi);
    writeU32(aad, 4, hi);
    writeU32(aad, 8, lo);
    return [aad, undefined];
  }
  const aad = new Uint8Array(8);
  writeU32(aad, 0, spi);
  writeU32(aad, 4, lo);
  if (!esn) return [aad, undefined];
  const tail = new Uint8Array(4);
  writeU32(tail, 0, hi);
  return [aad, tail];
}

/** Next sequence number, or undefined when the SA has used its space (it must never cycle). */
export function nextSeq(s: SendState): number | undefined {
  const hard = s.esn ? LIMITS.seqHardEsn : LIMITS.seqHardNoEsn;
  if (s.seq >= hard) return undefined;
  return ++s.seq;
}

/**
 * Seal `payload` (an inner IP packet in tunnel mode, an upper-layer segment in transport mode)
 * with the given next header. `cbcIv` supplies an unpredictable IV for CBC; combined modes use
 * the 64-bit sequence number as IV, which is unique per key as RFC 4106 §3.1 and RFC 7634 §2
 * require and costs no randomness. `iv` overrides that: inline keying's static carrier, whose
 * sequence field carries time, uses random IVs (src/inline/README.md §7.2).
 */
export function sealEsp(
  s: SendState,
  nextHeader: number,
  payload: Uint8Array,
  cbcIv: (n: number) => Uint8Array,
  iv?: Uint8Array,
): Uint8Array | undefined {
  const seq = nextSeq(s);
  if (seq === undefined) return undefined;
  const { aead } = s;
  const plainLen = alignUp(payload.length + 2, aead.blockLen);
  const padLen = plainLen - payload.length - 2;
  const plain = new Uint8Array(plainLen);
  plain.set(payload, 0);
  for (let i = 1; i <= padLen; i++) plain[payload.length + i - 1] = i;
  plain[plainLen - 2] = padLen;
  plain[plainLen - 1] = nextHeader;

  if (iv) {
    // given by the caller
  } else if (aead.combined) {
    iv = new Uint8Array(8);
    writeU32(iv, 0, Math.floor(seq / 0x1_0000_0000));
    writeU32(iv, 4, seq % 0x1_0000_0000);
  } else {
    iv = cbcIv(aead.ivLen);
  }
  const [aad, tail] = authData(aead, s.spi, seq, s.esn);
  const sealed = aead.seal(aad, iv, plain, tail);
  const out = new Uint8Array(ESP_HEADER_LEN + iv.length + sealed.length);
  writeU32(out, 0, s.spi);
  writeU32(out, 4, seq % 0x1_0000_0000);
  out.set(iv, ESP_HEADER_LEN);
  out.set(sealed, ESP_HEADER_LEN + iv.length);
  return out;
}

/** SPI of an ESP packet, or undefined when it is too short to have one. */
export function espSpi(packet: Uint8Array): number | undefined {
  return packet.length >= ESP_HEADER_LEN ? readU32(packet, 0) : undefined;
}

/** Smallest well-formed ESP packet for an AEAD: header, IV, one aligned block of trailer, ICV. */
export function minEspLen(aead: Aead): number {
  return ESP_HEADER_LEN + aead.ivLen + alignUp(2, aead.blockLen) + aead.icvLen;
}

/**
 * Open an ESP packet: length checks → replay pre-check → verify and decrypt → pad check →
 * commit the replay bit. Dummy packets (next header 59) authenticate, commit and come back
 * with nextHeader 59 for the caller to discard.
 */
export function openEsp(r: RecvState, packet: Uint8Array): OpenResult {
  const { aead } = r;
  if (packet.length < minEspLen(aead)) return { ok: false, reason: 'short' };
  const ctLen = packet.length - ESP_HEADER_LEN - aead.ivLen - aead.icvLen;
  if (ctLen % aead.blockLen !== 0) return { ok: false, reason: 'short' };
  const spi = readU32(packet, 0);
  const seq = r.replay.infer(readU32(packet, 4), r.esn);
  if (!r.replay.check(seq)) return { ok: false, reason: 'replay' };

  const iv = packet.subarray(ESP_HEADER_LEN, ESP_HEADER_LEN + aead.ivLen);
  const sealed = packet.subarray(ESP_HEADER_LEN + aead.ivLen);
  const [aad, tail] = authData(aead, spi, seq, r.esn);
  const plain = aead.open(aad, iv, sealed, tail);
  if (!plain) return { ok: false, reason: 'auth' };
  r.replay.commit(seq);

  const padLen = plain[plain.length - 2]!;
  const nextHeader = plain[plain.length - 1]!;
  const dataLen = plain.length - 2 - padLen;
  if (dataLen < 0 || !padOk(plain, dataLen, padLen)) return { ok: false, reason: 'padding' };
  return { ok: true, nextHeader, payload: plain.subarray(0, dataLen), seq };
}

/** RFC 4303 §2.4: the default padding is 1, 2, 3, ...; anything else is a protocol error. */
function padOk(plain: Uint8Array, start: number, padLen: number): boolean {
  for (let i = 0; i < padLen; i++) if (plain[start + i] !== i + 1) return false;
  return true;
}

export const isDummy = (nextHeader: number): boolean => nextHeader === IPPROTO.NONE;

const alignUp = (n: number, a: number) => Math.ceil(n / a) * a;

/** Bytes ESP adds to a payload of `len` bytes (header, IV, padding, trailer, ICV). */
export function espOverhead(aead: Aead, len: number): number {
  return ESP_HEADER_LEN + aead.ivLen + alignUp(len + 2, aead.blockLen) - len + aead.icvLen;
}
