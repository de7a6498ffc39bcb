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

/** HGETALL per name, sent at once (pipelined by ioredis; per node in a Cluster). */
export async function loadDeployments(
  connection: RedisConnection,
  keyPrefix: string,
  names: readonly string[],
): Promise<Map<string, Deployments>> {
  const unique = [...new Set(names)];
  const what =
    unique.length === 1
      ? `load deployments of "${unique[0]}"`
      : `load deployments of ${unique.length} certificates`;
  type Hash = PromiseSettledResult<Record<string, string>>;
  const hashes = await connection.run(what, 'read', async (client): Promise<Hash[]> => {
    if (client instanceof Cluster) {
      // A node down (cluster-require-full-coverage no): the names it serves fail, the others are read.
      const settled = await Promise.allSettled(
        unique.map((n) => client.hgetall(redisKeys.deployed(keyPrefix, n))),
      );
      const failure = settled.find((s) => s.status === 'rejected');
      if (failure !== undefined && !settled.some((s) => s.status === 'fulfilled')) throw failure.reason;
      return settled;
    }
    const pipeline = client.pipeline();
    for (const n of unique) pipeline.hgetall(redisKeys.deployed(keyPrefix, n));
    const replies = (await pipeline.exec()) ?? [];
    return replies.map(([error, value]): Hash => {
      if (error) throw error;
      return { status: 'fulfilled', value: (value ?? {}) as Record<string, string> };
    });
  });
  const result = new Map<string, Deployments>();
  const failed = new Map<string, CertRenewError>();
  unique.forEach((name, i) => {
    const hosts: Deployments = {};
    const reply = hashes[i];
    if (reply?.status === 'rejected') {
      const node = connection.nodeOf(redisKeys.deployed(keyPrefix, name));
      failed.set(
        name,
        connection.failure(
          `load deployments of "${name}"${node ? ` from node ${node}` : ''}`,
          'read',
          reply.reason,
        ),
      );
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
  keyPrefix: string,
  name: string,
  host: string,
  deployment: HostDeployment,
): Promise<void> {
  await connection.run(`record the deployment of "${name}" on ${host}`, 'write', async (client) => {
    await client.hset(redisKeys.deployed(keyPrefix, name), host, encodeHostDeployment(deployment));
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
