import type { Aead, Backend } from '../../crypto/types.js';
import type { SaCounters, SaSpec } from '../../sa/types.js';
import { ReplayWindow } from '../../esp/replay.js';
import type { RecvState, SendState } from '../../esp/esp.js';
import { newCounters, type LifeState } from '../common.js';

/**
 * One installed SA in the userspace engine: the spec it was given, its cipher (keyed once, at
 * install: per-packet key set-up is what costs in JS), sequence or replay state, counters.
 */
export interface UserSa extends LifeState {
  readonly spec: SaSpec;
  readonly counters: SaCounters;
  readonly send: SendState | undefined;
  readonly recv: RecvState | undefined;
  /** Outbound: where ESP goes; follows the peer when it roams (see datapath). */
  remote: { addr: string; port: number };
  lastSentAt: number;
  softFired: boolean;
}

export function makeUserSa(spec: SaSpec, backend: Backend, now: number): UserSa {
  const aead: Aead = backend.aead(spec.suite, spec.encKey, spec.integKey);
  return {
    spec,
    counters: newCounters(),
    addedAt: now,
    send: spec.dir === 'out' ? { spi: spec.spi, aead, esn: spec.esn, seq: 0 } : undefined,
    recv: spec.dir === 'in' ? { aead, esn: spec.esn, replay: new ReplayWindow(spec.replayWindow) } : undefined,
    remote: { addr: spec.remote.addr, port: spec.remote.port },
    lastSentAt: now,
    softFired: false,
  };
}
