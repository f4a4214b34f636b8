/**
 * keyline command line. One file on the router: `keyline <command> [options]`.
 * Exit codes: 0 success, 1 runtime failure, 2 usage or configuration error.
 */
import { KeylineError } from './wire/errors.js';
import { VERSION } from './version.js';

const USAGE = `keyline ${VERSION}: IPsec keying agent for small routers

usage: keyline <command> [options]

commands:
  run [--config FILE] [--log-level LEVEL] [--socket PATH] [--insecure-perms]
                    run the agent in the foreground (default config /etc/keyline/keys);
                    SIGHUP reloads the key file, SIGTERM/SIGINT stop it
  show [PEER] [--json] [--socket PATH]
                    peers, IKE and child SAs with their counters, drops, from the running agent
  up PEER [--socket PATH]
                    bring a peer up now (IKE: initiate and wait up to 10 s for it)
  down PEER [--socket PATH]
                    take a peer down (IKE: DELETE); it stays down until 'up' or a reload
  reload [--socket PATH]
                    re-read the key file: unchanged peers keep their SAs; errors are reported
                    and nothing is applied
  check FILE [--insecure-perms]
                    validate a key file and print the effective configuration, secrets masked
  demo              two agents on loopback exchanging protected traffic (what 'npm start' runs)
  genpsk            print a new random 32-byte pre-shared secret (base64:)
  genkey            print a new X25519 private key (keying=x25519-static: privkey=)
  pubkey            read a private key on stdin, print its public key (pubkey= on the other router)
  version           print the version
  help              this text

control socket: /var/run/keyline.sock unless --socket PATH (the same for run and the client
commands; /run or the temp directory where /var/run does not exist)

exit codes: 0 ok, 1 runtime failure (for show/up/down/reload also: no agent answers on the
socket), 2 usage or configuration error (also: unknown peer, a reload refused for the key file)`;

type Command = (args: string[]) => Promise<number>;

const commands: Record<string, () => Promise<Command>> = {
  run: async () => (await import('./cli/run.js')).run,
  check: async () => (await import('./cli/check.js')).check,
  demo: async () => (await import('./demo.js')).demo,
  genpsk: async () => (await import('./cli/keys.js')).genpsk,
  genkey: async () => (await import('./cli/keys.js')).genkey,
  pubkey: async () => (await import('./cli/keys.js')).pubkey,
  show: async () => (await import('./cli/ctl.js')).show,
  up: async () => (await import('./cli/ctl.js')).up,
  down: async () => (await import('./cli/ctl.js')).down,
  reload: async () => (await import('./cli/ctl.js')).reload,
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
