import { isIPv6 } from 'node:net';
import type { Endpoint, Prefix } from '../sa/types.js';
import { IKE_PORT, NAT_T_PORT } from '../ike/constants.js';
import { addrBytes, addrText } from '../sa/selector.js';
import { ValueError } from './errors.js';
import type { ValueType } from './values.js';
import type { Identity, IdType } from './types.js';
import { ID_TYPES } from './types.js';

/** Addresses, endpoints, prefixes and identities. Host names are never resolved: routers boot without DNS. */

/**
 * Endpoints without a port get 4500, the port of ESP-in-UDP (RFC 3948) where IKE follows a
 * non-ESP marker; keyline starts IKE there too (RFC 7296 §2.23). Port 500 is plain IKE, never ESP.
 */
export const DEFAULT_PORT = NAT_T_PORT;
export { IKE_PORT };
const OCTET = '(25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)';
/** Dotted quad without leading zeros (010 would be octal to inet_aton, decimal to others). */
const V4 = new RegExp(`^${OCTET}(\\.${OCTET}){3}$`);

/** Canonical text of an IPv4 or IPv6 address (RFC 5952 for v6), or undefined. Zone ids are refused. */
export function canonicalAddress(text: string): string | undefined {
  if (V4.test(text)) return text;
  if (isIPv6(text) && !text.includes('%')) return addrText(addrBytes(text));
  return undefined;
}

function address(text: string): string {
  const a = canonicalAddress(text);
  if (a === undefined) throw new ValueError('expected an IPv4 or IPv6 address (host names are not resolved)');
  return a;
}

/** An IP address, canonicalized. */
export const ipAddress: ValueType<string> = { parse: address, format: (v) => v };

function port(text: string): number {
  if (!/^[1-9]\d{0,4}$/.test(text) || Number(text) > 65535) throw new ValueError('expected a UDP port 1..65535 after the address');
  return Number(text);
}

/** `192.0.2.2:4500`, `[2001:db8::1]:4500`; without a port, 4500. IPv6 needs brackets, else `::1:4500` is ambiguous. */
export const endpoint: ValueType<Endpoint> = {
  parse: (text) => {
    const v6 = /^\[([^\]]*)\](?::(.*))?$/.exec(text);
    if (v6) {
      const addr = canonicalAddress(v6[1]!);
      if (addr === undefined || !addr.includes(':')) throw new ValueError('expected an IPv6 address inside [ ]');
      return { addr, port: v6[2] === undefined ? DEFAULT_PORT : port(v6[2]) };
    }
    if (canonicalAddress(text)?.includes(':')) throw new ValueError(`put IPv6 addresses in brackets: [${text}]:${DEFAULT_PORT}`);
    const colon = text.indexOf(':');
    const host = colon < 0 ? text : text.slice(0, colon);
    if (!V4.test(host)) throw new ValueError('expected ADDRESS[:PORT] with an IPv4 address or [IPv6] (host names are not resolved)');
    return { addr: host, port: colon < 0 ? DEFAULT_PORT : port(text.slice(colon + 1)) };
  },
  format: (e) => (e.addr.includes(':') ? `[${e.addr}]:${e.port}` : `${e.addr}:${e.port}`),
};

/** The type, or the word 'any' (a responder that accepts the peer from wherever it comes). */
export function orAny<T>(t: ValueType<T>): ValueType<T | 'any'> {
  return {
    parse: (text, ctx) => (text === 'any' ? 'any' : t.parse(text, ctx)),
    format: (v) => (v === 'any' ? 'any' : t.format(v)),
  };
}

function parsePrefix(text: string): Prefix {
  const slash = text.indexOf('/');
  const addrPart = slash < 0 ? text : text.slice(0, slash);
  const canon = canonicalAddress(addrPart);
  if (canon === undefined) throw new ValueError('expected ADDRESS/LENGTH with an IPv4 or IPv6 address');
  const addr = addrBytes(canon);
  const bits = addr.length * 8;
  if (slash < 0) return { addr, len: bits };
  const lenText = text.slice(slash + 1);
  const len = /^(0|[1-9]\d{0,2})$/.test(lenText) ? Number(lenText) : NaN;
  if (!(len <= bits)) throw new ValueError(`the prefix length must be 0..${bits} for IPv${bits === 32 ? 4 : 6}`);
  return { addr, len };
}

function masked(p: Prefix): Uint8Array {
  return p.addr.map((b, i) => b & (0xff << Math.max(0, 8 - Math.max(0, p.len - i * 8))));
}

const prefixText = (p: Prefix): string => `${addrText(p.addr)}/${p.len}`;

/** A network: host bits must be zero, since a selector with them set is nearly always a typo. */
export const network: ValueType<Prefix> = {
  parse: (text) => {
    const p = parsePrefix(text);
    const net = masked(p);
    if (net.some((b, i) => b !== p.addr[i])) {
      throw new ValueError(`host bits are set; the network is ${prefixText({ addr: net, len: p.len })}`);
    }
    return p;
  },
  format: prefixText,
};

/** An interface address with its prefix length: host bits are the point here. */
export const interfaceAddress: ValueType<Prefix> = { parse: parsePrefix, format: prefixText };

const LABEL = /^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;
const isFqdn = (s: string) => s.length <= 253 && s.split('.').every((l) => LABEL.test(l));

const ID_CHECKS: Readonly<Record<IdType, [(v: string) => boolean, string]>> = {
  fqdn: [isFqdn, 'a DNS name'],
  ipv4: [(v) => V4.test(v), 'an IPv4 address'],
  ipv6: [(v) => canonicalAddress(v)?.includes(':') === true, 'an IPv6 address'],
  keyid: [(v) => /^([0-9a-fA-F]{2}){1,64}$/.test(v), 'an even number of hex digits (1..64 bytes)'],
  'user-fqdn': [(v) => /^[^@\s]{1,64}@[^@\s]+$/.test(v) && isFqdn(v.slice(v.indexOf('@') + 1)), 'user@dns.name'],
};

/** An IKE identity `TYPE:VALUE`, e.g. fqdn:gw-a.example, ipv4:192.0.2.1, keyid:0a1b, user-fqdn:ops@example.net. */
export const identity: ValueType<Identity> = {
  parse: (text) => {
    const colon = text.indexOf(':');
    const type = text.slice(0, Math.max(colon, 0)) as IdType;
    if (colon < 0 || !ID_TYPES.includes(type)) {
      throw new ValueError(`expected TYPE:VALUE with TYPE one of ${ID_TYPES.join(', ')}`);
    }
    const value = text.slice(colon + 1);
    const [ok, what] = ID_CHECKS[type];
    if (!ok(value)) throw new ValueError(`expected ${what} after ${type}:`);
    return { type, value: type === 'keyid' ? value.toLowerCase() : value };
  },
  format: (id) => `${id.type}:${id.value}`,
};
