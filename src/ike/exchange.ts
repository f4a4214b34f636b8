import { IKE_TIMERS } from '../limits.js';
import type { RetransmitTiming } from './peer.js';
import type { Clock, Timer } from '../util/clock.js';
import { equalCT } from '../wire/bytes.js';
import { KeylineError } from '../wire/errors.js';

/**
 * The message-ID and retransmission rules of one IKE SA (RFC 7296 §2.1–2.2), window size 1, in
 * both directions. It knows nothing of payloads: it sees message IDs and bytes.
 *
 * Our requests: one outstanding at a time, sent with the next message ID (never reused within
 * the SA); retransmitted only when the timer fires (never because something else arrived), with
 * doubling back-off and a bounded number of tries, after which `onGiveUp` tears the SA down.
 *
 * Their requests: the next expected ID is processed once; its response is cached, and a
 * retransmitted request (the previous ID) gets the cached response again without being
 * processed twice. "A retransmission from the initiator MUST be bitwise identical to the
 * original request" (§2.1), so a message with the previous ID and other bytes is not one: it is
 * dropped ('drop-mismatch'), or anyone who knows the SPIs could make us send the cached answer to
 * the peer again and again, larger than what they sent. Anything older or newer is dropped and
 * counted.
 */
export type Verdict = 'process' | 'resent' | 'drop-old' | 'drop-future' | 'drop-unexpected' | 'drop-mismatch';

export interface ExchangeHooks {
  /** Put bytes on the wire towards the peer. */
  send(bytes: Uint8Array): void;
  /** Our request went unanswered after the last retransmission. */
  onGiveUp(messageId: number): void;
  /** Read at every transmission: a responder's connection is only settled by IKE_AUTH. */
  timing?(): RetransmitTiming;
}

export const DEFAULT_RETRANSMIT: RetransmitTiming = { firstMs: IKE_TIMERS.retransmitBaseMs, tries: IKE_TIMERS.retransmitTries };

/** The wait after transmission number `sent` (0 = the original) of a request. */
export const retransmitWait = (t: RetransmitTiming, sent: number): number => Math.min(t.firstMs * 2 ** sent, IKE_TIMERS.retransmitMaxIntervalMs);

interface Outstanding {
  readonly id: number;
  readonly bytes: Uint8Array;
  tries: number;
  timer: Timer | undefined;
}

/** Highest message ID; an SA that gets there must be rekeyed or closed (RFC 7296 §2.2). */
export const MAX_MESSAGE_ID = 0xffff_ffff;

export class ExchangeWindow {
  private nextId: number;
  private outstanding: Outstanding | undefined;
  /** Requests built while the window was busy, sent in order as it frees up. */
  private readonly queue: ((id: number) => Uint8Array)[] = [];
  private expectedId: number;
  private cached: { id: number; bytes: Uint8Array; request: Uint8Array | undefined } | undefined;
  /** The request last told 'process' (a copy), kept with its response as the cache's key. */
  private processingRequest: Uint8Array | undefined;
  readonly counters = { sent: 0, retransmits: 0, resent: 0, dropped: 0 };

  constructor(
    private readonly clock: Clock,
    private readonly hooks: ExchangeHooks,
    /** 0 for a new SA; 1 when IKE_SA_INIT was handled outside (it has no SA yet). */
    first = { ours: 0, theirs: 0 },
  ) {
    this.nextId = first.ours;
    this.expectedId = first.theirs;
  }

  get busy(): boolean {
    return this.outstanding !== undefined;
  }

  /** Message ID the next request of ours will carry. */
  get nextRequestId(): number {
    return this.nextId;
  }

  /** Message ID the peer's next request must carry. */
  get expectedRequestId(): number {
    return this.expectedId;
  }

  /**
   * Send a request built for its message ID, now or when the window frees up. The builder is
   * called with the ID because the ID is inside the authenticated header.
   */
  request(build: (id: number) => Uint8Array): void {
    if (this.queue.length >= IKE_TIMERS.pendingRequestsMax) {
      throw new KeylineError('IKE_QUEUE_FULL', `more than ${IKE_TIMERS.pendingRequestsMax} requests waiting`);
    }
    // Each queued request takes the next ID in turn; refuse before queueing, not halfway.
    if (this.nextId + this.queue.length > MAX_MESSAGE_ID) {
      throw new KeylineError('IKE_MSGID_EXHAUSTED', 'message IDs exhausted: rekey the IKE SA');
    }
    this.queue.push(build);
    this.pump();
  }

  /** A response arrived with this message ID. True if it answers our outstanding request. */
  response(id: number): boolean {
    const o = this.outstanding;
    if (!o || o.id !== id) {
      this.counters.dropped++;
      return false;
    }
    o.timer?.cancel();
    this.outstanding = undefined;
    this.pump();
    return true;
  }

  /**
   * A request arrived with this message ID: process it, re-send the cached answer, or drop.
   * `bytes`, the whole message, lets only a bitwise retransmission have the cached answer.
   */
  requestIn(id: number, bytes?: Uint8Array): Verdict {
    if (id === this.expectedId) {
      this.processingRequest = bytes?.slice();
      return 'process';
    }
    if (this.cached && id === this.cached.id) {
      const req = this.cached.request;
      if (req && bytes && !equalCT(req, bytes)) {
        this.counters.dropped++;
        return 'drop-mismatch';
      }
      this.hooks.send(this.cached.bytes);
      this.counters.resent++;
      return 'resent';
    }
    this.counters.dropped++;
    return id < this.expectedId ? 'drop-old' : 'drop-future';
  }

  /** Our response to the request we were told to process; cached for retransmissions. */
  respond(id: number, bytes: Uint8Array): void {
    if (id !== this.expectedId) throw new KeylineError('IKE_RESPONSE_ID', `response for ${id}, expected ${this.expectedId}`);
    this.cached = { id, bytes, request: this.processingRequest };
    this.processingRequest = undefined;
    this.expectedId++;
    this.hooks.send(bytes);
  }

  /** Stop all timers (the SA is going away). */
  close(): void {
    this.outstanding?.timer?.cancel();
    this.outstanding = undefined;
    this.queue.length = 0;
  }

  private pump(): void {
    if (this.outstanding || this.queue.length === 0) return;
    const build = this.queue.shift()!;
    const id = this.nextId++;
    const o: Outstanding = { id, bytes: build(id), tries: 0, timer: undefined };
    this.outstanding = o;
    this.transmit(o);
  }

  private transmit(o: Outstanding): void {
    this.hooks.send(o.bytes);
    if (o.tries === 0) this.counters.sent++;
    else this.counters.retransmits++;
    const timing = this.hooks.timing?.() ?? DEFAULT_RETRANSMIT;
    const wait = retransmitWait(timing, o.tries);
    o.tries++;
    o.timer = this.clock.after(wait, `ike-retransmit-${o.id}`, () => {
      if (this.outstanding !== o) return;
      if (o.tries >= timing.tries + 1) {
        this.outstanding = undefined;
        this.hooks.onGiveUp(o.id);
        return;
      }
      this.transmit(o);
    });
  }
}
