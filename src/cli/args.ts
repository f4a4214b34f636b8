import { KeylineError } from '../wire/errors.js';

/**
 * A tiny option parser: `--name value`, `--name=value` and boolean `--flag`. Unknown options are
 * usage errors (exit code 2), never silently ignored.
 */
export interface ArgSpec {
  readonly values?: readonly string[];
  readonly flags?: readonly string[];
}

export interface Parsed {
  readonly values: Record<string, string>;
  readonly flags: Set<string>;
  readonly positional: string[];
}

export function parseArgs(args: string[], spec: ArgSpec): Parsed {
  const values: Record<string, string> = {};
  const flags = new Set<string>();
  const positional: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (!a.startsWith('--')) {
      positional.push(a);
      continue;
    }
    const [name, inline] = a.slice(2).split(/=(.*)/s, 2) as [string, string | undefined];
    if (spec.flags?.includes(name) && inline === undefined) flags.add(name);
    else if (spec.values?.includes(name)) {
      const v = inline ?? args[++i];
      if (v === undefined) throw new KeylineError('USAGE', `option --${name} needs a value`);
      values[name] = v;
    } else throw new KeylineError('USAGE', `unknown option '${a}' (try 'keyline help')`);
  }
  return { values, flags, positional };
}
