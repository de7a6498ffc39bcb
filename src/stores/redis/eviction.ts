/**
 * Whether this Redis may evict what cert-renew keeps (docs/stores.md "Redis memory and eviction"): its
 * certificates, their history and the local CA are keys without a TTL, which only an `allkeys-*`
 * `maxmemory-policy` evicts (`volatile-*` policies evict keys with a TTL only; `noeviction` refuses writes
 * instead). Read from `INFO memory` (`maxmemory_policy`) for `run --dry-run`'s store check.
 */
import type { Client } from './connection.js';

/** The policy named in the text of `INFO memory`, or undefined when it is not there. */
export function maxmemoryPolicy(info: string): string | undefined {
  const line = info.split(/\r?\n/).find((l) => l.startsWith('maxmemory_policy:'));
  return line?.slice('maxmemory_policy:'.length).trim() || undefined;
}

/**
 * One line warning that `address` evicts keys without a TTL, or undefined when its policy does not (or
 * cannot be read: an ACL user without `info` proves nothing either way). Never throws.
 */
export async function evictionWarning(client: Client, address: string): Promise<string | undefined> {
  let policy: string | undefined;
  try {
    policy = maxmemoryPolicy(await client.info('memory'));
  } catch {
    return undefined;
  }
  if (!policy?.startsWith('allkeys-')) return undefined;
  return `redis ${address} has maxmemory-policy ${policy}: when it is full it evicts certificates and the local CA (keys without a TTL); use noeviction (or volatile-*) for a store`;
}
