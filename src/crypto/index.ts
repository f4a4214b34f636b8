import type { Backend, CipherSuite } from './types.js';
import { nodeBackend } from './node.js';
import { nobleBackend } from './noble.js';

export type { Aead, Backend, CipherSuite, Hash, Prf, SuiteInfo } from './types.js';
export { SUITES, SUITE_NAMES, SALT_LEN, suiteInfo, isSuite, checkKeys } from './suites.js';
export { prfPlus, PRF_PLUS_MAX_BLOCKS } from './prfplus.js';
export { nodeBackend } from './node.js';
export { nobleBackend } from './noble.js';

export type BackendName = Backend['name'];

/*
 * Which backend does the work. node:crypto wherever this Node build has the cipher: it is OpenSSL
 * with hardware AES, and this is the packet path. Measured on the development machine (seal +
 * open per packet): AES-GCM about 8-10x faster than @noble at 1400 bytes, 4x at 64 bytes, where
 * node's fixed per-call cost dominates; ChaCha20-Poly1305 2-3x. @noble is the portable fallback
 * (OpenWrt builds Node against the system OpenSSL, which may lack ChaCha20-Poly1305) and the
 * independent implementation the known-answer and cross-check tests hold node:crypto to.
 */

/** The backend for one suite: node:crypto if it supports the suite (and noble is not asked for), else noble. */
export function backendFor(suite: CipherSuite, preferred: BackendName = 'node'): Backend {
  if (preferred === 'noble') return nobleBackend;
  return nodeBackend.supports(suite) ? nodeBackend : nobleBackend;
}

/**
 * One Backend that takes each suite from `primary` when it supports it and from `fallback`
 * otherwise; PRFs and randomness come from `primary`. It carries the primary's name, so a log
 * line saying "node crypto" may hide a suite served by the fallback: use backendFor(suite).name
 * where that matters.
 */
export function composeBackend(primary: Backend, fallback: Backend): Backend {
  const pick = (suite: CipherSuite): Backend => (primary.supports(suite) ? primary : fallback);
  return {
    name: primary.name,
    supports: (suite) => primary.supports(suite) || fallback.supports(suite),
    aead: (suite, encKey, integKey) => pick(suite).aead(suite, encKey, integKey),
    prf: (hash) => primary.prf(hash),
    randomBytes: (n) => primary.randomBytes(n),
  };
}

/** node:crypto per suite where it can, noble for the rest. What the agent uses by default. */
export const autoBackend: Backend = composeBackend(nodeBackend, nobleBackend);

/**
 * The Backend for the whole agent. 'noble' forces pure JS everywhere (for tests, or to rule out
 * a broken system OpenSSL); 'node' or nothing gives autoBackend, since a preference for
 * node:crypto cannot conjure a cipher this build lacks.
 */
export function pickBackend(preferred?: BackendName): Backend {
  return preferred === 'noble' ? nobleBackend : autoBackend;
}
