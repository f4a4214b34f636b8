import type { Aead } from '../crypto/types.js';
import { minEspLen, openEsp, sealEsp } from '../esp/esp.js';
import { hex, readU32 } from '../wire/bytes.js';
import { INLINE_NEXT_HEADER } from './header.js';
import { dayOf, staticSecret, type Parent, type Secret } from './parent.js';
import type { InlineHost } from './engine.js';

/**
 * The carrier of a static parent (README.md §7.2): one ESP SA both ways, keyed per day, whose
 * sequence field carries the sender's time and whose IVs are random. Replays are caught by the
 * time window, the start-up rule and a cache of the IVs seen.
 */
export class StaticCarrier {
  constructor(
    private readonly host: InlineHost,
    private readonly wall: () => number,
    private readonly random: (n: number) => Uint8Array,
  ) {}

  nowSec(): number {
    return this.wall();
  }

  today(p: Parent): Secret {
    return staticSecret(p, this.host.backend, dayOf(this.wall()));
  }

  aeadOf(p: Parent): Aead {
    return this.today(p).carrier!.aead;
  }

  /** Seal an inline header (and what rides with it) for the peer. */
  send(p: Parent, payload: Uint8Array): void {
    const t = this.wall();
    const { aead } = staticSecret(p, this.host.backend, dayOf(t)).carrier!;
    const esp = sealEsp({ spi: p.carrierSpi!, aead, esn: false, seq: t - 1 }, INLINE_NEXT_HEADER, payload, this.random, this.random(aead.ivLen));
    if (!esp || !this.host.sendRaw(esp, p.remote!)) this.host.drop('inline-send');
  }

  /** Open a carrier packet: the inline payload, or undefined with the drop counted. */
  open(p: Parent, data: Uint8Array): Uint8Array | undefined {
    const st = p.spec.static!;
    const aeadToday = this.aeadOf(p);
    if (data.length < minEspLen(aeadToday)) return this.fail('short');
    const t = readU32(data, 4);
    const now = this.wall();
    if (Math.abs(t - now) > st.skew || t < p.startSec! - st.skew) return this.fail('inline-stale');
    const iv = hex(data.subarray(8, 8 + aeadToday.ivLen));
    if (p.ivs!.has(iv, now)) return this.fail('inline-replay');
    const r = openEsp(staticSecret(p, this.host.backend, dayOf(t)).carrier!.recv, data);
    if (!r.ok) return this.fail(r.reason === 'auth' ? 'inline-auth' : r.reason);
    if (p.ivs!.add(iv, t + st.skew, now) === 'full') return this.fail('inline-replay-full');
    if (r.nextHeader !== INLINE_NEXT_HEADER) return this.fail('inline-carrier-data');
    return r.payload;
  }

  private fail(reason: string): undefined {
    this.host.drop(reason);
    return undefined;
  }
}
