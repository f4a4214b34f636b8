import { createHash, randomBytes } from 'node:crypto';
import { IKE_LIMITS } from '../limits.js';
import type { Clock } from '../util/clock.js';
import { equalCT } from '../wire/bytes.js';

/**
 * Stateless cookies (RFC 7296 §2.6): when too many IKE SAs are half open, the responder answers
 * IKE_SA_INIT with a COOKIE notify instead of doing Diffie-Hellman or keeping any state, and only
 * a request that echoes a valid cookie goes on. The cookie is
 *   <secret version (1 byte)> | SHA-256(Ni | IPi | SPIi | secret)
 * so it proves the initiator receives at its claimed address, costs one hash to check, and
 * needs no memory per initiator. Secrets rotate; the previous one is still honoured so a cookie
 * made just before a rotation works.
 */
export class CookieJar {
  private current: { version: number; secret: Uint8Array; since: number };
  private previous: { version: number; secret: Uint8Array } | undefined;

  constructor(
    private readonly clock: Clock,
    private readonly random: (n: number) => Uint8Array = (n) => new Uint8Array(randomBytes(n)),
  ) {
    this.current = { version: 0, secret: this.random(32), since: clock.now() };
  }

  /** The cookie for an initiator, made with the current secret. */
  make(ni: Uint8Array, ip: string, spiI: bigint): Uint8Array {
    this.rotate();
    return cookie(this.current, ni, ip, spiI);
  }

  /** Whether a returned cookie is one we made (current or previous secret) for this initiator. */
  check(got: Uint8Array, ni: Uint8Array, ip: string, spiI: bigint): boolean {
    this.rotate();
    const v = got[0];
    const s = v === this.current.version ? this.current : v === this.previous?.version ? this.previous : undefined;
    return s !== undefined && equalCT(got, cookie(s, ni, ip, spiI));
  }

  private rotate(): void {
    if (this.clock.now() - this.current.since < IKE_LIMITS.cookieSecretMs) return;
    this.previous = this.current;
    this.current = { version: (this.current.version + 1) & 0xff, secret: this.random(32), since: this.clock.now() };
  }
}

function cookie(s: { version: number; secret: Uint8Array }, ni: Uint8Array, ip: string, spiI: bigint): Uint8Array {
  const spi = Buffer.alloc(8);
  spi.writeBigUInt64BE(spiI);
  const h = createHash('sha256').update(ni).update(ip).update(spi).update(s.secret).digest();
  const out = new Uint8Array(1 + h.length);
  out[0] = s.version;
  out.set(h, 1);
  return out;
}

/**
 * When to demand cookies: once the half-open count reaches the threshold. The count is the
 * caller's (the IKE SA table), so nothing here grows.
 */
export const cookiesRequired = (halfOpen: number, threshold: number = IKE_LIMITS.cookieThreshold): boolean => halfOpen >= threshold;
