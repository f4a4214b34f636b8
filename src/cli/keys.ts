import { randomBytes } from 'node:crypto';

/** `keyline genpsk`: 32 random bytes in the key file's own notation, like `wg genpsk`. */
export async function genpsk(): Promise<number> {
  console.log('base64:' + randomBytes(32).toString('base64'));
  return 0;
}

/** `keyline genkey`: a new X25519 private key for keying=x25519-static (bare base64, like `wg genkey`). */
export async function genkey(): Promise<number> {
  const { newPrivateKey } = await import('../inline/keys.js');
  console.log(Buffer.from(newPrivateKey()).toString('base64'));
  return 0;
}

/** `keyline pubkey`: the public key of the private key on stdin (like `wg pubkey`). */
export async function pubkey(): Promise<number> {
  const { publicFromPrivate } = await import('../inline/keys.js');
  const { x25519Key } = await import('../config/secret.js');
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  const text = Buffer.concat(chunks).toString('utf8').trim();
  let priv: Uint8Array;
  try {
    priv = x25519Key(true).parse(text, { readFile: () => '', baseDir: '.' });
  } catch (e) {
    console.error(`keyline: pubkey: stdin is not a private key from 'keyline genkey': ${(e as Error).message}`);
    return 2;
  }
  console.log(Buffer.from(publicFromPrivate(priv)).toString('base64'));
  return 0;
}
