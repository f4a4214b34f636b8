import { SUITES } from '../crypto/suites.js';
import { parseEspProposal, parseEspProposals, parseIkeProposal, parseIkeProposals } from '../ike/proposals.js';
import type { EspProposal, IkeProposal } from '../ike/proposals.js';
import { KE } from '../wire/iana.js';
import { KeylineError } from '../wire/errors.js';
import { ValueError, showValue } from './errors.js';
import type { ValueType } from './values.js';

/**
 * `ike=` and `esp=`: proposal lists in strongSwan notation, parsed by src/ike/proposals.ts (one
 * notation for the whole program) and printed back in the same notation for `keyline check`.
 * A bad proposal is reported at its own column, and its text is echoed only as showValue allows:
 * a key pasted into the wrong key must not come back in a message.
 */

/** Keywords for key exchange methods, as proposals.ts spells them first. */
const GROUP_WORD: ReadonlyMap<number, string> = /* @__PURE__ */ new Map([
  [KE.CURVE25519, 'x25519'],
  [KE.MODP_2048, 'modp2048'],
  [KE.MODP_3072, 'modp3072'],
]);

const groupWord = (g: number): string => GROUP_WORD.get(g) ?? `ke${g}`;

/** The PRF is left out where strongSwan implies it: a CBC suite with its own hash (aes128-sha256 -> prfsha256). */
export function formatIkeProposal(p: IkeProposal): string {
  const impliedPrf = !SUITES[p.suite].combined && p.prf === 'sha256';
  return [p.suite, ...(impliedPrf ? [] : [`prf${p.prf}`]), groupWord(p.group)].join('-');
}

/** noesn is the default in the notation, so only `-esn` is printed. */
export function formatEspProposal(p: EspProposal): string {
  return [p.suite, ...(p.group === undefined ? [] : [groupWord(p.group)]), ...(p.esn ? ['esn'] : [])].join('-');
}

interface Element {
  readonly text: string;
  readonly offset: number;
}

function elements(list: string): Element[] {
  let offset = 0;
  return list.split(',').map((text) => {
    const e = { text, offset };
    offset += text.length + 1;
    return e;
  });
}

/**
 * The parser's message without its `IKE proposal "...": ` head (the value is already shown),
 * and every quoted piece shown the way showValue shows values. The parser lowercases words, so
 * each quoted piece is matched back to the text as written before it is judged.
 */
function cleanMessage(message: string, written: string): string {
  const head = /^(?:IKE|ESP) proposal "[^"]*": /.exec(message);
  const rest = head ? message.slice(head[0].length) : message;
  const pieces = written.split(/[-,]/);
  return rest.replace(/"([^"]*)"/g, (_, q: string) => {
    const original = pieces.find((w) => w.trim().toLowerCase() === q) ?? q;
    return `"${showValue(original)}"`;
  });
}

/** The parser's BAD_PROPOSAL error as a ValueError at the element that caused it. */
function locate(e: unknown, list: string, one: (s: string) => unknown): ValueError {
  if (!(e instanceof KeylineError) || e.code !== 'BAD_PROPOSAL') throw e;
  for (const el of elements(list)) {
    if (el.text.trim() === '') return new ValueError('empty proposal; expected proposals separated by single commas, no spaces', el.offset, el.text);
    try {
      one(el.text);
    } catch (inner) {
      if (!(inner instanceof KeylineError) || inner.code !== 'BAD_PROPOSAL') throw inner;
      return new ValueError(cleanMessage(inner.message, el.text), el.offset, el.text);
    }
  }
  return new ValueError(cleanMessage(e.message, list));
}

function proposalList<T>(all: (s: string) => T[], one: (s: string) => T, format: (p: T) => string): ValueType<readonly T[]> {
  return {
    parse: (text) => {
      let out: T[];
      try {
        out = all(text);
      } catch (e) {
        throw locate(e, text, one);
      }
      // Two spellings of one proposal (aes128-sha256-modp2048, aes128-sha256-prfsha256-modp2048) are a typo.
      const seen = new Set<string>();
      elements(text).forEach((el, i) => {
        const key = format(out[i]!);
        if (seen.has(key)) throw new ValueError(`${key} is listed twice`, el.offset, el.text);
        seen.add(key);
      });
      return out;
    },
    format: (ps) => ps.map(format).join(','),
  };
}

/** IKE SA proposals, e.g. aes256gcm16-prfsha256-x25519,aes128-sha256-modp2048 (at most 32, MAX_PROPOSALS). */
export const ikeProposals: ValueType<readonly IkeProposal[]> = proposalList(parseIkeProposals, parseIkeProposal, formatIkeProposal);

/** ESP proposals, e.g. aes256gcm16,chacha20poly1305-esn,aes128-sha256-modp2048 (a group asks for PFS). */
export const espProposals: ValueType<readonly EspProposal[]> = proposalList(parseEspProposals, parseEspProposal, formatEspProposal);
