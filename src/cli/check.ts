import { formatConfig, loadConfig } from '../config/index.js';
import { KeylineError } from '../wire/errors.js';
import { parseArgs } from './args.js';
import { planFromConfig } from './plan.js';

/** `keyline check FILE`: validate, then print the effective configuration with secrets masked. */
export async function check(args: string[]): Promise<number> {
  const a = parseArgs(args, { flags: ['insecure-perms'] });
  const file = a.positional[0];
  if (!file || a.positional.length > 1) throw new KeylineError('USAGE', 'usage: keyline check FILE [--insecure-perms]');
  const config = loadConfig(file, { insecurePerms: a.flags.has('insecure-perms') });
  planFromConfig(config); // the checks that span several keys
  process.stdout.write(formatConfig(config));
  return 0;
}
