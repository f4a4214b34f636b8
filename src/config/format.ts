import type { Schema } from './schema.js';
import { LOCAL_SCHEMA, PEER_SCHEMA } from './schema.js';
import { maskSecret } from './secret.js';
import type { Config } from './types.js';

/**
 * The effective configuration in key-file syntax (for `keyline check`): one entry per line,
 * every key that has a value, defaults included, in table order. Secrets print as
 * `<secret N bytes>`, which on purpose does not parse. Keys without a value and without a
 * default (an unset lifetime, say) are left out: the syntax has no word for "unset".
 */
export function formatConfig(config: Config): string {
  const lines = [`# effective configuration of ${config.file}: defaults included, secrets masked`];
  lines.push(formatEntry('local', LOCAL_SCHEMA, config.local));
  for (const { name, ...keys } of config.peers) lines.push(formatEntry(`peer ${name}`, PEER_SCHEMA, keys));
  return lines.join('\n') + '\n';
}

function formatEntry<C, X>(head: string, schema: Schema<C, X>, value: C): string {
  const parts = [head];
  for (const f of Object.keys(schema) as (keyof C)[]) {
    const v = value[f];
    if (v === undefined) continue;
    const row = schema[f];
    // The secret type masks in format() already; checked here too so no new type can slip.
    const text = row.type.secret ? maskSecret((v as { length: number }).length) : row.type.format(v as NonNullable<C[keyof C]>);
    parts.push(`${row.key}=${text}`);
  }
  return parts.join(' ');
}
