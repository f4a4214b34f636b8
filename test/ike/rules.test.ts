import t from 'tap';
import type { Test } from 'tap';
import { checkRules } from '../../src/ike/rules.js';
import type { RuleResult } from '../../src/ike/rules.js';
import { EXCHANGE, NOTIFY, PAYLOAD as P } from '../../src/ike/constants.js';
import type { RawPayload } from '../../src/ike/message.js';
import { raw } from './helpers.js';

const { IKE_SA_INIT, IKE_AUTH, CREATE_CHILD_SA, INFORMATIONAL } = EXCHANGE;
const REQ = false;
const RESP = true;
const SK = raw(P.SK);
const list = (...types: number[]): RawPayload[] => types.map((x) => raw(x));

/** Expect INVALID_SYNTAX with a reason matching `why`. */
function syntax(t: Test, r: RuleResult, why: RegExp): void {
  t.same(r.ok ? 'ok' : r.notify, NOTIFY.INVALID_SYNTAX);
  if (!r.ok) t.match(r.reason, why);
}

t.test('IKE_SA_INIT', async (t) => {
  // HDR, SAi1, KEi, Ni, N, N, V -->
  t.same(checkRules(IKE_SA_INIT, REQ, list(P.SA, P.KE, P.NONCE, P.N, P.N, P.V), []), { ok: true });
  // HDR, N(COOKIE), SAi1, KEi, Ni -->
  t.same(checkRules(IKE_SA_INIT, REQ, list(P.N, P.SA, P.KE, P.NONCE), []), { ok: true });
  // <-- HDR, SAr1, KEr, Nr, [CERTREQ]
  t.same(checkRules(IKE_SA_INIT, RESP, list(P.SA, P.KE, P.NONCE, P.CERTREQ, P.N), []), { ok: true });
  // <-- HDR, N(COOKIE)   and   <-- HDR, N(INVALID_KE_PAYLOAD)
  t.same(checkRules(IKE_SA_INIT, RESP, list(P.N), []), { ok: true });
  syntax(t, checkRules(IKE_SA_INIT, REQ, list(P.SA, P.NONCE), []), /missing KE/);
  syntax(t, checkRules(IKE_SA_INIT, REQ, list(P.N), []), /missing SA/);
  syntax(t, checkRules(IKE_SA_INIT, REQ, list(P.SA, P.SA, P.KE, P.NONCE), []), /2 SA .*at most 1/);
  syntax(t, checkRules(IKE_SA_INIT, REQ, list(P.SA, P.KE, P.NONCE, P.CERTREQ), []), /CERTREQ not allowed/);
  syntax(t, checkRules(IKE_SA_INIT, REQ, list(P.SA, P.KE, P.NONCE, P.D), []), /D not allowed/);
  syntax(t, checkRules(IKE_SA_INIT, REQ, list(P.SA, P.KE, P.NONCE, P.SK), []), /encrypted payload in IKE_SA_INIT/);
  syntax(t, checkRules(IKE_SA_INIT, RESP, list(P.SA, P.KE, P.NONCE, P.D), []), /D not allowed/);
});

t.test('unknown payloads: critical ones refused with their type, others skipped', async (t) => {
  const init = list(P.SA, P.KE, P.NONCE);
  t.same(checkRules(IKE_SA_INIT, REQ, [...init, raw(99)], []), { ok: true }, 'non-critical unknown is skipped');
  t.same(checkRules(IKE_SA_INIT, REQ, [raw(99, true), ...init], []), {
    ok: false,
    reason: 'unsupported critical payload 99',
    notify: NOTIFY.UNSUPPORTED_CRITICAL_PAYLOAD,
    data: Uint8Array.of(99),
  });
  // CP is defined by RFC 7296 but not implemented here: it counts as unknown.
  const auth = list(P.IDi, P.AUTH);
  t.same(checkRules(IKE_AUTH, REQ, [SK], [...auth, raw(P.CP)]), { ok: true });
  const r = checkRules(IKE_AUTH, REQ, [SK], [...auth, raw(P.CP, true)]);
  t.same(r.ok ? 'ok' : [r.notify, r.data], [NOTIFY.UNSUPPORTED_CRITICAL_PAYLOAD, Uint8Array.of(P.CP)]);
  // The critical check comes first, before a missing-payload verdict.
  const first = checkRules(IKE_AUTH, REQ, [SK], [raw(200, true)]);
  t.same(first.ok ? 'ok' : first.notify, NOTIFY.UNSUPPORTED_CRITICAL_PAYLOAD);
  // A known payload with the critical bit is understood: the bit is ignored (RFC 7296 §2.5).
  t.same(checkRules(IKE_SA_INIT, REQ, [raw(P.SA, true), raw(P.KE), raw(P.NONCE)], []), { ok: true });
});

t.test('IKE_AUTH', async (t) => {
  // HDR, SK {IDi, [CERT,] [CERTREQ,] [IDr,] AUTH, SAi2, TSi, TSr} -->
  t.same(checkRules(IKE_AUTH, REQ, [SK], list(P.IDi, P.CERT, P.CERTREQ, P.IDr, P.AUTH, P.SA, P.TSi, P.TSr, P.N, P.N)), { ok: true });
  t.same(checkRules(IKE_AUTH, REQ, [SK], list(P.IDi, P.AUTH, P.N)), { ok: true }, 'childless (RFC 6023)');
  t.same(checkRules(IKE_AUTH, REQ, [raw(P.N), raw(P.V), SK], list(P.IDi, P.AUTH)), { ok: true }, 'N and V may sit outside SK');
  syntax(t, checkRules(IKE_AUTH, REQ, [SK], list(P.IDi, P.SA, P.TSi, P.TSr)), /missing AUTH/);
  syntax(t, checkRules(IKE_AUTH, REQ, [SK], list(P.AUTH)), /missing IDi/);
  syntax(t, checkRules(IKE_AUTH, REQ, [SK], list(P.IDi, P.AUTH, P.SA, P.SA, P.TSi, P.TSr)), /2 SA/);
  syntax(t, checkRules(IKE_AUTH, REQ, [SK], list(P.IDi, P.AUTH, P.SA)), /SA, TSi, TSr must come together/);
  syntax(t, checkRules(IKE_AUTH, REQ, [SK], list(P.IDi, P.AUTH, P.TSi, P.TSr)), /must come together/);
  syntax(t, checkRules(IKE_AUTH, REQ, [raw(P.IDi), SK], list(P.AUTH)), /IDi outside SK/);
  syntax(t, checkRules(IKE_AUTH, REQ, [raw(P.AUTH), SK], list(P.IDi)), /AUTH outside SK/);
  syntax(t, checkRules(IKE_AUTH, REQ, list(P.IDi, P.AUTH), []), /0 encrypted payloads/);
  syntax(t, checkRules(IKE_AUTH, REQ, [SK, SK], list(P.IDi, P.AUTH)), /2 encrypted payloads/);
  syntax(t, checkRules(IKE_AUTH, REQ, [SK], list(P.IDi, P.AUTH, P.KE)), /KE not allowed/);
  t.same(checkRules(IKE_AUTH, REQ, [raw(P.SKF)], list(P.IDi, P.AUTH)), { ok: true }, 'SKF stands in for SK');
  // <-- HDR, SK {IDr, [CERT,] AUTH, SAr2, TSi, TSr}
  t.same(checkRules(IKE_AUTH, RESP, [SK], list(P.IDr, P.CERT, P.AUTH, P.SA, P.TSi, P.TSr)), { ok: true });
  // <-- HDR, SK {IDr, AUTH, N(TS_UNACCEPTABLE)}: IKE SA up, child refused
  t.same(checkRules(IKE_AUTH, RESP, [SK], list(P.IDr, P.AUTH, P.N)), { ok: true });
  // <-- HDR, SK {N(AUTHENTICATION_FAILED)}
  t.same(checkRules(IKE_AUTH, RESP, [SK], list(P.N)), { ok: true });
  syntax(t, checkRules(IKE_AUTH, RESP, [SK], list(P.IDi, P.IDr, P.AUTH)), /IDi not allowed in IKE_AUTH response/);
  syntax(t, checkRules(IKE_AUTH, RESP, [SK], list(P.IDr)), /missing AUTH/);
  syntax(t, checkRules(IKE_AUTH, RESP, [SK], []), /missing IDr/);
});

t.test('CREATE_CHILD_SA', async (t) => {
  // HDR, SK {N(REKEY_SA), SA, Ni, [KEi], TSi, TSr} -->
  t.same(checkRules(CREATE_CHILD_SA, REQ, [SK], list(P.N, P.SA, P.NONCE, P.KE, P.TSi, P.TSr)), { ok: true });
  // HDR, SK {SA, Ni, KEi} --> (rekey the IKE SA)
  t.same(checkRules(CREATE_CHILD_SA, REQ, [SK], list(P.SA, P.NONCE, P.KE)), { ok: true });
  syntax(t, checkRules(CREATE_CHILD_SA, REQ, [SK], list(P.SA, P.KE, P.TSi, P.TSr)), /missing NONCE/);
  syntax(t, checkRules(CREATE_CHILD_SA, REQ, [SK], list(P.NONCE, P.TSi, P.TSr)), /missing SA/);
  syntax(t, checkRules(CREATE_CHILD_SA, REQ, [SK], list(P.SA, P.NONCE, P.KE, P.KE)), /2 KE/);
  syntax(t, checkRules(CREATE_CHILD_SA, REQ, [SK], list(P.SA, P.NONCE, P.TSi)), /TSi, TSr must come together/);
  syntax(t, checkRules(CREATE_CHILD_SA, REQ, [raw(P.SA), SK], list(P.NONCE)), /SA outside SK/);
  syntax(t, checkRules(CREATE_CHILD_SA, REQ, [SK], list(P.SA, P.NONCE, P.D)), /D not allowed/);
  // <-- HDR, SK {SA, Nr, [KEr], TSi, TSr}   and   <-- HDR, SK {N(NO_ADDITIONAL_SAS)}
  t.same(checkRules(CREATE_CHILD_SA, RESP, [SK], list(P.SA, P.NONCE, P.TSi, P.TSr)), { ok: true });
  t.same(checkRules(CREATE_CHILD_SA, RESP, [SK], list(P.N)), { ok: true });
  syntax(t, checkRules(CREATE_CHILD_SA, RESP, [SK], list(P.NONCE, P.TSi, P.TSr)), /missing SA/);
});

t.test('INFORMATIONAL', async (t) => {
  t.same(checkRules(INFORMATIONAL, REQ, [SK], []), { ok: true }, 'liveness check: HDR, SK {} -->');
  t.same(checkRules(INFORMATIONAL, REQ, [SK], list(P.D, P.D, P.N)), { ok: true });
  t.same(checkRules(INFORMATIONAL, RESP, [SK], list(P.D)), { ok: true });
  t.same(checkRules(INFORMATIONAL, RESP, [SK], []), { ok: true });
  syntax(t, checkRules(INFORMATIONAL, REQ, [SK], list(P.SA)), /SA not allowed in INFORMATIONAL request/);
  syntax(t, checkRules(INFORMATIONAL, REQ, [raw(P.D), SK], []), /D outside SK/);
  syntax(t, checkRules(INFORMATIONAL, REQ, [], []), /0 encrypted payloads/);
});

t.test('an exchange type keyline does not run', async (t) => {
  const r = checkRules(43, REQ, [SK], []);
  t.same(r, { ok: false, reason: 'unsupported exchange UNKNOWN(43)' }, 'no notify: the caller drops it');
});
