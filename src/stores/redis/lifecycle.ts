/**
 * The Redis store's lifecycle abilities (stores/types.ts `RevocationLog`, `Inventory`):
 * `revocations:{name}` is a list of JSON records, newest first; listing SCANs `cert:{*}` (every master of
 * a Cluster); retiring deletes `cert:`, `history:`, `attempts:`, `revocations:`, `lock:` and `deployed:` of the name in
 * one MULTI/EXEC (one slot: `{name}` is the hash tag). Redis keeps no archive: the JSON report of
 * `prune` is the record of what went.
 */
import { Cluster } from 'ioredis';
import { CERT_NAME_PATTERN, redisKeys } from '../keys.js';
import { decodeRevocations } from '../revocation-record.js';
import type { RetireResult, RevocationRecord } from '../types.js';
import type { Client, RedisConnection } from './connection.js';
import type { StoreLabel } from './errors.js';
import { isWrongType, keyTypes, namingWrongType } from './key-types.js';

/** Glob characters of SCAN MATCH, escaped so a key prefix is matched literally. */
function escapeGlob(text: string): string {
  return text.replace(/[*?[\]\\]/g, (c) => `\\${c}`);
}

/** The SCAN MATCH pattern of every `cert:{name}` key under `keyPrefix`. */
export function certKeysPattern(keyPrefix: string): string {
  return `${escapeGlob(redisKeys.cert(keyPrefix, '').slice(0, -1))}*}`;
}

/**
 * One SCAN step of `match` on every master (COUNT 1): what the dry run asks to prove listing is allowed,
 * without reading a large store. Rejects with the server's error (an ACL's NOPERM for `scan`).
 */
export async function scanOnce(client: Client, match: string): Promise<void> {
  for (const node of client instanceof Cluster ? client.nodes('master') : [client])
    await node.scan('0', 'MATCH', match, 'COUNT', 1);
}

async function scanKeys(client: Client, match: string): Promise<string[]> {
  const nodes = client instanceof Cluster ? client.nodes('master') : [client];
  const keys: string[] = [];
  for (const node of nodes) {
    let cursor = '0';
    do {
      const [next, batch] = await node.scan(cursor, 'MATCH', match, 'COUNT', 1000);
      cursor = next;
      keys.push(...batch);
    } while (cursor !== '0');
  }
  return keys;
}

export async function listRedisNames(connection: RedisConnection, keyPrefix: string): Promise<string[]> {
  const open = redisKeys.cert(keyPrefix, '').slice(0, -1); // `<prefix>cert:{`
  const keys = await connection.run('list certificates', 'read', (client) =>
    scanKeys(client, certKeysPattern(keyPrefix)),
  );
  const names = new Set<string>();
  for (const key of keys) {
    const name = key.slice(open.length, -1);
    if (CERT_NAME_PATTERN.test(name) && redisKeys.cert(keyPrefix, name) === key) names.add(name);
  }
  return [...names].sort();
}

/**
 * LRANGE per name (pipelined; per node in a Cluster). The log is advisory: a `revocations:{name}` of
 * another type than a list reads as empty for that name alone, and `onWrongType` hears of it (the key and
 * its type) so it can be named. Rejects only when Redis cannot be asked.
 */
export async function readRedisRevocations(
  connection: RedisConnection,
  keyPrefix: string,
  names: readonly string[],
  onWrongType: (key: string, type: string) => void = () => {},
): Promise<Map<string, RevocationRecord[]>> {
  const lists = await connection.run('read revocations', 'read', async (client) => {
    const keys = names.map((n) => redisKeys.revocations(keyPrefix, n));
    const wrong: string[] = [];
    const emptyIfWrongType = (key: string, error: unknown): string[] => {
      if (!isWrongType(error)) throw error;
      wrong.push(key);
      return [];
    };
    let replies: string[][];
    if (client instanceof Cluster) {
      replies = await Promise.all(
        keys.map((key) => client.lrange(key, 0, -1).catch((error: unknown) => emptyIfWrongType(key, error))),
      );
    } else {
      // One pipeline, one write: 10,000 separate commands cost 10,000 socket writes.
      const pipeline = client.pipeline();
      for (const key of keys) pipeline.lrange(key, 0, -1);
      replies = ((await pipeline.exec()) ?? []).map(([error, value], i) =>
        error ? emptyIfWrongType(keys[i] ?? '', error) : ((value ?? []) as string[]),
      );
    }
    if (wrong.length > 0) {
      const types = await keyTypes(client, wrong);
      wrong.forEach((key, i) => {
        onWrongType(key, types[i] ?? '?');
      });
    }
    return replies;
  });
  return new Map(
    names.map((n, i) => [n, (lists[i] ?? []).flatMap((value) => decodeRevocations(`[${value}]`))]),
  );
}

export async function appendRedisRevocation(
  connection: RedisConnection,
  label: StoreLabel,
  keyPrefix: string,
  name: string,
  record: RevocationRecord,
): Promise<void> {
  const what = `record the revocation of certificate "${name}"`;
  const key = redisKeys.revocations(keyPrefix, name);
  await connection.run(what, 'write', (client) =>
    namingWrongType(client, label, what, [[key, 'list']], () => client.lpush(key, JSON.stringify(record))),
  );
}

export async function retireRedis(
  connection: RedisConnection,
  keyPrefix: string,
  name: string,
): Promise<RetireResult> {
  const keys = [
    redisKeys.cert(keyPrefix, name),
    redisKeys.history(keyPrefix, name),
    redisKeys.attempts(keyPrefix, name),
    redisKeys.revocations(keyPrefix, name),
    redisKeys.lock(keyPrefix, name),
    redisKeys.deployed(keyPrefix, name),
  ];
  await connection.run(`remove certificate "${name}"`, 'write', async (client) => {
    const replies = await client
      .multi()
      .del(...keys)
      .exec();
    if (!replies) throw new Error('the transaction was aborted');
    for (const [error] of replies) if (error) throw error;
  });
  return { removed: keys };
}
