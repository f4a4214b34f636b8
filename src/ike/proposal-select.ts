/**
 * SA negotiation (RFC 7296 §2.7, §3.3.6). The responder picks the first of its own proposals that
 * some offered proposal contains and answers with that single proposal, one transform per type,
 * under the peer's proposal number; the initiator checks that the answer is such a subset of what
 * it offered. Within a proposal a peer may offer several transforms of one type (strongSwan sends
 * all its ciphers, PRFs and groups in one proposal); the rules that decide acceptability:
 *   - a transform type we do not know, or one not defined for the protocol, rejects the proposal;
 *   - a transform with an attribute other than the KEY_LENGTH we want rejects that transform only;
 *   - a type we do not use is acceptable only if NONE is offered for it (INTEG with a combined
 *     mode, RFC 5282 §8; KE for ESP without PFS), and the reply then carries that NONE, since the
 *     chosen suite holds exactly one transform of each offered type (§2.7).
 */
import type { Proposal, Sa, Transform } from './payloads/sa.js';
import { ALLOWED_TYPES, PROTOCOL_ID, fromTransforms, sameTransform, transformsOf } from './proposal-wire.js';
import type { EspProposal, IkeProposal, Protocol, ProposalFor } from './proposal-wire.js';

const NONE = 0;

export interface Chosen<P extends Protocol> {
  /** Our proposal that was chosen. */
  readonly proposal: ProposalFor<P>;
  /** The peer's proposal number, echoed in the reply. */
  readonly num: number;
  /** The SPI of the peer's proposal: for ESP the SPI we send to; for an IKE rekey the new SPIi. */
  readonly peerSpi: Uint8Array;
  /** The SA payload to send back: that single proposal, with our SPI. */
  readonly sa: Sa;
}

export interface SelectOptions {
  /** Our SPI for the reply: 4 bytes for ESP, 8 for an IKE SA rekey, none in IKE_SA_INIT. */
  readonly spi?: Uint8Array;
  /**
   * The group of the peer's KE payload. If our chosen proposal names another group, an otherwise
   * identical proposal of ours with this group is taken instead: both are acceptable to us, and
   * it saves the INVALID_KE_PAYLOAD round trip. Cipher preference is never traded for it.
   */
  readonly keGroup?: number;
}

const spiSizeOk = (len: number, protocol: Protocol): boolean => (protocol === 'esp' ? len === 4 : len === 0 || len === 8);

/** The peer's transforms that make up `ours`, one per offered type, or undefined. */
function match(offer: Proposal, ours: IkeProposal | EspProposal, protocol: Protocol): Transform[] | undefined {
  if (offer.protocol !== PROTOCOL_ID[protocol] || !spiSizeOk(offer.spi.length, protocol)) return undefined;
  const types = ALLOWED_TYPES[protocol];
  if (offer.transforms.some((t) => !types.includes(t.type))) return undefined;
  const want = transformsOf(ours);
  const picked: Transform[] = [];
  for (const type of types) {
    const offered = offer.transforms.filter((t) => t.type === type);
    const mine = want.find((t) => t.type === type);
    const t = mine ? offered.find((o) => sameTransform(o, mine)) : offered.find((o) => o.id === NONE && o.attributes.length === 0);
    if (t) picked.push(t);
    else if (mine || offered.length > 0) return undefined;
  }
  return picked;
}

const sameButGroup = (a: IkeProposal | EspProposal, b: IkeProposal | EspProposal): boolean =>
  a.suite === b.suite && ('prf' in a ? 'prf' in b && a.prf === b.prf : 'esn' in b && a.esn === b.esn);

function firstMatch<P extends Protocol>(offered: Sa, configured: readonly ProposalFor<P>[], protocol: P): { ours: ProposalFor<P>; offer: Proposal; picked: Transform[] } | undefined {
  for (const ours of configured) {
    for (const offer of offered.proposals) {
      const picked = match(offer, ours, protocol);
      if (picked) return { ours, offer, picked };
    }
  }
  return undefined;
}

/**
 * Responder: our first proposal (our preference) that the offer contains, or undefined, which
 * the caller answers with NO_PROPOSAL_CHOSEN. If the chosen IKE proposal's group differs from the
 * peer's KE payload even after `keGroup`, the caller answers INVALID_KE_PAYLOAD with
 * `proposal.group`.
 */
export function selectProposal<P extends Protocol>(offered: Sa, configured: readonly ProposalFor<P>[], protocol: P, opts: SelectOptions = {}): Chosen<P> | undefined {
  let m = firstMatch(offered, configured, protocol);
  if (m === undefined) return undefined;
  if (opts.keGroup !== undefined && m.ours.group !== opts.keGroup) {
    const first = m.ours;
    const siblings = configured.filter((q) => q.group === opts.keGroup && sameButGroup(q, first));
    m = firstMatch(offered, siblings, protocol) ?? m;
  }
  const spi = opts.spi ?? new Uint8Array(0);
  const reply: Proposal = { num: m.offer.num, protocol: m.offer.protocol, spi, transforms: m.picked };
  return { proposal: m.ours, num: m.offer.num, peerSpi: m.offer.spi, sa: { proposals: [reply] } };
}

export type CheckResult<P extends Protocol> = { ok: true; proposal: ProposalFor<P>; num: number; peerSpi: Uint8Array } | { ok: false; reason: string };

/** The reply's transform types are each present once and are exactly the types we offered. */
function sameTypes(got: readonly Transform[], sent: readonly Transform[]): boolean {
  const types = new Set(got.map((t) => t.type));
  return types.size === got.length && types.size === new Set(sent.map((t) => t.type)).size && sent.every((t) => types.has(t.type));
}

/**
 * Initiator: is `received` (the responder's SA payload) a valid choice from `sent`? Exactly one
 * proposal, numbered as one of ours, of the same protocol, one transform of each type we offered
 * in it and each one of ours. The caller then checks `proposal.group` against its KE payload.
 */
export function checkChosen<P extends Protocol>(sent: Sa, received: Sa, protocol: P): CheckResult<P> {
  const fail = (reason: string): CheckResult<P> => ({ ok: false, reason });
  if (received.proposals.length !== 1) return fail(`the reply must carry 1 proposal; it carries ${received.proposals.length}`);
  const got = received.proposals[0]!;
  const ours = sent.proposals.find((p) => p.num === got.num);
  if (ours === undefined) return fail(`proposal number ${got.num} was not offered (offered 1..${sent.proposals.length})`);
  if (got.protocol !== ours.protocol || got.protocol !== PROTOCOL_ID[protocol]) return fail(`protocol ${got.protocol}, offered ${ours.protocol}`);
  const spiLen = protocol === 'esp' ? 4 : ours.spi.length;
  if (got.spi.length !== spiLen) return fail(`SPI of ${got.spi.length} bytes, need ${spiLen}`);
  if (!sameTypes(got.transforms, ours.transforms)) return fail('the reply must hold exactly one transform of each type offered');
  const foreign = got.transforms.find((t) => !ours.transforms.some((o) => sameTransform(o, t)));
  if (foreign) return fail(`transform type ${foreign.type} ID ${foreign.id} was not offered in proposal ${got.num}`);
  const proposal = fromTransforms(protocol, got.transforms);
  if (proposal === undefined) return fail(`proposal ${got.num} is not one keyline can use`);
  return { ok: true, proposal, num: got.num, peerSpi: got.spi };
}
