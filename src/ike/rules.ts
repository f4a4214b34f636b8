/**
 * The payload-rules table (STYLE.md §3): for each exchange and direction, which payloads may
 * appear, how many, and whether they travel inside SK. Checked on raw payloads, before any codec
 * or handler runs, in this order:
 *
 *   1. an unknown payload with the critical bit set, outside or inside SK
 *      -> UNSUPPORTED_CRITICAL_PAYLOAD with the payload type as data (RFC 7296 §2.5);
 *      unknown non-critical payloads are skipped and take no further part;
 *   2. placement: IKE_SA_INIT has no SK; every other exchange has exactly one SK (or SKF) and
 *      only N and V outside it;
 *   3. a response of N (and V) payloads only is an error or status answer (e.g. COOKIE,
 *      INVALID_KE_PAYLOAD, AUTHENTICATION_FAILED, NO_PROPOSAL_CHOSEN) and is accepted as is;
 *   4. counts from the table, then "all or none" groups (SA with TSi/TSr in IKE_AUTH).
 *
 * Known payloads that the table does not list for a message are refused (INVALID_SYNTAX) rather
 * than silently skipped: a D in IKE_SA_INIT is a broken peer, not an extension.
 */
import { name } from '../wire/iana.js';
import { EXCHANGE, NOTIFY, PAYLOAD } from './constants.js';
import { isKnownPayload, payloadName } from './payload.js';
import type { PayloadName, RawPayload } from './payload.js';

type Count = readonly [min: number, max: number];
type Counts = Readonly<Partial<Record<PayloadName, Count>>>;

interface Direction {
  counts: Counts;
  /** Payload groups that appear all together or not at all. */
  together?: readonly (readonly PayloadName[])[];
}

export interface ExchangeRules {
  /** Payloads travel inside SK (every exchange but IKE_SA_INIT). */
  encrypted: boolean;
  request: Direction;
  response: Direction;
}

export type RuleResult = { ok: true } | { ok: false; reason: string; notify?: number; data?: Uint8Array };

const ONE: Count = [1, 1];
const OPT: Count = [0, 1];
const ANY: Count = [0, Infinity];

const CHILD = { SA: OPT, TSi: OPT, TSr: OPT } as const;
const CHILD_TOGETHER = [['SA', 'TSi', 'TSr']] as const;
const REKEY = { counts: { SA: ONE, NONCE: ONE, KE: OPT, TSi: OPT, TSr: OPT, N: ANY, V: ANY }, together: [['TSi', 'TSr']] } as const;

export const RULES: Readonly<Record<number, ExchangeRules>> = {
  // HDR, SAi1, KEi, Ni  -->            <--  HDR, SAr1, KEr, Nr, [CERTREQ]
  [EXCHANGE.IKE_SA_INIT]: {
    encrypted: false,
    request: { counts: { SA: ONE, KE: ONE, NONCE: ONE, N: ANY, V: ANY } },
    response: { counts: { SA: ONE, KE: ONE, NONCE: ONE, CERTREQ: ANY, N: ANY, V: ANY } },
  },
  // HDR, SK {IDi, [CERT,] [CERTREQ,] [IDr,] AUTH, SAi2, TSi, TSr}  -->
  //                                     <--  HDR, SK {IDr, [CERT,] AUTH, SAr2, TSi, TSr}
  [EXCHANGE.IKE_AUTH]: {
    encrypted: true,
    request: { counts: { IDi: ONE, IDr: OPT, AUTH: ONE, CERT: ANY, CERTREQ: ANY, ...CHILD, N: ANY, V: ANY }, together: CHILD_TOGETHER },
    response: { counts: { IDr: ONE, AUTH: ONE, CERT: ANY, ...CHILD, N: ANY, V: ANY }, together: CHILD_TOGETHER },
  },
  // HDR, SK {SA, Ni, [KEi], [TSi, TSr]}  -->   <--  HDR, SK {SA, Nr, [KEr], [TSi, TSr]}
  [EXCHANGE.CREATE_CHILD_SA]: { encrypted: true, request: REKEY, response: REKEY },
  // HDR, SK {[N,] [D,] ...}  -->        <--  HDR, SK {[N,] [D,] ...}
  [EXCHANGE.INFORMATIONAL]: {
    encrypted: true,
    request: { counts: { N: ANY, D: ANY, V: ANY } },
    response: { counts: { N: ANY, D: ANY, V: ANY } },
  },
};

const OUTSIDE_SK: ReadonlySet<number> = new Set([PAYLOAD.N, PAYLOAD.V]);
const ENCRYPTED: ReadonlySet<number> = new Set([PAYLOAD.SK, PAYLOAD.SKF]);

const syntax = (reason: string): RuleResult => ({ ok: false, reason, notify: NOTIFY.INVALID_SYNTAX });

function unknownCritical(payloads: readonly RawPayload[]): RuleResult | undefined {
  const p = payloads.find((x) => x.critical && !isKnownPayload(x.type));
  if (!p) return undefined;
  return { ok: false, reason: `unsupported critical payload ${p.type}`, notify: NOTIFY.UNSUPPORTED_CRITICAL_PAYLOAD, data: Uint8Array.of(p.type) };
}

function placement(rules: ExchangeRules, outer: readonly RawPayload[], inner: readonly RawPayload[]): RuleResult | undefined {
  const known = outer.filter((p) => isKnownPayload(p.type));
  if (!rules.encrypted) {
    if (known.some((p) => ENCRYPTED.has(p.type)) || inner.length > 0) return syntax('encrypted payload in IKE_SA_INIT');
    return undefined;
  }
  const sk = known.filter((p) => ENCRYPTED.has(p.type)).length;
  if (sk !== 1) return syntax(`${sk} encrypted payloads, need exactly 1`);
  const stray = known.find((p) => !ENCRYPTED.has(p.type) && !OUTSIDE_SK.has(p.type));
  if (stray) return syntax(`${name(PAYLOAD, stray.type)} outside SK`);
  return undefined;
}

function tally(payloads: readonly RawPayload[]): Map<PayloadName, number> {
  const n = new Map<PayloadName, number>();
  for (const p of payloads) {
    const k = payloadName(p.type);
    if (k !== undefined && k !== 'SK' && k !== 'SKF') n.set(k, (n.get(k) ?? 0) + 1);
  }
  return n;
}

function checkCounts(n: Map<PayloadName, number>, dir: Direction, where: string): RuleResult {
  for (const [k, have] of n) {
    const c = dir.counts[k];
    if (!c) return syntax(`${k} not allowed in ${where}`);
    if (have > c[1]) return syntax(`${have} ${k} in ${where}, at most ${c[1]}`);
  }
  for (const [k, c] of Object.entries(dir.counts) as [PayloadName, Count][]) {
    if ((n.get(k) ?? 0) < c[0]) return syntax(`missing ${k} in ${where}`);
  }
  for (const group of dir.together ?? []) {
    const present = group.filter((k) => n.has(k)).length;
    if (present !== 0 && present !== group.length) return syntax(`${group.join(', ')} must come together in ${where}`);
  }
  return { ok: true };
}

const notifyOnly = (n: Map<PayloadName, number>): boolean => n.has('N') && [...n.keys()].every((k) => k === 'N' || k === 'V');

/**
 * Check a message against the table. `outer` is the decoded chain (with SK last), `inner` the
 * decrypted SK chain (empty for IKE_SA_INIT).
 */
export function checkRules(exchange: number, isResponse: boolean, outer: readonly RawPayload[], inner: readonly RawPayload[]): RuleResult {
  const rules = RULES[exchange];
  if (!rules) return { ok: false, reason: `unsupported exchange ${name(EXCHANGE, exchange)}` };
  const bad = unknownCritical(outer) ?? unknownCritical(inner) ?? placement(rules, outer, inner);
  if (bad) return bad;
  const n = tally(rules.encrypted ? inner : outer);
  if (isResponse && notifyOnly(n)) return { ok: true };
  const where = `${name(EXCHANGE, exchange)} ${isResponse ? 'response' : 'request'}`;
  return checkCounts(n, isResponse ? rules.response : rules.request, where);
}
