/**
 * UDP encapsulation on port 4500 (RFC 3948 §2): one socket carries IKE, ESP and NAT keepalives.
 * - a single 0xFF byte is a NAT keepalive (§2.3);
 * - four zero bytes (the non-ESP marker, where an SPI of 0 can never be) precede IKE (§2.2);
 * - anything else starts with a non-zero SPI and is ESP.
 */
export type Datagram = 'keepalive' | 'ike' | 'esp' | 'runt';

export const NON_ESP_MARKER = new Uint8Array(4);
export const NAT_KEEPALIVE = new Uint8Array([0xff]);

export function classify(d: Uint8Array): Datagram {
  if (d.length === 1 && d[0] === 0xff) return 'keepalive';
  if (d.length < 8) return 'runt';
  if (d[0] === 0 && d[1] === 0 && d[2] === 0 && d[3] === 0) return 'ike';
  return 'esp';
}
