/**
 * The ACME issuer against a real Pebble that validates for real (names resolve to 127.0.0.1 through
 * pebble-challtestsrv; http-01 is fetched from 127.0.0.1:httpPort; dns-01 reads TXT records set by the
 * exec hook through challtestsrv's management API).
 */
import assert from 'node:assert/strict';
import { chmod, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { ErrorCode } from '../../src/errors.js';
import { AcmeIssuer } from '../../src/issuers/acme/issuer.js';
import type { AcmeIssuerConfig } from '../../src/manifest/types.js';
import type { RuntimeContext } from '../../src/runtime/context.js';
import { accountBlobKey } from '../../src/stores/keys.js';
import { RedisStore } from '../../src/stores/redis/index.js';
import type { Store } from '../../src/stores/types.js';
import { keyMatchesCertificate } from '../../src/x509/keys.js';
import { type Pebble, startPebble, writeDnsExecHook } from '../harness/pebble.js';
import type { TempDir } from '../harness/process.js';
import { tempDir } from '../harness/process.js';
import { type RedisServer, startRedis } from '../harness/redis.js';
import {
  assertChainVerifies,
  capturingLogger,
  closeServer,
  dnsNames,
  FAST,
  filesystemStore,
  issueOne,
  makeContext,
  resolved,
  serveFromRedis,
  serveWebroot,
} from './acme-fixtures.js';

describe('ACME issuer against Pebble', () => {
  let pebble: Pebble;
  let dir: TempDir;
  let context: RuntimeContext;
  let store: Store;
  let config: AcmeIssuerConfig;
  let issuer: AcmeIssuer;

  before(async () => {
    dir = await tempDir('cert-renew-acme-');
    pebble = await startPebble();
    context = makeContext(dir.path);
    store = filesystemStore(context, 'store');
    config = {
      type: 'acme',
      directory: pebble.directoryUrl,
      email: 'ops@example.test',
      caBundle: pebble.caBundlePath,
      challenge: { type: 'http-01', standalone: `127.0.0.1:${pebble.httpPort}` },
    };
    issuer = new AcmeIssuer('pebble', config, context, FAST);
  });
  after(async () => {
    await issuer?.close();
    await pebble?.stop();
    await dir?.remove();
  });

  test('http-01 standalone, ECDSA: issued, chain verifies against Pebble root, account stored', async () => {
    const cert = resolved('single', ['single.example.test'], config);
    const result = await issueOne(issuer, store, cert);
    assert.equal(result.via, 'acme order');
    assert.deepEqual(dnsNames(result.certPem), ['single.example.test']);
    assert.ok(keyMatchesCertificate(result.keyPem, result.certPem));
    assertChainVerifies(result, await pebble.roots());
    const blob = JSON.parse((await store.getBlob(accountBlobKey('pebble', 'ops@example.test'))) ?? '{}');
    assert.match(blob.url, /^https:\/\/127\.0\.0\.1:\d+\//);
    assert.equal(blob.directory, pebble.directoryUrl);
    assert.match(blob.keyPem, /BEGIN PRIVATE KEY/);
  });

  test('RSA key and several SANs; a second issuer instance reuses the stored account', async () => {
    const key = accountBlobKey('pebble', 'ops@example.test');
    const before = await store.getBlob(key);
    const fresh = new AcmeIssuer('pebble', config, context, FAST);
    try {
      const domains = ['multi.example.test', 'www.multi.example.test', 'api.multi.example.test'];
      const result = await issueOne(
        fresh,
        store,
        resolved('multi', domains, config, { keyType: 'rsa-2048' }),
      );
      assert.deepEqual(dnsNames(result.certPem), [...domains].sort());
      assert.ok(keyMatchesCertificate(result.keyPem, result.certPem));
      assertChainVerifies(result, await pebble.roots());
    } finally {
      await fresh.close();
    }
    assert.equal(await store.getBlob(key), before, 'same account (key and URL) as the first issuance');
  });

  test('http-01 challengeDirectory (per-certificate override): token written and removed', async () => {
    const webroot = join(dir.path, 'webroot');
    await mkdir(webroot);
    const server = await serveWebroot(webroot, pebble.httpPort);
    try {
      const cert = resolved('webroot', ['webroot.example.test'], config, {
        challenge: { type: 'http-01', challengeDirectory: 'webroot' },
      });
      const result = await issueOne(issuer, store, cert);
      assertChainVerifies(result, await pebble.roots());
      assert.deepEqual(await readdir(webroot), [], 'token files are removed');
    } finally {
      await closeServer(server);
    }
  });

  test('http-01 challengeDirectory that is not served: CHALLENGE_FAILED with the CA detail, token removed', async () => {
    const webroot = join(dir.path, 'unserved');
    await mkdir(webroot);
    const server = await serveWebroot(join(dir.path, 'elsewhere'), pebble.httpPort);
    try {
      const cert = resolved('unserved', ['unserved.example.test'], config, {
        challenge: { type: 'http-01', challengeDirectory: 'unserved' },
      });
      await assert.rejects(issueOne(issuer, store, cert), (error: Error & { code?: string }) => {
        assert.equal(error.code, ErrorCode.challengeFailed);
        assert.match(
          error.message,
          /^certificate unserved: ACME issuer pebble: the CA could not validate unserved\.example\.test/,
        );
        assert.match(error.message, /404|unauthorized/);
        return true;
      });
      assert.deepEqual(await readdir(webroot), []);
    } finally {
      await closeServer(server);
    }
  });

  test('dns-01 exec with a wildcard and its base name', async () => {
    const hook = await writeDnsExecHook(dir.path, pebble.challtestsrvUrl);
    const cert = resolved('wild', ['wild.example.test', '*.wild.example.test'], config, {
      challenge: { type: 'dns-01', exec: hook, nameservers: [`127.0.0.1:${pebble.dnsPort}`] },
    });
    const result = await issueOne(issuer, store, cert);
    assert.deepEqual(dnsNames(result.certPem), ['*.wild.example.test', 'wild.example.test']);
    assertChainVerifies(result, await pebble.roots());
  });

  test('a failing dns-01 command: every record cleaned up, pending authorizations deactivated', async () => {
    const log = join(dir.path, 'failing-hook.log');
    const hook = join(dir.path, 'failing-hook');
    await writeFile(
      hook,
      `#!/bin/sh\necho "$1 $2" >> '${log}'\ncase "$2" in *fail*) echo "no such zone" >&2; exit 1;; esac\n`,
    );
    await chmod(hook, 0o755);
    const logger = capturingLogger();
    const cert = resolved('deact', ['ok.deact.example.test', 'fail.deact.example.test'], config, {
      challenge: { type: 'dns-01', exec: hook, nameservers: [`127.0.0.1:${pebble.dnsPort}`] },
    });
    await assert.rejects(issueOne(issuer, store, cert, { logger }), (error: Error & { code?: string }) => {
      assert.equal(error.code, ErrorCode.challengeFailed);
      assert.match(
        error.message,
        /^certificate deact: ACME issuer pebble: dns-01 command .* present _acme-challenge\.fail\.deact\.example\.test\. exited with status 1: no such zone/,
      );
      return true;
    });
    const calls = (await readFile(log, 'utf8')).trim().split('\n').sort();
    // Every record is cleaned up, including the one whose `present` failed (it may have half-happened).
    assert.deepEqual(calls, [
      'cleanup _acme-challenge.fail.deact.example.test.',
      'cleanup _acme-challenge.ok.deact.example.test.',
      'present _acme-challenge.fail.deact.example.test.',
      'present _acme-challenge.ok.deact.example.test.',
    ]);
    const deactivated = logger.lines.filter((line) => line.includes('deactivated authorization'));
    assert.equal(deactivated.length, 2, logger.lines.join(''));
  });

  test('a dns-01 command that hangs: stopped at the deadline, ISSUER_TIMEOUT naming it, cleaned up', async () => {
    const log = join(dir.path, 'hanging-hook.log');
    const hook = join(dir.path, 'hanging-hook');
    await writeFile(
      hook,
      `#!/bin/sh\necho "$1 $2" >> '${log}'\n[ "$1" = present ] && exec sleep 600\nexit 0\n`,
    );
    await chmod(hook, 0o755);
    const cert = resolved('hang', ['hang.example.test'], config, {
      challenge: { type: 'dns-01', exec: hook, nameservers: [`127.0.0.1:${pebble.dnsPort}`] },
    });
    await assert.rejects(
      issueOne(issuer, store, cert, { timeoutMs: 15_000 }),
      (error: Error & { code?: string }) => {
        assert.equal(error.code, ErrorCode.issuerTimeout, error.message);
        assert.match(
          error.message,
          /^certificate hang: ACME issuer pebble: stopped at the certificate's deadline in the dns-01 present of _acme-challenge\.hang\.example\.test \(dns-01 command .*hanging-hook present _acme-challenge\.hang\.example\.test\. was stopped at the deadline\)/,
        );
        return true;
      },
    );
    assert.deepEqual((await readFile(log, 'utf8')).trim().split('\n'), [
      'present _acme-challenge.hang.example.test.',
      'cleanup _acme-challenge.hang.example.test.',
    ]);
  });

  test('Pebble 2.4 offers no ARI: suggestedWindow is undefined (the lifetime fallback applies)', async () => {
    const result = await issueOne(issuer, store, resolved('ari', ['ari.example.test'], config));
    const stored = {
      certPem: result.certPem,
      chainPem: result.chainPem,
      keyPem: result.keyPem,
      meta: undefined,
    };
    assert.equal(await issuer.suggestedWindow(stored, AbortSignal.timeout(60_000)), undefined);
  });

  test('renewal information: one directory fetch per issuer and run, a failed one not repeated', async () => {
    const result = await issueOne(issuer, store, resolved('ari-once', ['ari-once.example.test'], config));
    const stored = {
      certPem: result.certPem,
      chainPem: result.chainPem,
      keyPem: result.keyPem,
      meta: undefined,
    };
    const requests: string[] = [];
    const fresh = new AcmeIssuer('pebble', config, context, {
      ...FAST,
      onRequest: (m, u) => requests.push(`${m} ${u}`),
    });
    const down = new AcmeIssuer('down', { ...config, directory: 'https://127.0.0.1:1/dir' }, context, {
      ...FAST,
      onRequest: (m, u) => requests.push(`${m} ${u}`),
    });
    try {
      const signal = AbortSignal.timeout(30_000);
      const windows = await Promise.all(
        Array.from({ length: 10 }, () => fresh.suggestedWindow(stored, signal)),
      );
      assert.deepEqual(windows, Array(10).fill(undefined));
      assert.deepEqual(requests, [`GET ${pebble.directoryUrl}`]);
      requests.length = 0;
      await Promise.all(Array.from({ length: 10 }, () => down.suggestedWindow(stored, signal)));
      assert.deepEqual(requests, ['GET https://127.0.0.1:1/dir']);
    } finally {
      await fresh.close();
      await down.close();
    }
  });

  test('a wildcard with http-01 is refused before anything is ordered', async () => {
    const cert = resolved('bad-wild', ['*.bad.example.test'], config);
    await assert.rejects(issueOne(issuer, store, cert), {
      code: ErrorCode.challengeFailed,
      message: /dns-01/,
    });
  });

  test('a profile the CA does not offer is refused clearly', async () => {
    const withProfile = new AcmeIssuer('pebble', { ...config, profile: 'shortlived' }, context, FAST);
    try {
      await assert.rejects(issueOne(withProfile, store, resolved('profile', ['p.example.test'], config)), {
        code: ErrorCode.issuerRejected,
        message: /does not offer profile "shortlived"/,
      });
    } finally {
      await withProfile.close();
    }
  });

  test('dry run: directory, existing account, challenge targets; nothing ordered', async () => {
    const webroot = join(dir.path, 'webroot');
    const certs = [
      resolved('a', ['a.example.test'], config),
      resolved('b', ['b.example.test'], config, { challenge: { type: 'http-01', webroot } }),
      resolved('c', ['c.example.test'], config, { challenge: { type: 'dns-01', exec: 'sh' } }),
    ];
    const report = await issuer.check({ store, certs, signal: AbortSignal.timeout(20_000) });
    assert.match(report, /directory .* answers/);
    assert.match(report, /account https:\/\/\S+ exists/);
    assert.match(report, /standalone .*can be bound/);
    assert.match(report, /webroot .* is writable/);
    assert.match(report, /dns-01 exec .*sh is executable/);
    const empty = filesystemStore(context, 'empty-store');
    assert.match(
      await issuer.check({ store: empty, certs: [], signal: AbortSignal.timeout(20_000) }),
      /account would be created/,
    );
    assert.equal(
      await empty.getBlob(accountBlobKey('pebble', 'ops@example.test')),
      undefined,
      'nothing written',
    );
  });

  test('an untrusted ACME server (no caBundle) is a clear, permanent error', async () => {
    const { caBundle: _dropped, ...untrusted } = config;
    const plain = new AcmeIssuer('pebble', untrusted, context, FAST);
    try {
      await assert.rejects(issueOne(plain, store, resolved('u', ['u.example.test'], untrusted)), {
        code: ErrorCode.issuerUnavailable,
        message: /is not trusted/,
      });
    } finally {
      await plain.close();
    }
  });

  describe('http-01 through a redis store', () => {
    let redis: RedisServer;
    let redisStore: RedisStore;
    let reader: Redis;

    before(async () => {
      redis = await startRedis();
      redisStore = await RedisStore.open('cache', { type: 'redis', url: redis.url }, context);
      reader = new Redis(redis.url, { lazyConnect: true, maxRetriesPerRequest: 1 });
    });
    after(async () => {
      reader?.disconnect();
      await redisStore?.close();
      await redis?.stop();
    });

    test('the proxy answers from challenge:{token}; keys are removed afterwards', async () => {
      const withRedis = makeContext(dir.path, { stores: new Map([['cache', redisStore]]) });
      const redisIssuer = new AcmeIssuer(
        'pebble',
        { ...config, challenge: { type: 'http-01', redis: 'cache', ttl: '5m' } },
        withRedis,
        FAST,
      );
      const server = await serveFromRedis((key) => reader.get(key), pebble.httpPort);
      try {
        const result = await issueOne(redisIssuer, store, resolved('redis', ['redis.example.test'], config));
        assertChainVerifies(result, await pebble.roots());
        assert.deepEqual(await reader.keys('challenge:*'), []);
        assert.match(
          await redisIssuer.check({ store, certs: [], signal: AbortSignal.timeout(60_000) }),
          /http-01 redis store cache/,
        );
      } finally {
        await closeServer(server);
        await redisIssuer.close();
      }
    });
  });

  // Last: it kills and restarts Pebble.
  test('Pebble down: ISSUER_UNAVAILABLE after a few quick retries; back up: issues again', async () => {
    await pebble.kill();
    const attempts: string[] = [];
    const down = new AcmeIssuer('pebble', config, context, {
      ...FAST,
      onRequest: (method, url) => attempts.push(`${method} ${url}`),
    });
    try {
      await assert.rejects(
        issueOne(down, store, resolved('down', ['down.example.test'], config)),
        (error: Error & { code?: string }) => {
          assert.equal(error.code, ErrorCode.issuerUnavailable);
          assert.match(
            error.message,
            /^certificate down: ACME issuer pebble: fetching the directory: cannot reach 127\.0\.0\.1:\d+ \(ECONNREFUSED\)/,
          );
          return true;
        },
      );
      assert.equal(attempts.length, FAST.retry?.maxAttempts);
      await pebble.restart();
      // Pebble forgot every account: the stored key is registered again and the order goes through.
      const logger = capturingLogger();
      const result = await issueOne(issuer, store, resolved('back', ['back.example.test'], config), {
        logger,
      });
      assertChainVerifies(result, await pebble.roots());
      assert.ok(
        logger.lines.some((line) => line.includes('registering it again')),
        logger.lines.join(''),
      );
    } finally {
      await down.close();
    }
  });
});
