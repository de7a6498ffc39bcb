/**
 * Keys of the wrong Redis type (a `deployed:{name}` set by hand with SET, a `cert:{name}` made a hash):
 * found per key, so one bad key affects only its certificate, and named in one line with its type and
 * what to do. docs/stores.md "Keys of the wrong type".
 */
import { CertRenewError, describeError, ErrorCode } from '../../errors.js';
import type { Client } from './connection.js';
import type { StoreLabel } from './errors.js';

/** What cert-renew keeps in each kind of key (the Redis TYPE it expects). */
export type KeyKind = 'string' | 'list' | 'hash';

/** True for a WRONGTYPE reply (a command against a key holding another kind of value). */
export function isWrongType(error: unknown): boolean {
  return /^WRONGTYPE/.test(describeError(error));
}

/** TYPE of each key, in one round trip (pipelined; auto-pipelined per node in a Cluster). */
export async function keyTypes(client: Client, keys: readonly string[]): Promise<string[]> {
  return Promise.all(keys.map((key) => client.type(key)));
}

/**
 * `P:deployed:{c4} holds a string, not the hash cert-renew keeps there: delete it (DEL P:deployed:{c4}) or
 * make it a hash again` — the key, its type, what to do.
 */
export function wrongTypeText(key: string, type: string, expected: KeyKind): string {
  return `${key} holds a ${type}, not the ${expected} cert-renew keeps there: delete it (DEL ${key}) if nothing else uses it, or write it back as a ${expected}`;
}

/**
 * STORE_CORRUPT naming the store and the key, reading or writing (not transient: it stays until someone
 * fixes the key; nothing was written).
 */
export function wrongTypeError(
  store: StoreLabel,
  what: string,
  key: string,
  type: string,
  expected: KeyKind,
): CertRenewError {
  return new CertRenewError(
    ErrorCode.storeCorrupt,
    `redis store "${store.name}" (${store.address}): cannot ${what}: ${wrongTypeText(key, type, expected)}`,
  );
}

/**
 * Runs `action`; when Redis answers WRONGTYPE, asks the TYPE of each key in `expected` and throws
 * STORE_CORRUPT naming the first one that holds another kind of value (or the WRONGTYPE error itself when
 * none does). Nothing is written by a command that answered WRONGTYPE.
 */
export async function namingWrongType<T>(
  client: Client,
  store: StoreLabel,
  what: string,
  expected: readonly [string, KeyKind][],
  action: () => Promise<T>,
): Promise<T> {
  try {
    return await action();
  } catch (error) {
    if (!isWrongType(error)) throw error;
    const types = await keyTypes(
      client,
      expected.map(([key]) => key),
    );
    const index = expected.findIndex(([, kind], i) => types[i] !== 'none' && types[i] !== kind);
    const bad = expected[index];
    if (!bad) throw error;
    throw wrongTypeError(store, what, bad[0], types[index] ?? '?', bad[1]);
  }
}
