/**
 * Saves are confirmed on a replica (WAIT) when the master has one: a save no replica acknowledged is not
 * claimed (STORE_WRITE_FAILED naming the certificate and what was and was not confirmed). The replica is
 * stopped with SIGSTOP, so no acknowledgement can come: deterministic, no timing assertion.
 */
import * as assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { CertRenewError } from '../../src/errors.js';
import type { RedisStore } from '../../src/stores/redis/index.js';
import { freePort } from '../harness/process.js';
import { type RedisServer, startRedis, startRedisCluster, startRedisSentinel } from '../harness/redis.js';
import { makeCertificates, openStore, type TestCertificate } from './redis-fixtures.js';

let master: RedisServer;
let replica: RedisServer;
let certs: TestCertificate[];
const stores: RedisStore[] = [];

/** Polls `check` every 100 ms; fails after a minute (a hang guard, not a timing assertion). */
async function until(what: string, check: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 600; i++) {
    if (await check()) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  assert.fail(`${what}: not within a minute`);
}

/** The pid of a redis-server, from INFO server. */
async function pidOf(server: RedisServer): Promise<number> {
  const pid = /process_id:(\d+)/.exec(await server.cli('INFO', 'server'))?.[1];
  assert.ok(pid, 'INFO server names the process');
  return Number(pid);
}

before(async () => {
  certs = await makeCertificates(2);
  master = await startRedis();
  replica = await startRedis({ args: ['--replicaof', '127.0.0.1', String(master.port)] });
  // Bounded: the replica syncs within seconds on any machine (a hang guard, not a timing assertion).
  for (let i = 0; i < 600; i++) {
    if ((await replica.cli('INFO', 'replication')).includes('master_link_status:up')) break;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  assert.match(await master.cli('INFO', 'replication'), /connected_slaves:1/);
});

after(async () => {
  await Promise.allSettled(stores.map((s) => s.close()));
  await Promise.allSettled([replica?.stop(), master?.stop()]);
});

test('a save is confirmed by the replica; one no replica acknowledged is not claimed', async () => {
  const [a, b] = certs as [TestCertificate, TestCertificate];
  const store = await openStore({ url: master.url, keyPrefix: 'r:' });
  stores.push(store);

  await store.save('web', a.bundle, a.meta('web'));
  // WAIT returned only once the replica had it.
  assert.equal(JSON.parse(await replica.cli('GET', 'r:cert:{web}')).serial, a.meta('web').serial);

  const pid = await pidOf(replica);
  process.kill(pid, 'SIGSTOP');
  try {
    await assert.rejects(store.save('web', b.bundle, b.meta('web')), (error: CertRenewError) => {
      assert.equal(error.code, 'STORE_WRITE_FAILED');
      assert.equal(error.transient, true);
      assert.match(
        error.message,
        new RegExp(
          `certificate "web" \\(serial ${b.meta('web').serial}\\) was written to the master, but no replica acknowledged it within 5 s: a failover now would lose it, so it is not reported renewed and no hooks ran`,
        ),
      );
      assert.match(error.hint ?? '', /INFO replication/);
      console.log(`unconfirmed: ${error.oneLine}`);
      return true;
    });
    // Once the replica has been silent for over 10 s, a save does not wait for it: unconfirmed at once.
    await until('the master to see the replica silent for over 10 s', async () => {
      const lag = /slave0:.*lag=(\d+)/.exec(await master.cli('INFO', 'replication'))?.[1];
      return Number(lag) > 10;
    });
    await assert.rejects(store.save('web', a.bundle, a.meta('web')), (error: CertRenewError) => {
      assert.equal(error.code, 'STORE_WRITE_FAILED');
      assert.match(
        error.message,
        /was written to the master, but no replica has acknowledged anything for over 10 s/,
      );
      return true;
    });
  } finally {
    process.kill(pid, 'SIGCONT');
  }
  // The master has it (the next run deploys it if it is still there after a failover).
  assert.equal(JSON.parse(await master.cli('GET', 'r:cert:{web}')).serial, a.meta('web').serial);
});

test('Sentinel: a save returns once the replica has it, so a failover right after keeps it', async () => {
  const [a, b] = certs as [TestCertificate, TestCertificate];
  const group = await startRedisSentinel();
  try {
    const config = { sentinel: { sentinels: group.sentinels, name: group.masterName }, keyPrefix: 's:' };
    const store = await openStore(config);
    stores.push(store);
    await store.save('s2', a.bundle, a.meta('s2'));
    await store.save('s2', b.bundle, b.meta('s2'));
    // No WAIT of the test's own: the save's WAIT already saw the replica acknowledge it.
    assert.equal(JSON.parse(await group.replica.cli('GET', 's:cert:{s2}')).serial, b.meta('s2').serial);
    await group.failover();
    const loaded = await store.load('s2');
    assert.equal(loaded.state === 'present' && loaded.cert.meta?.serial, b.meta('s2').serial);
  } finally {
    await group.stop();
  }
});

test('Sentinel: a master with no replica connected (as in a failover under way) does not confirm a save', async () => {
  const [a] = certs as [TestCertificate, TestCertificate];
  const group = await startRedisSentinel();
  try {
    const store = await openStore({
      sentinel: { sentinels: group.sentinels, name: group.masterName },
      keyPrefix: 'n:',
    });
    stores.push(store);
    // During a failover the old master loses its replica first; here the replica is gone for good.
    await group.replica.kill();
    await until('the master to see no replica', async () =>
      /connected_slaves:0/.test(await group.master.cli('INFO', 'replication')),
    );
    await assert.rejects(store.save('n1', a.bundle, a.meta('n1')), (error: CertRenewError) => {
      assert.equal(error.code, 'STORE_WRITE_FAILED');
      assert.match(
        error.message,
        /certificate "n1" .*was written to the master, but the master had no replica connected \(a failover may be under way\) and none acknowledged it/,
      );
      return true;
    });
    // A plain URL to the same server has no failover to lose it in: saved and confirmed as before.
    const plain = await openStore({ url: group.master.url, keyPrefix: 'p:' });
    stores.push(plain);
    await plain.save('p1', a.bundle, a.meta('p1'));
  } finally {
    await group.stop();
  }
});

test('Cluster: the save waits for a replica of the node of its slot; none acknowledging is not claimed', async () => {
  const [a, b] = certs as [TestCertificate, TestCertificate];
  const cluster = await startRedisCluster();
  let replicaNode: RedisServer | undefined;
  try {
    // The master of the certificate's slot gets a replica.
    const first = cluster.servers[0]!;
    const slot = Number(await first.cli('CLUSTER', 'KEYSLOT', 'x:cert:{web}'));
    const nodes = (await first.cli('CLUSTER', 'NODES')).split('\n').map((l) => l.split(' '));
    const owner = nodes.find((n) =>
      n.slice(8).some((range) => {
        const [from, to] = range.split('-').map(Number);
        return from !== undefined && slot >= from && slot <= (to ?? from);
      }),
    );
    assert.ok(owner, 'a master serves the slot');
    const [id, address] = owner as [string, string];
    const [, port, bus] = /:(\d+)@(\d+)/.exec(address) ?? [];
    replicaNode = await startRedis({
      args: [
        '--cluster-enabled',
        'yes',
        '--cluster-port',
        String(await freePort()),
        '--cluster-node-timeout',
        '2000',
      ],
    });
    const joined = replicaNode;
    await joined.cli('CLUSTER', 'MEET', '127.0.0.1', String(port), String(bus));
    await until('the new node to know the master', async () =>
      (await joined.cli('CLUSTER', 'NODES')).includes(id),
    );
    await until(
      'the new node to replicate the master',
      async () => (await joined.cli('CLUSTER', 'REPLICATE', id)) === 'OK',
    );
    const master = cluster.servers.find((s) => s.port === Number(port))!;
    await until('the replica to sync', async () =>
      (await joined.cli('INFO', 'replication')).includes('master_link_status:up'),
    );

    const store = await openStore({ cluster: { nodes: cluster.nodes }, keyPrefix: 'x:' });
    stores.push(store);
    await store.save('web', a.bundle, a.meta('web'));
    assert.match(await master.cli('INFO', 'replication'), /connected_slaves:1/);
    // (A GET on a Cluster replica answers MOVED; KEYS does not redirect.)
    assert.match(await joined.cli('KEYS', 'x:cert:*'), /x:cert:\{web\}/);

    const pid = await pidOf(joined);
    process.kill(pid, 'SIGSTOP');
    try {
      await assert.rejects(store.save('web', b.bundle, b.meta('web')), (error: CertRenewError) => {
        assert.equal(error.code, 'STORE_WRITE_FAILED');
        assert.match(error.message, /certificate "web" .* no replica acknowledged it within 5 s/);
        return true;
      });
    } finally {
      process.kill(pid, 'SIGCONT');
    }
  } finally {
    await replicaNode?.stop();
    await cluster.stop();
  }
});
