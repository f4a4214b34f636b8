/** Entry point of `npm run soak` (bundled to dist/keyline-soak.mjs): see soak.ts. */
import { main } from './soak.js';

main(process.argv.slice(2)).catch((e: unknown) => {
  console.error(`soak: ${(e as Error).stack ?? String(e)}`);
  process.exit(1);
});
