import { randomBytes } from 'node:crypto';

/** `keyline genpsk`: 32 random bytes in the key file's own notation, like `wg genpsk`. */
export async function genpsk(): Promise<number> {
  console.log('base64:' + randomBytes(32).toString('base64'));
  return 0;
}
