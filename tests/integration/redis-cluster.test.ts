/**
 * The Redis store against a real three-master Redis Cluster and a real Sentinel set-up (master, replica,
 * three sentinels) with a failover between two uses of the store.
 */
import * as assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { RedisStore } from '../../src/stores/redis/index.js';
import {
  type RedisCluster,
  type RedisSentinel,
  startRedisCluster,
  startRedisSentinel,
} from '../harness/redis.js';
import { keyMatches, makeCertificates, openStore, type TestCertificate } from './redis-fixtures.js';

let certs: TestCertificate[];
const stores: RedisStore[] = [];

before(async () => {
  certs = await makeCertificates(2);
});

after(async () => {
  await Promise.allSettled(stores.map((s) => s.close()));
});

describe('Cluster', () => {
  let cluster: RedisCluster;
  before(async () => {
    cluster = await startRedisCluster();
  });
  after(async () => {
    await cluster?.stop();
  });

  test('a Cluster node given as a plain url: the error says to use `cluster`', async () => {
    const node = cluster.servers[0];
    assert.ok(node);
    const store = await openStore({ url: node.url, keyPrefix: 'u:' });
    stores.push(store);
    // Names spread over the slots: some are not this node's.
    const names = Array.from({ length: 12 }, (_, i) => `n${i}`);
    await assert.rejects(store.loadMany(names), (error: Error & { hint?: string }) => {
      assert.match(error.message, /CROSSSLOT|MOVED/);
      assert.match(
        error.hint ?? '',
        /a Cluster node: give the store `cluster` with its nodes instead of `url`/,
      );
      return true;
    });
  });

  test('save (MULTI/EXEC in one slot), loadMany across nodes, rollback, locks, blobs', async () => {
    const store = await openStore({ cluster: { nodes: cluster.nodes.slice(0, 1) }, keyPrefix: 'c:' });
    stores.push(store);
    const [a, b] = certs as [TestCertificate, TestCertificate];
    const names = Array.from({ length: 40 }, (_, i) => `site-${i}`);
    for (const name of names) await store.save(name, a.bundle, a.meta(name));
    await store.save('site-0', b.bundle, b.meta('site-0'));

    // The keys are spread over the three masters.
    const counts = await Promise.all(cluster.servers.map(async (s) => Number(await s.cli('DBSIZE'))));
    assert.equal(counts.filter((n) => n > 0).length, 3, `keys per node: ${counts.join(',')}`);

    const results = await store.loadMany([...names, 'absent']);
    assert.equal(results.get('absent')?.state, 'missing');
    for (const name of names.slice(1)) {
      const r = results.get(name);
      assert.equal(r?.state === 'present' && r.cert.meta?.name, name);
    }
    const first = results.get('site-0');
    assert.equal(first?.state === 'present' && first.cert.meta?.serial, b.meta('site-0').serial);

    assert.equal(await store.rollback('site-0'), true);
    const back = await store.load('site-0');
    assert.equal(back.state === 'present' && back.cert.meta?.serial, a.meta('site-0').serial);
    assert.ok(back.state === 'present' && keyMatches(back.cert.certPem, back.cert.keyPem));

    const other = await openStore({ cluster: { nodes: cluster.nodes.slice(2) }, keyPrefix: 'c:' });
    stores.push(other);
    const lock = await store.locker().acquire('site-0', { waitMs: 0 });
    assert.ok(lock);
    assert.equal(await other.locker().acquire('site-0', { waitMs: 200 }), undefined);
    await lock.release();
    const taken = await other.locker().acquire('site-0', { waitMs: 0 });
    assert.ok(taken);
    await taken.release();

    assert.equal(await store.putBlob('account/le/a%40b.c', 'k', { ifAbsent: true }), true);
    assert.equal(await other.getBlob('account/le/a%40b.c'), 'k');
    assert.match(await store.checkWritable(), /reachable and writable/);
  });
});

describe('Sentinel', () => {
  let sentinel: RedisSentinel;
  before(async () => {
    sentinel = await startRedisSentinel();
  });
  after(async () => {
    await sentinel?.stop();
  });

  test('a store keeps working across a failover', async () => {
    const config = { sentinel: { sentinels: sentinel.sentinels, name: sentinel.masterName } };
    const store = await openStore(config);
    stores.push(store);
    const [a, b] = certs as [TestCertificate, TestCertificate];
    await store.save('web', a.bundle, a.meta('web'));
    // The replica has it before the failover (WAIT: one replica acknowledged).
    assert.equal(await sentinel.master.cli('WAIT', '1', '60000'), '1');

    await sentinel.failover();

    // The same store (a long run) finds the new master.
    const loaded = await store.load('web');
    assert.equal(loaded.state === 'present' && loaded.cert.meta?.serial, a.meta('web').serial);
    await store.save('web', b.bundle, b.meta('web'));
    assert.equal(JSON.parse(await sentinel.master.cli('GET', 'cert:{web}')).serial, b.meta('web').serial);

    // A new run after the failover.
    const next = await openStore(config);
    stores.push(next);
    const again = await next.load('web');
    assert.equal(again.state === 'present' && again.cert.meta?.serial, b.meta('web').serial);
    assert.equal(await next.rollback('web'), true);
  });
});
