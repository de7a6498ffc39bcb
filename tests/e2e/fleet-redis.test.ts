/**
 * The fleet of examples/redis-fleet.json, with Pebble in place of Let's Encrypt: certificates in a Redis
 * store (password, key prefix, private keys encrypted at rest, renewals announced), http-01 answered by a
 * small real HTTP responder that reads `challenge:<token>` out of the same Redis, as the fleet's proxies
 * do. It issues and renews for real; then four `cert-renew run` processes at once against the one Redis
 * and the one Pebble issue each certificate exactly once.
 */
import assert from 'node:assert/strict';
import { createPrivateKey, randomBytes, X509Certificate } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import type { CertificateConfig, Manifest } from '../../src/manifest/types.js';
import type { RunReport } from '../../src/report/model.js';
import { type Pebble, startPebble } from '../harness/pebble.js';
import { type TempDir, tempDir } from '../harness/process.js';
import { type RedisServer, startRedis } from '../harness/redis.js';
import { closeServer } from '../integration/acme-fixtures.js';
import { assertChainsToRoot, sanNames, splitPem } from './acme-e2e-fixtures.js';
import { runCli } from './cli.js';
import { writeManifest } from './fixtures.js';
import { type CertValue, privateKeyPems, runReport } from './redis-fixtures.js';

const PREFIX = 'certs:';
const CHANNEL = 'cert-renew:renewed';
const PASSWORD = 'fleet-secret';

/** The fleet example's manifest, pointed at Pebble and the test's Redis. */
function fleetManifest(pebble: Pebble, redis: RedisServer, certificates: CertificateConfig[]): Manifest {
  return {
    version: 1,
    defaults: { issuer: 'letsencrypt', store: 'fleet', keyType: 'ecdsa-p256' },
    issuers: {
      letsencrypt: {
        type: 'acme',
        directory: pebble.directoryUrl,
        email: 'ops@example.test',
        caBundle: pebble.caBundlePath,
        challenge: { type: 'http-01', redis: 'fleet', ttl: '10m' },
      },
    },
    stores: {
      fleet: {
        type: 'redis',
        url: `redis://127.0.0.1:${redis.port}/0`,
        password: { env: 'REDIS_PASSWORD' },
        keyPrefix: PREFIX,
        encryption: { key: { env: 'CERT_RENEW_ENCRYPTION_KEY' }, keyId: '2025-01' },
        announce: { channel: CHANNEL },
      },
    },
    certificates,
  };
}

/** The fleet's proxy: answers `/.well-known/acme-challenge/<token>` from `<prefix>challenge:<token>`. */
async function redisResponder(client: Redis, port: number, served: string[]): Promise<Server> {
  const server = createServer(async (req, res) => {
    const match = /^\/\.well-known\/acme-challenge\/([A-Za-z0-9_-]+)$/.exec(req.url ?? '');
    const key = match ? `${PREFIX}challenge:${match[1]}` : undefined;
    const value = key ? await client.get(key).catch(() => null) : null;
    if (value === null) {
      res.writeHead(404).end();
      return;
    }
    served.push(key as string);
    res.writeHead(200, { 'content-type': 'text/plain' }).end(value);
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return server;
}

describe('the Redis fleet against Pebble', () => {
  let pebble: Pebble;
  let redis: RedisServer;
  let tmp: TempDir;
  let client: Redis;
  let subscriber: Redis;
  let responder: Server;
  const served: string[] = [];
  const heard: { name: string; serial: string }[] = [];
  const env = {
    REDIS_PASSWORD: PASSWORD,
    CERT_RENEW_ENCRYPTION_KEY: randomBytes(32).toString('base64'),
  };

  before(async () => {
    tmp = await tempDir('cert-renew-fleet-');
    pebble = await startPebble();
    redis = await startRedis({ password: PASSWORD });
    client = new Redis({ host: '127.0.0.1', port: redis.port, password: PASSWORD, maxRetriesPerRequest: 1 });
    subscriber = new Redis({ host: '127.0.0.1', port: redis.port, password: PASSWORD, lazyConnect: true });
    subscriber.on('message', (channel: string, message: string) => {
      if (channel === CHANNEL) heard.push(JSON.parse(message) as { name: string; serial: string });
    });
    await subscriber.connect();
    await subscriber.subscribe(CHANNEL);
    responder = await redisResponder(client, pebble.httpPort, served);
  });
  after(async () => {
    await closeServer(responder);
    subscriber?.disconnect();
    client?.disconnect();
    await redis?.stop();
    await pebble?.stop();
    await tmp?.remove();
  });

  const value = async (name: string): Promise<CertValue> => {
    const text = await client.get(`${PREFIX}cert:{${name}}`);
    assert.ok(text, `${PREFIX}cert:{${name}} exists`);
    return JSON.parse(text) as CertValue;
  };

  /** The stored value verifies against Pebble's root, and its (decrypted) key matches the certificate. */
  const verify = async (manifest: string, name: string, domains: string[]): Promise<CertValue> => {
    const v = await value(name);
    const [leaf, ...chain] = splitPem(v.fullchain_pem);
    assert.ok(leaf, `${name}: fullchain_pem holds the certificate`);
    assertChainsToRoot(leaf, chain, await pebble.roots());
    assert.deepEqual(sanNames(leaf), [...domains].sort());
    assert.equal(v.private_key_pem, undefined, `${name}: no clear key in Redis`);
    assert.equal(v.private_key_enc?.alg, 'aes-256-gcm');
    assert.equal(v.private_key_enc?.kid, '2025-01');
    const shown = await runCli(['-m', manifest, 'show', name, '--pem', '--include-key'], { env });
    assert.equal(shown.code, 0, shown.stderr);
    const [keyPem] = privateKeyPems(shown.stdout);
    assert.ok(keyPem, `${name}: show --pem --include-key prints the decrypted key`);
    assert.ok(
      new X509Certificate(v.cert_pem).checkPrivateKey(createPrivateKey(keyPem)),
      `${name}: key matches`,
    );
    return v;
  };

  const waitForAnnouncements = async (count: number) => {
    // Published before the run exited; a hang guard of a minute for their delivery to this process.
    for (let i = 0; heard.length < count && i < 1200; i++) await sleep(50);
    assert.equal(heard.length, count, JSON.stringify(heard));
  };

  test('issues for real with http-01 answered from Redis, then --force renews with new serials', async () => {
    const certificates = [
      { name: 'shop', domains: ['shop.example.test', 'www.shop.example.test'] },
      { name: 'api', domains: ['api.example.test'] },
      { name: 'status', domains: ['status.example.test'], keyType: 'rsa-2048' as const },
    ];
    const manifest = await writeManifest(tmp.path, fleetManifest(pebble, redis, certificates), 'fleet.json');
    heard.length = 0;

    const first = await runCli(['-m', manifest, 'run', '--json'], { env });
    assert.equal(first.code, 0, first.stderr);
    assert.deepEqual(
      runReport(first).certificates.map((c) => [c.name, c.outcome, c.via]),
      certificates.map((c) => [c.name, 'renewed', 'acme order']),
    );
    assert.ok(served.length >= 4, `Pebble fetched every token from the responder (${served.length})`);
    assert.deepEqual(await client.keys(`${PREFIX}challenge:*`), [], 'challenge keys deleted afterwards');
    const serials = new Map<string, string>();
    for (const c of certificates) serials.set(c.name, (await verify(manifest, c.name, c.domains)).serial);
    assert.equal(new X509Certificate((await value('status')).cert_pem).publicKey.asymmetricKeyType, 'rsa');
    await waitForAnnouncements(3);
    assert.deepEqual(heard.map((m) => m.name).sort(), ['api', 'shop', 'status']);
    for (const c of runReport(first).certificates) {
      assert.equal(c.serial, serials.get(c.name), `${c.name}: the report names the stored serial`);
    }

    // Nothing is due on the next run; --force renews all three: new serials, the old ones in history.
    const again = await runCli(['-m', manifest, 'run', '--json'], { env });
    assert.equal(again.code, 0, again.stderr);
    assert.deepEqual(
      runReport(again).certificates.map((c) => c.outcome),
      ['ok', 'ok', 'ok'],
    );
    const forced = await runCli(['-m', manifest, 'run', '--json', '--force'], { env });
    assert.equal(forced.code, 0, forced.stderr);
    assert.deepEqual(
      runReport(forced).certificates.map((c) => [c.outcome, c.reason]),
      certificates.map(() => ['renewed', 'forced']),
    );
    for (const c of certificates) {
      const renewed = await verify(manifest, c.name, c.domains);
      assert.notEqual(renewed.serial, serials.get(c.name), `${c.name}: a new serial in cert:{${c.name}}`);
      const history = await client.lrange(`${PREFIX}history:{${c.name}}`, 0, -1);
      assert.equal(history.length, 1);
      assert.equal((JSON.parse(history[0] as string) as CertValue).serial, serials.get(c.name));
    }
    await waitForAnnouncements(6);
  });

  test('four hosts at once against one Redis and one Pebble: each certificate issued exactly once', async () => {
    const certificates = Array.from({ length: 6 }, (_, i) => ({
      name: `edge-${i}`,
      domains: [`edge-${i}.example.test`, `www.edge-${i}.example.test`],
    }));
    const manifest = await writeManifest(tmp.path, fleetManifest(pebble, redis, certificates), 'hosts.json');

    const results = await Promise.all(
      Array.from({ length: 4 }, () =>
        runCli(['-m', manifest, 'run', '--json', '--concurrency', '3'], { env }),
      ),
    );
    const renewed = new Map<string, string[]>();
    const outcomes: string[] = [];
    for (const r of results) {
      assert.equal(r.code, 0, r.stderr);
      const report: RunReport = runReport(r);
      for (const c of report.certificates) {
        outcomes.push(c.outcome);
        assert.ok(
          ['renewed', 'renewed-elsewhere', 'fresh', 'ok'].includes(c.outcome),
          `${c.name}: ${c.outcome} ${c.message}`,
        );
        if (c.outcome === 'renewed') renewed.set(c.name, [...(renewed.get(c.name) ?? []), c.serial ?? '']);
      }
    }
    assert.equal(outcomes.filter((o) => o === 'renewed').length, certificates.length, outcomes.join(' '));
    for (const c of certificates) {
      const serials = renewed.get(c.name) ?? [];
      assert.equal(serials.length, 1, `${c.name} issued once (by ${serials.length} hosts)`);
      const stored = await verify(manifest, c.name, c.domains);
      assert.equal(stored.serial, serials[0], `${c.name}: cert:{${c.name}} holds the one issued`);
      assert.equal(await client.llen(`${PREFIX}history:{${c.name}}`), 0, `${c.name}: no second version`);
    }
    assert.deepEqual(await client.keys(`${PREFIX}lock:*`), [], 'every lock released');
    assert.deepEqual(await client.keys(`${PREFIX}challenge:*`), [], 'every challenge cleaned up');
  });
});
