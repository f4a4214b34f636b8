/**
 * The one error a decoder throws. Peer input that fails a bounds or syntax check ends here; the
 * packet handler catches it, counts a drop and moves on. `need`/`have` print both numbers of the
 * failed check, so a log line says exactly what was wrong.
 */
export class MalformedError extends Error {
  readonly code = 'MALFORMED';
  constructor(
    readonly what: string,
    readonly need: number,
    readonly have: number,
  ) {
    super(`malformed ${what}: need ${need}, have ${have}`);
    this.name = 'MalformedError';
  }
}

/** Programmer or configuration errors: typed, with a stable code for callers and tests. */
export class KeylineError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'KeylineError';
  }
}
