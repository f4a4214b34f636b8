/** Replaced at build time from package.json; 'dev' when run from source. */
declare const KEYLINE_VERSION: string | undefined;
export const VERSION: string = typeof KEYLINE_VERSION === 'string' ? KEYLINE_VERSION : 'dev';
