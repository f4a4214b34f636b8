import { execFile } from 'node:child_process';
import { KeylineError } from '../../../wire/errors.js';

/**
 * Runs one command, argv[0] being the program ('ip'). Injected so unit tests see the exact argv
 * without root; resolves on exit status 0, rejects with a KeylineError otherwise.
 */
export type Runner = (argv: readonly string[]) => Promise<void>;

/** Default runner: execFile (no shell, so a prefix or name can never become shell syntax). */
export function execRunner(code: string, timeoutMs = 5000): Runner {
  return (argv) =>
    new Promise((resolve, reject) => {
      const [cmd, ...args] = argv;
      if (cmd === undefined) return reject(new KeylineError(code, 'empty command'));
      execFile(cmd, args, { timeout: timeoutMs, killSignal: 'SIGKILL', windowsHide: true }, (err, _out, stderr) => {
        if (!err) return resolve();
        const e = err as NodeJS.ErrnoException & { killed?: boolean };
        const line = argv.join(' ');
        if (e.code === 'ENOENT') {
          return reject(new KeylineError(code, `${cmd} not found: install iproute2 (opkg install ip-full / apt-get install iproute2)`));
        }
        const why = e.killed ? `timed out after ${timeoutMs} ms` : String(stderr).trim() || e.message;
        reject(new KeylineError(code, `'${line}' failed: ${why}`));
      });
    });
}
