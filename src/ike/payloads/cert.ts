/**
 * Certificate and Certificate Request payload bodies (RFC 7296 §3.6, §3.7). keyline does not
 * interpret them yet: the encoding byte is split off and the rest kept opaque, so they are
 * counted by the rules table and survive a round trip.
 *
 *   CERT:                                      CERTREQ:
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   | Next Payload  |C|  RESERVED   | Len |    | Next Payload  |C|  RESERVED   | Len |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   | Cert Encoding |                     |    | Cert Encoding |                     |
 *   +-+-+-+-+-+-+-+-+                     |    +-+-+-+-+-+-+-+-+                     |
 *   ~       Certificate Data              ~    ~    Certification Authority          ~
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 */
import type { Reader } from '../../wire/reader.js';
import type { Writer } from '../../wire/writer.js';

export interface Cert {
  encoding: number;
  data: Uint8Array;
}

export function decode(r: Reader): Cert {
  const encoding = r.u8('certificate encoding');
  return { encoding, data: r.rest() };
}

export function encode(w: Writer, c: Cert): void {
  w.u8(c.encoding).bytes(c.data);
}
