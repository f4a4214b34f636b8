import { execFileSync } from 'node:child_process';
import type { CipherSuite } from '../../src/crypto/types.js';

/**
 * The native ceiling: what OpenSSL on this CPU does for the same cipher and packet size
 * (`openssl speed -evp`, machine-readable output), measured in the same run as keyline.
 * For CBC+HMAC suites the ceiling combines both passes: 1 / (1/cbc + 1/hmac).
 */
const EVP: Record<CipherSuite, string[]> = {
  aes128gcm16: ['-evp', 'aes-128-gcm'],
  aes256gcm16: ['-evp', 'aes-256-gcm'],
  chacha20poly1305: ['-evp', 'chacha20-poly1305'],
  'aes128-sha256': ['-evp', 'aes-128-cbc'],
  'aes256-sha256': ['-evp', 'aes-256-cbc'],
};

function speed(args: string[], bytes: number, seconds: number): number {
  const out = execFileSync('openssl', ['speed', ...args, '-bytes', String(bytes), '-seconds', String(seconds), '-mr'], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'ignore'],
    timeout: 30_000,
  });
  const m = /^\+F:\d+:[^:]+:([\d.]+)/m.exec(out);
  if (!m) throw new Error(`unexpected openssl speed output: ${out.slice(0, 200)}`);
  return Number(m[1]); // bytes per second
}

/** Bytes per second, or NaN when openssl is missing or fails. */
export function opensslCeiling(suite: CipherSuite, bytes: number, seconds = 1): number {
  try {
    const enc = speed(EVP[suite], bytes, seconds);
    if (!suite.endsWith('sha256')) return enc;
    const mac = speed(['-hmac', 'sha256'], bytes, seconds);
    return 1 / (1 / enc + 1 / mac);
  } catch {
    return NaN;
  }
}

export function opensslVersion(): string {
  try {
    return execFileSync('openssl', ['version'], { encoding: 'utf8' }).trim();
  } catch {
    return 'openssl not found';
  }
}
