/**
 * cert-renew's own version, from its package.json (read once per process). Throws node's error when the file
 * cannot be read, which only a broken installation causes.
 */
import { readFileSync } from 'node:fs';

let version: string | undefined;

/** The `version` field of cert-renew's package.json (`1.2.3`). */
export function packageVersion(): string {
  version ??= (
    JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }
  ).version;
  return version;
}
