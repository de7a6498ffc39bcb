/**
 * The Redis store refuses a keyPrefix with "{" or "}" when it is opened (a manifest that skipped
 * `validate`): a brace would break the `{name}` Cluster hash tag. Opening connects to nothing.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CertRenewError } from '../../src/errors.js';
import type { RedisStoreConfig } from '../../src/manifest/types.js';
import { RedisStore } from '../../src/stores/redis/index.js';
import { testContext } from './redis-fixtures.js';

test('RedisStore.open refuses a keyPrefix with a brace, for a single Redis, Sentinel and Cluster', async () => {
  const configs: RedisStoreConfig[] = [
    { type: 'redis', url: 'redis://127.0.0.1:1/0', keyPrefix: 'app{x:' },
    {
      type: 'redis',
      sentinel: { sentinels: [{ host: '127.0.0.1', port: 1 }], name: 'm' },
      keyPrefix: 'x}:',
    },
    { type: 'redis', cluster: { nodes: [{ host: '127.0.0.1', port: 1 }] }, keyPrefix: '{t}' },
  ];
  for (const config of configs) {
    await assert.rejects(RedisStore.open('shared', config, testContext()), (error: unknown) => {
      assert.ok(error instanceof CertRenewError);
      assert.equal(error.code, 'MANIFEST_INVALID');
      assert.equal(error.exitCode, 2);
      assert.match(error.message, /^store "shared": keyPrefix '.*' contains "\{" or "\}"/);
      return true;
    });
  }
});

test('RedisStore.open accepts a keyPrefix without braces', async () => {
  const store = await RedisStore.open(
    'shared',
    { type: 'redis', url: 'redis://127.0.0.1:1/0', keyPrefix: 'certs:prod-1.' },
    testContext(),
  );
  await store.close();
});
