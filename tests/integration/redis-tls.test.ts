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
let mutualPort: number;
let mutual: RedisServer;
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
  // Redis' default: every client must present a certificate signed by tls-ca-cert-file.
  mutualPort = await freePort();
  mutual = await startRedis({
    args: [
      '--tls-port',
      String(mutualPort),
      '--tls-cert-file',
      leaf.certPath,
      '--tls-key-file',
      leaf.keyPath,
      '--tls-ca-cert-file',
      ca.certPath,
      '--tls-auth-clients',
      'yes',
    ],
  });
});

after(async () => {
  await Promise.allSettled(stores.map((s) => s.close()));
  await redis?.stop();
  await mutual?.stop();
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
    assert.match(
      (error as { oneLine?: string }).oneLine ?? '',
      /\(the server's TLS certificate is not trusted: give the CA that signed it as the store's tls\.caBundle/,
    );
    console.log(`untrusted CA: ${error.message}`);
    return true;
  });

  // No caBundle at all: the system CAs do not know the private CA; the same hint.
  const noBundle = await openStore({ url: config.url, password: config.password }, context);
  stores.push(noBundle);
  await assert.rejects(noBundle.load('tls'), (error: { code?: string; oneLine?: string }) => {
    assert.equal(error.code, 'STORE_UNAVAILABLE');
    assert.match(
      error.oneLine ?? '',
      /is unreachable: .*certificate.*\(the server's TLS certificate is not trusted: .*tls\.caBundle/,
    );
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

test('a Redis that requires client certificates: one line saying so, and what to set', async () => {
  const store = await openStore(
    { url: `rediss://127.0.0.1:${mutualPort}`, tls: { caBundle: 'ca.pem' } },
    testContext({ baseDir: dir.path }),
  );
  stores.push(store);
  await assert.rejects(store.load('web'), (error: { code?: string; oneLine?: string }) => {
    assert.equal(error.code, 'STORE_UNAVAILABLE');
    const line = error.oneLine ?? '';
    assert.match(line, /^redis store "shared" at rediss:\/\/127\.0\.0\.1:\d+ is unreachable: /);
    // The server's alert, or (TLS 1.3: when the client wrote first) the reset it causes: either way the
    // line says that a client certificate is asked for and what to set.
    assert.match(line, /client certificate/);
    assert.match(line, /set tls-auth-clients no \(or optional\)/);
    assert.doesNotMatch(line, /SSL routines|alert number/);
    return true;
  });
});
