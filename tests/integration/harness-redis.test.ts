import * as assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  type RedisCluster,
  type RedisSentinel,
  type RedisServer,
  startRedis,
  startRedisCluster,
  startRedisSentinel,
} from '../harness/redis.js';

describe('redis harness: one server', () => {
  let redis: RedisServer;
  before(async () => {
    redis = await startRedis();
  });
  after(() => redis?.stop());

  test('answers PING on a free loopback port without persistence', async () => {
    assert.equal(await redis.cli('PING'), 'PONG');
    assert.notEqual(redis.port, 6379);
    assert.equal(redis.url, `redis://127.0.0.1:${redis.port}`);
    assert.equal(await redis.cli('CONFIG', 'GET', 'save'), 'save\n');
  });

  test('comes back on the same port after a kill', async () => {
    await redis.cli('SET', 'k', 'v');
    await redis.kill();
    await redis.restart();
    assert.equal(await redis.cli('PING'), 'PONG');
    assert.equal(await redis.cli('GET', 'k'), '');
  });
});

describe('redis harness: password', () => {
  let redis: RedisServer;
  before(async () => {
    redis = await startRedis({ password: 'p@ss word' });
  });
  after(() => redis?.stop());

  test('requires the password and puts it in the URL', async () => {
    assert.equal(await redis.cli('PING'), 'PONG');
    assert.equal(redis.url, `redis://:p%40ss%20word@127.0.0.1:${redis.port}`);
  });
});

describe('redis harness: cluster', () => {
  let cluster: RedisCluster;
  before(async () => {
    cluster = await startRedisCluster();
  });
  after(() => cluster?.stop());

  test('reaches cluster_state:ok and routes SET/GET with redis-cli -c', async () => {
    assert.equal(cluster.nodes.length, 3);
    const [first] = cluster.servers;
    assert.match(await first!.cli('CLUSTER', 'INFO'), /cluster_state:ok/);
    for (const key of ['a', 'b', 'c', 'd']) {
      assert.equal(await first!.cli('-c', 'SET', key, `value-${key}`), 'OK');
    }
    for (const server of cluster.servers) {
      assert.equal(await server.cli('-c', 'GET', 'c'), 'value-c');
    }
  });
});

describe('redis harness: sentinel', () => {
  let group: RedisSentinel;
  before(async () => {
    group = await startRedisSentinel();
  });
  after(() => group?.stop());

  test('the sentinels report the master, and follow a failover', async () => {
    const original = group.master;
    const promoted = group.replica;
    for (let i = 0; i < group.sentinels.length; i++) {
      const answer = await group.sentinelCli(i, 'SENTINEL', 'get-master-addr-by-name', group.masterName);
      assert.equal(answer, `127.0.0.1\n${original.port}`);
    }
    await group.failover();
    assert.equal(group.master, promoted);
    assert.equal(group.replica, original);
    for (let i = 0; i < group.sentinels.length; i++) {
      const answer = await group.sentinelCli(i, 'SENTINEL', 'get-master-addr-by-name', group.masterName);
      assert.equal(answer, `127.0.0.1\n${promoted.port}`);
    }
    assert.equal(await group.master.cli('SET', 'after-failover', '1'), 'OK');
  });
});
