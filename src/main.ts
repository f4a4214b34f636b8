/**
 * keyline command line. One file on the router: `keyline <command> [options]`.
 * Exit codes: 0 success, 1 runtime failure, 2 usage or configuration error.
 */
import { KeylineError } from './wire/errors.js';
import { VERSION } from './version.js';

const USAGE = `keyline ${VERSION}: IPsec keying agent for small routers

usage: keyline <command> [options]

commands:
  run [--config FILE] [--log-level LEVEL] [--insecure-perms]
                    run the agent in the foreground (default config /etc/keyline/keys)
  check FILE [--insecure-perms]
                    validate a key file and print the effective configuration, secrets masked
  demo              two agents on loopback exchanging protected traffic (what 'npm start' runs)
  genpsk            print a new random 32-byte pre-shared secret (base64:)
  version           print the version
  help              this text

exit codes: 0 ok, 1 runtime failure, 2 usage or configuration error`;

type Command = (args: string[]) => Promise<number>;

const commands: Record<string, () => Promise<Command>> = {
  run: async () => (await import('./cli/run.js')).run,
  check: async () => (await import('./cli/check.js')).check,
  demo: async () => (await import('./demo.js')).demo,
  genpsk: async () => (await import('./cli/keys.js')).genpsk,
  version: async () => async () => (console.log(VERSION), 0),
  help: async () => async () => (console.log(USAGE), 0),
};

async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  if (cmd === undefined || cmd === '--help' || cmd === '-h') {
    console.log(USAGE);
    return cmd === undefined ? 2 : 0;
  }
  const load = commands[cmd];
  if (!load) {
    console.error(`keyline: unknown command '${cmd}' (try 'keyline help')`);
    return 2;
  }
  return (await load())(rest);
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    if (e instanceof KeylineError) {
      console.error(`keyline: ${e.message}`);
      process.exitCode = e.code.startsWith('CONFIG') || e.code === 'USAGE' ? 2 : 1;
    } else {
      console.error(`keyline: internal error: ${(e as Error)?.stack ?? e}`);
      process.exitCode = 1;
    }
  },
);
