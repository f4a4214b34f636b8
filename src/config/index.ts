/** The key file: parse, validate, load with a permission check, and print it back masked. */
export { parseConfig, type ParseOptions } from './parse.js';
export { loadConfig, DEFAULT_KEY_FILE, type ConfigFs, type LoadOptions } from './load.js';
export { formatConfig } from './format.js';
export { ConfigError, MAX_PROBLEMS } from './errors.js';
export { SecretBytes } from './secret.js';
export { LOCAL_SCHEMA, PEER_SCHEMA, type Row, type Schema } from './schema.js';
export { IMPLEMENTED_KEYING } from './validate.js';
export type { Config, LocalConfig, PeerConfig, Identity, Problem, Keying, DriverName, LogLevel, BackendChoice } from './types.js';
