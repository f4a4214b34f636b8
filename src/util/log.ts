/**
 * One line per event to stderr (procd forwards it to logread). Lines start with a context
 * (peer, SPI) given by the caller; no secret is ever passed to a logger.
 */
export type Level = 'error' | 'warn' | 'info' | 'debug';

const RANK: Record<Level, number> = { error: 0, warn: 1, info: 2, debug: 3 };

export interface Logger {
  error(msg: string): void;
  warn(msg: string): void;
  info(msg: string): void;
  debug(msg: string): void;
  enabled(level: Level): boolean;
}

export function makeLogger(level: Level, sink: (line: string) => void = (l) => process.stderr.write(l + '\n')): Logger {
  const max = RANK[level];
  const at = (lv: Level) => (msg: string) => {
    if (RANK[lv] <= max) sink(`${lv}: ${msg}`);
  };
  return { error: at('error'), warn: at('warn'), info: at('info'), debug: at('debug'), enabled: (lv) => RANK[lv] <= max };
}

export const silentLogger: Logger = makeLogger('error', () => {});

/**
 * For a log line that unauthenticated peer input can cause once per packet: printed at most once
 * per `everyMs`, saying how many like it were held back since, so a flood can neither drown the
 * log nor spend the CPU writing it. The input is still counted where it is dropped.
 */
export function throttled(write: (msg: string) => void, everyMs: number, now: () => number): (msg: string) => void {
  let last = -Infinity;
  let held = 0;
  return (msg) => {
    const t = now();
    if (t - last < everyMs) {
      held++;
      return;
    }
    last = t;
    write(held ? `${msg} (${held} more like it since the last such line, not logged)` : msg);
    held = 0;
  };
}
