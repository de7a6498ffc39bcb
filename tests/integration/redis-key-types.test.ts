/**
 * Keys of the wrong Redis type (set by hand, another tool sharing the prefix): one bad key affects only
 * its certificate, is named with its type, and a save never half-happens — against a real redis-server and
 * a real three-master Cluster (whose reads go key by key and answer WRONGTYPE instead of nil).
 */
import * as assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Cluster } from 'ioredis';
import type { CertRenewError } from '../../src/errors.js';
import { PartialLoadError } from '../../src/stores/partial.js';
import type { RedisStore } from '../../src/stores/redis/index.js';
import { type RedisCluster, type RedisServer, startRedis, startRedisCluster } from '../harness/redis.js';
import {
  makeCertificates,
  memoryLogger,
  openStore,
  type TestCertificate,
  testContext,
} from './redis-fixtures.js';

let certs: TestCertificate[];
const stores: RedisStore[] = [];

before(async () => {
  certs = await makeCertificates(2);
});
after(async () => {
  await Promise.allSettled(stores.map((s) => s.close()));
});

/** The commands the tests run against the server (redis-cli, or a Cluster client), as strings. */
type Cli = (...args: string[]) => Promise<string>;

/** The same checks against one Redis and a Cluster; `cli` writes the bad keys. */
async function checkWrongTypes(store: RedisStore, cli: Cli, logLines: string[]): Promise<void> {
  const [a, b] = certs as [TestCertificate, TestCertificate];
  const names = ['c1', 'c2', 'c3', 'c4', 'c5', 'c6'];
  for (const name of names) {
    await store.save(name, a.bundle, a.meta(name));
    await store.recordDeployment(name, 'vm', { fingerprint: a.meta(name).fingerprint });
  }

  // deployed:{c4} a string: only c4's deployments are unreadable, named with the key, its type, what to do.
  await cli('SET', 't7:deployed:{c4}', 'oops');
  // The batch rejects with a PartialLoadError: what was read, and c4's error alone.
  const partial = await store.loadDeployments(names).then(
    () => assert.fail('c4 is not readable'),
    (error: unknown) => error,
  );
  assert.ok(partial instanceof PartialLoadError, String(partial));
  const deployments = partial.loaded as ReadonlyMap<string, Record<string, unknown>>;
  for (const name of names.filter((n) => n !== 'c4')) {
    assert.deepEqual(Object.keys(deployments.get(name) ?? {}), ['vm'], name);
  }
  assert.deepEqual([...partial.failed.keys()], ['c4'], 'c4 alone is an error');
  const bad = partial.failed.get('c4');
  assert.ok(bad);
  assert.equal(bad.code, 'STORE_CORRUPT');
  assert.match(
    bad.message,
    /cannot load the deployments of "c4": t7:deployed:\{c4\} holds a string, not the hash cert-renew keeps there: delete it \(DEL t7:deployed:\{c4\}\)/,
  );
  console.log(`deployed wrong type: ${bad.oneLine}`);
  // Recording this host's deployment there names the key too, and leaves it alone.
  await assert.rejects(store.recordDeployment('c4', 'vm', {}), (error: CertRenewError) => {
    assert.equal(error.code, 'STORE_CORRUPT');
    assert.match(error.message, /record the deployment of "c4" on vm: t7:deployed:\{c4\} holds a string/);
    return true;
  });
  assert.equal(await cli('GET', 't7:deployed:{c4}'), 'oops');

  // cert:{c1} a hash: an error (not missing, and not reissued over), naming the key and its type; the others read as before.
  await cli('DEL', 't7:cert:{c1}');
  await cli('HSET', 't7:cert:{c1}', 'fullchain_pem', 'x');
  // attempts:{c2} a list: advisory, reads as none.
  await cli('RPUSH', 't7:attempts:{c2}', 'x');
  const loaded = await store.loadMany(names);
  const c1 = loaded.get('c1');
  assert.equal(c1?.state, 'error');
  assert.match(
    c1?.state === 'error' ? c1.failure.message : '',
    /cannot load certificate "c1": t7:cert:\{c1\} holds a hash, not the string/,
  );
  assert.equal(c1?.state === 'error' ? c1.failure.code : '', 'STORE_CORRUPT');
  for (const name of names.filter((n) => n !== 'c1')) assert.equal(loaded.get(name)?.state, 'present', name);
  assert.equal(loaded.get('c2')?.attempts, undefined);
  // The save refuses it, naming the key, and leaves it alone.
  await assert.rejects(store.save('c1', b.bundle, b.meta('c1')), (error: CertRenewError) => {
    assert.equal(error.code, 'STORE_CORRUPT');
    assert.match(error.message, /cannot save certificate "c1": t7:cert:\{c1\} holds a hash/);
    return true;
  });
  assert.equal(await cli('HGET', 't7:cert:{c1}', 'fullchain_pem'), 'x');

  // history:{c3} a string: the save is refused before anything is written; the current value stays.
  const before = await cli('GET', 't7:cert:{c3}');
  await cli('SET', 't7:history:{c3}', 'oops');
  await assert.rejects(store.save('c3', b.bundle, b.meta('c3')), (error: CertRenewError) => {
    assert.equal(error.code, 'STORE_CORRUPT');
    assert.match(
      error.message,
      /cannot save certificate "c3": t7:history:\{c3\} holds a string, not the list cert-renew keeps there/,
    );
    return true;
  });
  assert.equal(await cli('GET', 't7:cert:{c3}'), before, 'the certificate was not replaced');
  assert.equal(await cli('GET', 't7:history:{c3}'), 'oops');
  // Rollback reads that history: the key is named, nothing changes.
  await assert.rejects(store.rollback('c3'), /roll back certificate "c3": t7:history:\{c3\} holds a string/);
  await assert.rejects(
    store.rollback('c3', { usable: () => true }),
    /read the history of certificate "c3": t7:history:\{c3\} holds a string/,
  );
  assert.equal(await cli('GET', 't7:cert:{c3}'), before);

  // revocations:{c5} a hash: the log is advisory (empty for c5), and the key is named in a warning.
  await cli('HSET', 't7:revocations:{c5}', 'a', 'b');
  const revocations = await store.revocations(names);
  assert.deepEqual(revocations.get('c5'), []);
  assert.ok(
    logLines.some((l) => /t7:revocations:\{c5\} holds a hash, not the list/.test(l)),
    logLines.join('\n'),
  );
  await assert.rejects(
    store.recordRevocation('c5', {
      serial: '01',
      fingerprint: 'AB',
      notAfter: new Date().toISOString(),
      reason: 'superseded',
      revokedAt: new Date().toISOString(),
      issuer: 'test-ca',
      via: 'test',
    }),
    /record the revocation of certificate "c5": t7:revocations:\{c5\} holds a hash/,
  );

  // A good save still keeps the history.
  await store.save('c6', b.bundle, b.meta('c6'));
  const c6 = await store.load('c6');
  assert.equal(c6.state === 'present' && c6.cert.meta?.serial, b.meta('c6').serial);
  assert.equal(await store.rollback('c6'), true);
}

describe('one Redis', () => {
  let redis: RedisServer;
  before(async () => {
    redis = await startRedis();
  });
  after(async () => {
    await redis?.stop();
  });

  test('a wrongly typed key affects its certificate alone, is named, and a save is all or nothing', async () => {
    const logger = memoryLogger();
    const store = await openStore({ url: redis.url, keyPrefix: 't7:' }, testContext({ logger }));
    stores.push(store);
    await checkWrongTypes(store, (...args) => redis.cli(...args), logger.lines);
  });
});

describe('Cluster', () => {
  let cluster: RedisCluster;
  let client: Cluster;
  before(async () => {
    cluster = await startRedisCluster();
    client = new Cluster(cluster.nodes);
  });
  after(async () => {
    client?.disconnect();
    await cluster?.stop();
  });

  test('the same, key by key across the nodes', async () => {
    const logger = memoryLogger();
    const store = await openStore(
      { cluster: { nodes: cluster.nodes.slice(0, 1) }, keyPrefix: 't7:' },
      testContext({ logger }),
    );
    stores.push(store);
    const cli: Cli = async (command, ...args) => {
      const reply = await client.call(command ?? '', ...args);
      return reply === null ? '' : String(reply);
    };
    await checkWrongTypes(store, cli, logger.lines);
  });
});
