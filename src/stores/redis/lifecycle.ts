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

/** Glob characters of SCAN MATCH, escaped so a key prefix is matched literally. */
function escapeGlob(text: string): string {
  return text.replace(/[*?[\]\\]/g, (c) => `\\${c}`);
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
  const head = redisKeys.cert(keyPrefix, '');
  const open = head.slice(0, -1); // `<prefix>cert:{`
  const keys = await connection.run('list certificates', 'read', (client) =>
    scanKeys(client, `${escapeGlob(open)}*}`),
  );
  const names = new Set<string>();
  for (const key of keys) {
    const name = key.slice(open.length, -1);
    if (CERT_NAME_PATTERN.test(name) && redisKeys.cert(keyPrefix, name) === key) names.add(name);
  }
  return [...names].sort();
}

export async function readRedisRevocations(
  connection: RedisConnection,
  keyPrefix: string,
  names: readonly string[],
): Promise<Map<string, RevocationRecord[]>> {
  const lists = await connection.run('read revocations', 'read', async (client) => {
    if (client instanceof Cluster)
      return Promise.all(names.map((n) => client.lrange(redisKeys.revocations(keyPrefix, n), 0, -1)));
    // One pipeline, one write: 10,000 separate commands cost 10,000 socket writes.
    const pipeline = client.pipeline();
    for (const n of names) pipeline.lrange(redisKeys.revocations(keyPrefix, n), 0, -1);
    const replies = (await pipeline.exec()) ?? [];
    return replies.map(([error, value]) => {
      if (error) throw error;
      return (value ?? []) as string[];
    });
  });
  return new Map(
    names.map((n, i) => [n, (lists[i] ?? []).flatMap((value) => decodeRevocations(`[${value}]`))]),
  );
}

export async function appendRedisRevocation(
  connection: RedisConnection,
  keyPrefix: string,
  name: string,
  record: RevocationRecord,
): Promise<void> {
  await connection.run(`record the revocation of certificate "${name}"`, 'write', (client) =>
    client.lpush(redisKeys.revocations(keyPrefix, name), JSON.stringify(record)),
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
