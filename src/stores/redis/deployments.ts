/**
 * Deployment state in Redis: `deployed:{name}` (keys.ts), a hash from host id to that host's entry (the
 * shared JSON of stores/deployment-record.ts). The `{name}` hash tag keeps it in the certificate's slot.
 * Each host writes only its own field (HSET), so hosts never race each other.
 */
import { Cluster } from 'ioredis';
import type { CertRenewError } from '../../errors.js';
import { decodeHostDeployment, encodeHostDeployment } from '../deployment-record.js';
import { redisKeys } from '../keys.js';
import { PartialLoadError } from '../partial.js';
import { type Deployments, HOST_ID_PATTERN, type HostDeployment } from '../types.js';
import type { RedisConnection } from './connection.js';
import type { StoreLabel } from './errors.js';
import { isWrongType, keyTypes, namingWrongType, wrongTypeError } from './key-types.js';

/**
 * HGETALL per name, sent at once (pipelined by ioredis; per node in a Cluster). A name that cannot be read
 * fails alone (PartialLoadError): a Cluster node down, or a `deployed:{name}` of another type than a hash
 * (STORE_CORRUPT naming the key, its type and what to do).
 */
export async function loadDeployments(
  connection: RedisConnection,
  label: StoreLabel,
  keyPrefix: string,
  names: readonly string[],
): Promise<Map<string, Deployments>> {
  const unique = [...new Set(names)];
  const what =
    unique.length === 1
      ? `load deployments of "${unique[0]}"`
      : `load deployments of ${unique.length} certificates`;
  type Hash = PromiseSettledResult<Record<string, string>>;
  /** key → its type, for keys that answered WRONGTYPE. */
  const wrongTypes = new Map<string, string>();
  const hashes = await connection.run(what, 'read', async (client): Promise<Hash[]> => {
    const keys = unique.map((n) => redisKeys.deployed(keyPrefix, n));
    let settled: Hash[];
    if (client instanceof Cluster) {
      // A node down (cluster-require-full-coverage no): the names it serves fail, the others are read.
      settled = await Promise.allSettled(keys.map((key) => client.hgetall(key)));
      const failure = settled.find((s) => s.status === 'rejected' && !isWrongType(s.reason));
      if (
        failure?.status === 'rejected' &&
        !settled.some((s) => s.status === 'fulfilled' || isWrongType(s.reason))
      )
        throw failure.reason;
    } else {
      const pipeline = client.pipeline();
      for (const key of keys) pipeline.hgetall(key);
      const replies = (await pipeline.exec()) ?? [];
      settled = replies.map(([error, value]): Hash => {
        // A wrongly typed key fails its name alone; any other error the whole batch, as before.
        if (error && !isWrongType(error)) throw error;
        if (error) return { status: 'rejected', reason: error };
        return { status: 'fulfilled', value: (value ?? {}) as Record<string, string> };
      });
    }
    const wrong = keys.filter((_, i) => {
      const s = settled[i];
      return s?.status === 'rejected' && isWrongType(s.reason);
    });
    if (wrong.length > 0) {
      const types = await keyTypes(client, wrong);
      wrong.forEach((key, i) => {
        wrongTypes.set(key, types[i] ?? '?');
      });
    }
    return settled;
  });
  const result = new Map<string, Deployments>();
  const failed = new Map<string, CertRenewError>();
  unique.forEach((name, i) => {
    const hosts: Deployments = {};
    const reply = hashes[i];
    const key = redisKeys.deployed(keyPrefix, name);
    const type = wrongTypes.get(key);
    if (reply?.status === 'rejected' && type !== undefined) {
      failed.set(name, wrongTypeError(label, `load the deployments of "${name}"`, key, type, 'hash'));
      return;
    }
    if (reply?.status === 'rejected') {
      failed.set(name, connection.keyFailure(`load deployments of "${name}"`, key, reply.reason));
      return;
    }
    const hash = reply?.value;
    for (const [host, text] of Object.entries(hash ?? {}).sort(([a], [b]) => (a < b ? -1 : 1))) {
      // An entry that is not ours to read still names a host: shown as one that deployed nothing known
      // (behind), and `prune --host` can remove it.
      if (HOST_ID_PATTERN.test(host)) hosts[host] = decodeHostDeployment(text) ?? {};
    }
    result.set(name, hosts);
  });
  if (failed.size > 0) throw new PartialLoadError(result, failed);
  return result;
}

/** HSET of this host's field. */
export async function recordDeployment(
  connection: RedisConnection,
  label: StoreLabel,
  keyPrefix: string,
  name: string,
  host: string,
  deployment: HostDeployment,
): Promise<void> {
  const what = `record the deployment of "${name}" on ${host}`;
  const key = redisKeys.deployed(keyPrefix, name);
  await connection.run(what, 'write', async (client) => {
    await namingWrongType(client, label, what, [[key, 'hash']], () =>
      client.hset(key, host, encodeHostDeployment(deployment)),
    );
  });
}

/** HDEL of one host's field; true when there was one. */
export async function forgetDeployment(
  connection: RedisConnection,
  keyPrefix: string,
  name: string,
  host: string,
): Promise<boolean> {
  return connection.run(`forget the deployment of "${name}" on ${host}`, 'write', async (client) => {
    return (await client.hdel(redisKeys.deployed(keyPrefix, name), host)) > 0;
  });
}
