import { KeylineError } from '../wire/errors.js';

/**
 * IKE SA states by name (they show in `keyline show` and the log) and the one table of allowed
 * transitions (STYLE.md §6). Every change goes through `StateMachine.set`, which refuses what
 * the table does not list and logs `OLD -> NEW`, so an exchange bug shows up as a typed error at
 * the transition, not as an SA in a state nobody expected.
 */
export const IKE_STATES = ['connecting', 'authenticating', 'established', 'rekeying', 'deleting', 'closed'] as const;
export type IkeState = (typeof IKE_STATES)[number];

const ALLOWED: Readonly<Record<IkeState, readonly IkeState[]>> = {
  // IKE_SA_INIT sent (initiator) or answered (responder, half open).
  connecting: ['authenticating', 'deleting', 'closed'],
  // IKE_AUTH in flight.
  authenticating: ['established', 'deleting', 'closed'],
  established: ['rekeying', 'deleting', 'closed'],
  // A CREATE_CHILD_SA for this IKE SA is in flight; it stays usable meanwhile.
  rekeying: ['established', 'deleting', 'closed'],
  // INFORMATIONAL with DELETE sent, waiting for the answer (bounded by retransmission).
  deleting: ['closed'],
  closed: [],
};

export class StateMachine {
  private current: IkeState;

  constructor(
    private readonly context: string,
    private readonly log: (line: string) => void,
    initial: IkeState = 'connecting',
  ) {
    this.current = initial;
  }

  get state(): IkeState {
    return this.current;
  }

  set(next: IkeState, why: string): void {
    if (!ALLOWED[this.current].includes(next)) {
      throw new KeylineError('IKE_STATE', `${this.context}: ${this.current} -> ${next} is not allowed (${why})`);
    }
    this.log(`${this.context}: ${this.current} -> ${next} (${why})`);
    this.current = next;
  }

  is(...states: IkeState[]): boolean {
    return states.includes(this.current);
  }
}
