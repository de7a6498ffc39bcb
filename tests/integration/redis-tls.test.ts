/**
 * rediss:// with a private CA (`tls.caBundle`, relative to the manifest) and AUTH from secret references,
 * against a real redis-server with TLS; a CA that did not sign the server's certificate is refused.
 */
import * as assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { RedisStore } from '../../src/stores/redis/index.js';
import { freePort, type TempDir, tempDir } from '../harness/process.js';
import { type RedisServer, startRedis } from '../harness/redis.js';
import { createCa, createLeaf } from '../harness/tls.js';
import { makeCertificates, openStore, testContext } from './redis-fixtures.js';

let dir: TempDir;
let redis: RedisServer;
let tlsPort: number;
const stores: RedisStore[] = [];

before(async () => {
  dir = await tempDir('cert-renew-redis-tls-');
  await mkdir(join(dir.path, 'other'));
  const ca = await createCa(dir.path);
  await createCa(join(dir.path, 'other'));
  const leaf = await createLeaf(ca, dir.path, { names: ['127.0.0.1', 'localhost'], name: 'redis' });
  tlsPort = await freePort();
  redis = await startRedis({
    password: 'tls-secret',
    args: [
      '--tls-port',
      String(tlsPort),
      '--tls-cert-file',
      leaf.certPath,
      '--tls-key-file',
      leaf.keyPath,
      '--tls-ca-cert-file',
      ca.certPath,
      '--tls-auth-clients',
      'no',
    ],
  });
});

after(async () => {
  await Promise.allSettled(stores.map((s) => s.close()));
  await redis?.stop();
  await dir?.remove();
});

test('rediss:// with a CA bundle and a password from a secret reference', async () => {
  const context = testContext({ baseDir: dir.path, env: { REDIS_PASSWORD: 'tls-secret' } });
  const config = {
    url: `rediss://127.0.0.1:${tlsPort}`,
    tls: { caBundle: 'ca.pem' },
    password: { env: 'REDIS_PASSWORD' },
  };
  const store = await openStore(config, context);
  stores.push(store);
  const [a] = await makeCertificates(1);
  await store.save('tls', a!.bundle, a!.meta('tls'));
  assert.equal((await store.load('tls')).state, 'present');
  assert.match(await store.checkWritable(), /^redis rediss:\/\/127\.0\.0\.1:\d+: reachable and writable$/);

  const untrusted = await openStore({ ...config, tls: { caBundle: 'other/ca.pem' } }, context);
  stores.push(untrusted);
  await assert.rejects(untrusted.load('tls'), (error: { code?: string; message?: string }) => {
    assert.equal(error.code, 'STORE_UNAVAILABLE');
    assert.match(
      error.message ?? '',
      /^redis store "shared" at rediss:\/\/127\.0\.0\.1:\d+ is unreachable: /,
    );
    console.log(`untrusted CA: ${error.message}`);
    return true;
  });

  const wrongPassword = await openStore(
    config,
    testContext({ baseDir: dir.path, env: { REDIS_PASSWORD: 'nope' } }),
  );
  stores.push(wrongPassword);
  await assert.rejects(wrongPassword.load('tls'), {
    code: 'STORE_UNAVAILABLE',
    message: /^redis store "shared" at rediss:\/\/127\.0\.0\.1:\d+ refused the login: WRONGPASS/,
  });
});
