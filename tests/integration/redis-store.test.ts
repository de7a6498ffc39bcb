/**
 * The Redis store against one real redis-server: the documented layout, history and rollback,
 * unreadable values, encryption at rest, announcements, blobs, challenges and a 10,000-key gather.
 */
import * as assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import type { RedisStore } from '../../src/stores/redis/index.js';
import { type RedisServer, startRedis } from '../harness/redis.js';
import {
  keyMatches,
  makeCertificates,
  memoryLogger,
  openStore,
  type TestCertificate,
  testContext,
} from './redis-fixtures.js';

let redis: RedisServer;
let certs: TestCertificate[];
const stores: RedisStore[] = [];

async function open(...args: Parameters<typeof openStore>): Promise<RedisStore> {
  const store = await openStore(...args);
  stores.push(store);
  return store;
}

before(async () => {
  [redis, certs] = await Promise.all([startRedis(), makeCertificates(3)]);
});

after(async () => {
  await Promise.allSettled(stores.map((s) => s.close()));
  await redis?.stop();
});

describe('layout', () => {
  test('cert:{name} is one JSON value with the documented fields; history keeps `keep` versions', async () => {
    const store = await open({ url: redis.url, keyPrefix: 'lay:', keep: 2 });
    const [a, b, c] = certs as [TestCertificate, TestCertificate, TestCertificate];
    await store.save('web', a.bundle, a.meta('web'));
    const raw = JSON.parse(await redis.cli('GET', 'lay:cert:{web}'));
    for (const field of [
      'name',
      'domains',
      'issuer',
      'status',
      'issued_at',
      'expires_at',
      'fingerprint',
      'serial',
    ]) {
      assert.ok(field in raw, `field ${field}`);
    }
    assert.equal(raw.status, 'valid');
    assert.equal(raw.fullchain_pem, a.bundle.certPem + a.bundle.chainPem);
    assert.equal(raw.private_key_pem, a.bundle.keyPem);
    assert.equal(await redis.cli('EXISTS', 'lay:history:{web}'), '0');

    await store.save('web', b.bundle, b.meta('web'));
    await store.save('web', c.bundle, c.meta('web'));
    await store.save('web', a.bundle, a.meta('web'));
    assert.equal(await redis.cli('LLEN', 'lay:history:{web}'), '2');
    const newest = JSON.parse(await redis.cli('LINDEX', 'lay:history:{web}', '0'));
    assert.equal(newest.serial, c.meta('web').serial);

    const loaded = await store.load('web');
    assert.equal(loaded.state, 'present');
    if (loaded.state !== 'present') return;
    assert.equal(loaded.cert.certPem, a.bundle.certPem);
    assert.equal(loaded.cert.chainPem, a.bundle.chainPem);
    assert.equal(loaded.cert.keyPem, a.bundle.keyPem);
    assert.deepEqual(loaded.cert.meta, a.meta('web'));
  });

  test('rollback restores the previous version atomically and says false when there is none', async () => {
    const store = await open({ url: redis.url, keyPrefix: 'rb:' });
    const [a, b] = certs as [TestCertificate, TestCertificate];
    assert.equal(await store.rollback('api'), false);
    await store.save('api', a.bundle, a.meta('api'));
    await store.save('api', b.bundle, b.meta('api'));
    assert.equal(await store.rollback('api'), true);
    const loaded = await store.load('api');
    assert.equal(loaded.state === 'present' && loaded.cert.meta?.serial, a.meta('api').serial);
    assert.equal(await store.rollback('api'), false);
  });

  test('a value edited since it was written is unreadable; metadata that does not name its certificate is left out', async () => {
    const store = await open({ url: redis.url, keyPrefix: 'edit:' });
    const [a, b] = certs as [TestCertificate, TestCertificate];
    await store.save('web', a.bundle, a.meta('web'));
    const loaded = await store.load('web');
    assert.ok(loaded.state === 'present' && loaded.cert.meta, 'as written: with its metadata');
    const value = JSON.parse(await redis.cli('GET', 'edit:cert:{web}')) as Record<string, unknown>;
    // cert_pem (or fullchain_pem) edited by hand: which one a reader takes is not known.
    for (const edited of [
      { cert_pem: b.bundle.certPem },
      { fullchain_pem: b.bundle.certPem + b.bundle.chainPem },
    ]) {
      await redis.cli('SET', 'edit:cert:{web}', JSON.stringify({ ...value, ...edited }));
      const result = await store.load('web');
      assert.match(
        result.state === 'unreadable' ? result.error : result.state,
        /fullchain_pem is not cert_pem followed by chain_pem: changed since it was written/,
      );
    }
    // The PEMs whole, the metadata fields edited (another serial, a date that is not a date): left out.
    for (const edited of [
      { serial: 'DEADBEEF' },
      { expires_at: 'garbage' },
      { not_before: '2001-01-01T00:00:00Z' },
    ]) {
      await redis.cli('SET', 'edit:cert:{web}', JSON.stringify({ ...value, ...edited }));
      const result = await store.load('web');
      assert.ok(result.state === 'present', JSON.stringify(edited));
      assert.equal(result.cert.meta, undefined, JSON.stringify(edited));
    }
  });

  test('missing, corrupt and incomplete values; attempts are kept apart', async () => {
    const store = await open({ url: redis.url, keyPrefix: 'bad:' });
    await redis.cli('SET', 'bad:cert:{json}', '{"name": "json", ');
    await redis.cli('SET', 'bad:cert:{nopem}', JSON.stringify({ name: 'nopem', private_key_pem: 'x' }));
    await redis.cli(
      'SET',
      'bad:cert:{nokey}',
      JSON.stringify({ name: 'nokey', cert_pem: certs[0]!.bundle.certPem }),
    );
    await store.recordAttempt('json', {
      lastAttempt: '2030-01-01T00:00:00.000Z',
      failureCount: 2,
      lastErrorCode: 'ISSUER_REJECTED',
    });
    const results = await store.loadMany(['json', 'nopem', 'nokey', 'none']);
    const json = results.get('json');
    assert.equal(json?.state, 'unreadable');
    assert.match(json?.state === 'unreadable' ? json.error : '', /not valid JSON/);
    assert.equal(json?.attempts?.failureCount, 2);
    const nopem = results.get('nopem');
    assert.match(nopem?.state === 'unreadable' ? nopem.error : '', /no certificate PEM/);
    const nokey = results.get('nokey');
    assert.match(nokey?.state === 'unreadable' ? nokey.error : '', /no private key/);
    assert.deepEqual(results.get('none'), { state: 'missing' });
    await store.recordAttempt('json', undefined);
    assert.equal((await store.load('json')).attempts, undefined);
  });

  test('blobs (SET NX for ifAbsent), challenges with a TTL, dry-run probe, no paths', async () => {
    const store = await open({ url: redis.url, keyPrefix: 'blob:' });
    assert.equal(await store.putBlob('account/le/ops%40example.com', 'first', { ifAbsent: true }), true);
    assert.equal(await store.putBlob('account/le/ops%40example.com', 'second', { ifAbsent: true }), false);
    assert.equal(await redis.cli('GET', 'blob:account:le:ops@example.com'), 'first');
    assert.equal(await store.getBlob('account/le/ops%40example.com'), 'first');
    assert.equal(await store.getBlob('local-ca/none'), undefined);

    await store.putChallenge('tok-1', 'tok-1.thumb', 60_000);
    assert.equal(await redis.cli('GET', 'blob:challenge:tok-1'), 'tok-1.thumb');
    const ttl = Number(await redis.cli('PTTL', 'blob:challenge:tok-1'));
    assert.ok(ttl > 0 && ttl <= 60_000, `ttl ${ttl}`);
    await store.deleteChallenge('tok-1');
    assert.equal(await redis.cli('EXISTS', 'blob:challenge:tok-1'), '0');

    const before = await redis.cli('DBSIZE');
    assert.match(await store.checkWritable(), /reachable and writable/);
    assert.equal(await redis.cli('DBSIZE'), before);
    assert.equal(store.paths('x'), undefined);
  });
});

describe('encryption at rest', () => {
  const key1 = randomBytes(32);
  const key2 = randomBytes(32);
  const env = {
    KEY1: key1.toString('base64'),
    KEY2: key2.toString('hex'),
    WRONG: randomBytes(32).toString('base64'),
  };
  const context = testContext({ env });

  test('the stored key is ciphertext; load decrypts a key that matches the certificate', async () => {
    const store = await open(
      { url: redis.url, keyPrefix: 'enc:', encryption: { key: { env: 'KEY1' } } },
      context,
    );
    const a = certs[0]!;
    await store.save('secret', a.bundle, a.meta('secret'));
    const stored = await redis.cli('GET', 'enc:cert:{secret}');
    assert.ok(!stored.includes('PRIVATE KEY'), 'no clear private key in Redis');
    const raw = JSON.parse(stored);
    assert.equal(raw.private_key_pem, undefined);
    assert.equal(raw.private_key_enc.alg, 'aes-256-gcm');
    assert.match(raw.private_key_enc.kid, /^[0-9a-f]{8}$/);
    const loaded = await store.load('secret');
    assert.equal(loaded.state, 'present');
    if (loaded.state !== 'present') return;
    assert.equal(loaded.cert.keyPem, a.bundle.keyPem);
    assert.ok(keyMatches(loaded.cert.certPem, loaded.cert.keyPem));
  });

  test('blobs (account and CA keys) are sealed too, bound to their key; plain ones still read', async () => {
    const store = await open(
      { url: redis.url, keyPrefix: 'encb:', encryption: { key: { env: 'KEY1' } } },
      context,
    );
    const secret = '-----BEGIN PRIVATE KEY-----\nsecret\n-----END PRIVATE KEY-----\n';
    assert.equal(await store.putBlob('local-ca/local', secret, { ifAbsent: true }), true);
    const raw = await redis.cli('GET', 'encb:local-ca:local');
    assert.ok(!raw.includes('PRIVATE KEY'), 'no clear private key in Redis');
    assert.equal(await store.getBlob('local-ca/local'), secret);
    // Moved under another blob key, it does not decrypt.
    await redis.cli('SET', 'encb:account:le:ops@example.test', raw);
    await assert.rejects(store.getBlob('account/le/ops%40example.test'), { code: 'STORE_CORRUPT' });
    // A plain blob from before encryption was configured is still read.
    await redis.cli('SET', 'encb:account:le:old@example.test', 'plain');
    assert.equal(await store.getBlob('account/le/old%40example.test'), 'plain');
    await store.close();
  });

  test('a wrong key under a configured key id is an error naming the certificate; an unknown key id is unreadable; never garbage', async () => {
    const writer = await open(
      { url: redis.url, keyPrefix: 'enc2:', encryption: { key: { env: 'KEY1' }, keyId: 'k1' } },
      context,
    );
    await writer.save('one', certs[0]!.bundle, certs[0]!.meta('one'));
    const wrong = await open(
      { url: redis.url, keyPrefix: 'enc2:', encryption: { key: { env: 'WRONG' }, keyId: 'k1' } },
      context,
    );
    // Another host's key under the same keyId: a configuration error, not something to reissue over.
    const loaded = await wrong.load('one');
    assert.equal(loaded.state, 'error');
    const failure = loaded.state === 'error' ? loaded.failure : undefined;
    assert.equal(failure?.code, 'STORE_CORRUPT');
    assert.match(
      failure?.message ?? '',
      /^one: redis store "shared": enc2:cert:\{one\}: the private key does not decrypt with the configured encryption key "k1": the key that wrote it differs \(another host's\?\)/,
    );
    assert.match(failure?.hint ?? '', /same key for keyId "k1"/);
    assert.equal((await wrong.loadMany(['one'])).get('one')?.state, 'error');

    const unknown = await open(
      { url: redis.url, keyPrefix: 'enc2:', encryption: { key: { env: 'KEY2' } } },
      context,
    );
    const other = await unknown.load('one');
    assert.match(
      other.state === 'unreadable' ? other.error : '',
      /cannot be decrypted with key id k1: no such key/,
    );

    const plain = await open({ url: redis.url, keyPrefix: 'enc2:' }, context);
    const none = await plain.load('one');
    assert.match(none.state === 'unreadable' ? none.error : '', /key id k1: the store has no encryption key/);

    // The name is authenticated: the same value under another certificate's key does not decrypt.
    const moved = JSON.parse(await redis.cli('GET', 'enc2:cert:{one}'));
    moved.name = 'two';
    await redis.cli('SET', 'enc2:cert:{two}', JSON.stringify(moved));
    const swapped = await writer.load('two');
    assert.equal(swapped.state, 'error');
    assert.match(swapped.state === 'error' ? swapped.failure.message : '', /or the value was altered/);
  });

  test('rotation: previousKeys decrypt old values, new values use the current key', async () => {
    const old = await open(
      { url: redis.url, keyPrefix: 'rot:', encryption: { key: { env: 'KEY1' }, keyId: 'old' } },
      context,
    );
    await old.save('rot', certs[0]!.bundle, certs[0]!.meta('rot'));
    const rotated = await open(
      {
        url: redis.url,
        keyPrefix: 'rot:',
        encryption: {
          key: { env: 'KEY2' },
          keyId: 'new',
          previousKeys: [{ keyId: 'old', key: { env: 'KEY1' } }],
        },
      },
      context,
    );
    const loaded = await rotated.load('rot');
    assert.equal(loaded.state === 'present' && loaded.cert.keyPem, certs[0]!.bundle.keyPem);
    await rotated.save('rot', certs[1]!.bundle, certs[1]!.meta('rot'));
    assert.equal(JSON.parse(await redis.cli('GET', 'rot:cert:{rot}')).private_key_enc.kid, 'new');
    // The history entry keeps its old key id and still decrypts after a rollback.
    assert.equal(await rotated.rollback('rot'), true);
    const back = await rotated.load('rot');
    assert.equal(back.state === 'present' && back.cert.keyPem, certs[0]!.bundle.keyPem);
  });

  test('a key that is not 32 bytes is refused when the store opens', async () => {
    const bad = testContext({ env: { SHORT: randomBytes(16).toString('base64') } });
    await assert.rejects(openStore({ url: redis.url, encryption: { key: { env: 'SHORT' } } }, bad), {
      code: 'SECRET_UNAVAILABLE',
      message: /not a 32-byte key/,
    });
  });
});

test('a successful save is announced on the channel; an announce failure is only logged', async () => {
  const logger = memoryLogger();
  const store = await open(
    { url: redis.url, keyPrefix: 'ann:', announce: { channel: 'cert-renew:renewed' } },
    testContext({ logger }),
  );
  const subscriber = new Redis({ host: redis.host, port: redis.port, lazyConnect: true });
  try {
    await subscriber.connect();
    const received = new Promise<string>((resolve) =>
      subscriber.on('message', (_channel, message) => resolve(message)),
    );
    await subscriber.subscribe('cert-renew:renewed');
    const a = certs[0]!;
    await store.save('ann', a.bundle, a.meta('ann'));
    const message = JSON.parse(await received);
    assert.deepEqual(message, {
      event: 'renewed',
      name: 'ann',
      fingerprint: a.meta('ann').fingerprint,
      serial: a.meta('ann').serial,
      notAfter: a.meta('ann').notAfter,
      domains: a.meta('ann').domains,
      store: 'shared',
    });
    assert.ok(!logger.lines.some((l) => l.includes('PRIVATE')));
  } finally {
    subscriber.disconnect();
  }

  // A user (credentials from secret references) that may not PUBLISH: the save still succeeds.
  await redis.cli('ACL', 'SETUSER', 'nopub', 'on', '>nopub-pw', '~*', '&*', '+@all', '-publish');
  const quiet = await open(
    {
      url: redis.url,
      keyPrefix: 'ann:',
      username: { env: 'USER' },
      password: { env: 'PASS' },
      announce: { channel: 'cert-renew:renewed' },
    },
    testContext({ logger, env: { USER: 'nopub', PASS: 'nopub-pw' } }),
  );
  await quiet.save('ann2', certs[1]!.bundle, certs[1]!.meta('ann2'));
  assert.equal((await quiet.load('ann2')).state, 'present');
  assert.ok(
    logger.lines.some((l) => /warn: .*announcing certificate "ann2".*failed/.test(l)),
    logger.lines.join(''),
  );
});

test('loadMany gathers 10,000 certificates in batches', async () => {
  const store = await open({ url: redis.url, keyPrefix: 'many:' });
  const a = certs[0]!;
  const names = Array.from({ length: 10_000 }, (_, i) => `cert-${i}`);
  // Written directly (the write path is tested above): the same value under 10,000 names.
  const writer = new Redis({ host: redis.host, port: redis.port });
  try {
    for (let i = 0; i < names.length; i += 1000) {
      const pipeline = writer.pipeline();
      for (const name of names.slice(i, i + 1000)) {
        const value = JSON.parse(
          JSON.stringify({
            name,
            domains: a.meta(name).domains,
            issuer: 'test-ca',
            status: 'valid',
            issued_at: a.meta(name).issuedAt,
            expires_at: a.meta(name).notAfter,
            not_before: a.meta(name).notBefore,
            fingerprint: a.meta(name).fingerprint,
            serial: a.meta(name).serial,
            key_type: 'ecdsa-p256',
            fullchain_pem: a.bundle.certPem + a.bundle.chainPem,
            private_key_pem: a.bundle.keyPem,
          }),
        );
        pipeline.set(`many:cert:{${name}}`, JSON.stringify(value));
      }
      await pipeline.exec();
    }
  } finally {
    writer.disconnect();
  }
  const started = performance.now();
  const results = await store.loadMany(names);
  console.log(`loadMany of ${names.length} certificates took ${Math.round(performance.now() - started)} ms`);
  assert.equal(results.size, names.length);
  assert.ok([...results.values()].every((r) => r.state === 'present'));
  const last = results.get('cert-9999');
  assert.equal(last?.state === 'present' && last.cert.meta?.name, 'cert-9999');
});

test('an attempts key that is not a record is said once (no backoff applies), and a success removes it', async () => {
  const logger = memoryLogger();
  const store = await open({ url: redis.url, keyPrefix: 'att:' }, testContext({ logger }));
  const a = certs[0]!;
  await store.save('damaged', a.bundle, a.meta('damaged'));
  await redis.cli('SET', 'att:attempts:{damaged}', 'not json');
  const loaded = await store.loadMany(['damaged']);
  await store.loadMany(['damaged']);
  assert.equal(loaded.get('damaged')?.state, 'present');
  assert.equal(loaded.get('damaged')?.attempts, undefined);
  const warned = logger.lines.filter((l) => l.includes('att:attempts:{damaged}'));
  assert.equal(warned.length, 1, logger.lines.join('\n'));
  assert.match(
    warned[0] ?? '',
    /is not a failed-attempt record: the failed attempts it recorded are not known/,
  );
  await store.recordAttempt('damaged', undefined);
  assert.equal(await redis.cli('EXISTS', 'att:attempts:{damaged}'), '0');
});
