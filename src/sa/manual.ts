import type { CipherSuite } from '../crypto/types.js';
import { SUITES } from '../crypto/suites.js';
import { KeylineError } from '../wire/errors.js';
import type { Endpoint, Limits, Mode, Policy, SaSpec, Selector } from './types.js';

/**
 * Manually keyed SAs (like `ip xfrm state add` or setkey): the operator gives SPIs and keys for
 * both directions. Used by `keying=manual` peers, the demo and the data-plane tests; IKE and
 * inline keying produce the same SaSpec/Policy shapes from negotiated keys.
 */
export interface ManualPeer {
  readonly peer: string;
  readonly reqid: number;
  readonly suite: CipherSuite;
  readonly mode: Mode;
  readonly esn: boolean;
  readonly replayWindow: number;
  readonly spiIn: number;
  readonly spiOut: number;
  /** Key material per direction: encryption key (+salt) for AEADs, enc||integ for CBC suites. */
  readonly keyIn: Uint8Array;
  readonly keyOut: Uint8Array;
  readonly local: Endpoint;
  readonly remote: Endpoint;
  readonly selectors: readonly Selector[];
  readonly soft?: Limits;
  readonly hard?: Limits;
}

/** Bytes of key material a suite needs for one direction. */
export function keyLength(suite: CipherSuite): number {
  const s = SUITES[suite];
  return s.encKeyLen + s.integKeyLen;
}

export function splitKey(suite: CipherSuite, key: Uint8Array): { encKey: Uint8Array; integKey?: Uint8Array } {
  const s = SUITES[suite];
  if (key.length !== s.encKeyLen + s.integKeyLen) {
    throw new KeylineError('BAD_KEY', `${suite} needs ${s.encKeyLen + s.integKeyLen} bytes of key material, got ${key.length}`);
  }
  if (s.integKeyLen === 0) return { encKey: key };
  return { encKey: key.subarray(0, s.encKeyLen), integKey: key.subarray(s.encKeyLen) };
}

export function manualSas(m: ManualPeer): { inbound: SaSpec; outbound: SaSpec; policies: Policy[] } {
  const base = {
    reqid: m.reqid,
    suite: m.suite,
    mode: m.mode,
    esn: m.esn,
    replayWindow: m.replayWindow,
    local: m.local,
    remote: m.remote,
    selectors: m.selectors,
    soft: m.soft ?? {},
    hard: m.hard ?? {},
    peer: m.peer,
  };
  const inbound: SaSpec = { ...base, spi: m.spiIn, dir: 'in', ...splitKey(m.suite, m.keyIn) };
  const outbound: SaSpec = { ...base, spi: m.spiOut, dir: 'out', ...splitKey(m.suite, m.keyOut) };
  const policies = m.selectors.map(
    (selector, i): Policy => ({ id: m.reqid * 64 + i, selector, action: 'protect', reqid: m.reqid, priority: 100, peer: m.peer }),
  );
  return { inbound, outbound, policies };
}

/** The same peer seen from the other end: directions swapped, endpoints and selectors mirrored. */
export function mirror(m: ManualPeer, peer: string): ManualPeer {
  return {
    ...m,
    peer,
    spiIn: m.spiOut,
    spiOut: m.spiIn,
    keyIn: m.keyOut,
    keyOut: m.keyIn,
    local: m.remote,
    remote: m.local,
    selectors: m.selectors.map((s) => ({ ...s, local: s.remote, remote: s.local, localPorts: s.remotePorts, remotePorts: s.localPorts })),
  };
}
