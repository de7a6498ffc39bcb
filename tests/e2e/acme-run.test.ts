/**
 * `cert-renew run` against a real Pebble that validates for real (names resolve to 127.0.0.1 through
 * pebble-challtestsrv): several certificates in one run (single name, several SANs, a wildcard with its
 * apex by dns-01 exec, ECDSA and RSA keys), each chain checked against Pebble's root, a shared hook run
 * once; then the challengeDirectory and redis http-01 variants, each in its own run.
 */
import assert from 'node:assert/strict';
import { mkdir, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { type Pebble, startPebble, writeDnsExecHook } from '../harness/pebble.js';
import { type TempDir, tempDir } from '../harness/process.js';
import { type RedisServer, startRedis } from '../harness/redis.js';
import { closeServer, serveFromRedis, serveWebroot } from '../integration/acme-fixtures.js';
import { acmeManifest, loggingHook, pebbleIssuer, readAndVerify, standalone } from './acme-e2e-fixtures.js';
import { hasStackTrace, runCli } from './cli.js';
import { logLines, parseReport } from './e2e-helpers.js';
import { writeManifest } from './fixtures.js';

describe('cert-renew run against Pebble', () => {
  let pebble: Pebble;
  let tmp: TempDir;

  before(async () => {
    tmp = await tempDir('cert-renew-acme-run-');
    pebble = await startPebble();
  });
  after(async () => {
    await pebble?.stop();
    await tmp?.remove();
  });

  test('several certificates in one run: issued, stored, chains verify to the root, hook ran once', async () => {
    const store = join(tmp.path, 'certs');
    const hookLog = join(tmp.path, 'hook.log');
    const hook = await loggingHook(tmp.path, hookLog);
    const dnsHook = await writeDnsExecHook(tmp.path, pebble.challtestsrvUrl);
    const manifest = await writeManifest(
      tmp.path,
      acmeManifest(
        pebbleIssuer(pebble, standalone(pebble)),
        store,
        [
          { name: 'single', domains: ['single.example.test'] },
          {
            name: 'multi',
            domains: ['multi.example.test', 'www.multi.example.test', 'api.multi.example.test'],
            keyType: 'rsa-2048',
          },
          { name: 'second', domains: ['second.example.test', 'www.second.example.test'] },
          {
            name: 'wild',
            domains: ['wild.example.test', '*.wild.example.test'],
            challenge: {
              type: 'dns-01',
              exec: dnsHook,
              propagationDelay: '0s',
              nameservers: [`127.0.0.1:${pebble.dnsPort}`],
            },
          },
        ],
        { postRenew: [{ run: [hook], name: 'reload' }] },
      ),
    );

    // Three certificates share the standalone listener on Pebble's http port at once.
    const r = await runCli(['-m', manifest, 'run', '--json', '--concurrency', '4']);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(!hasStackTrace(r.stderr), r.stderr);
    const report = parseReport(r.stdout);
    assert.deepEqual(
      report.certificates.map((c) => [c.name, c.outcome, c.reason, c.via]),
      [
        ['single', 'renewed', 'missing', 'acme order'],
        ['multi', 'renewed', 'missing', 'acme order'],
        ['second', 'renewed', 'missing', 'acme order'],
        ['wild', 'renewed', 'missing', 'acme order'],
      ],
    );

    const root = await pebble.roots();
    const single = await readAndVerify(store, 'single', root);
    assert.deepEqual(single.dnsNames, ['single.example.test']);
    assert.equal(single.keyType, 'ec');
    assert.ok(single.keyMatches);
    const multi = await readAndVerify(store, 'multi', root);
    assert.deepEqual(multi.dnsNames, [
      'api.multi.example.test',
      'multi.example.test',
      'www.multi.example.test',
    ]);
    assert.equal(multi.keyType, 'rsa');
    assert.equal(multi.keyBits, 2048);
    assert.ok(multi.keyMatches);
    const wild = await readAndVerify(store, 'wild', root);
    assert.deepEqual(wild.dnsNames, ['*.wild.example.test', 'wild.example.test']);
    assert.ok(wild.keyMatches);
    const second = await readAndVerify(store, 'second', root);
    assert.ok(second.keyMatches);
    for (const c of report.certificates) {
      const stored = { single, multi, second, wild }[c.name as 'single'];
      assert.equal(
        c.fingerprint?.replaceAll(':', '').toLowerCase(),
        stored.cert.fingerprint256.replaceAll(':', '').toLowerCase(),
      );
    }

    // One shared hook, run once for all four after the renewals (listed in the order they finished).
    const lines = await logLines(hookLog);
    assert.equal(lines.length, 1, lines.join('\n'));
    const [event, ...names] = (lines[0] as string).split(' ');
    assert.equal(event, 'post-renew');
    assert.deepEqual(names.sort(), ['multi', 'second', 'single', 'wild']);
    assert.equal(report.hooks.length, 1);
    assert.equal(report.hooks[0]?.ok, true);
    assert.deepEqual([...(report.hooks[0]?.certificates ?? [])].sort(), [
      'multi',
      'second',
      'single',
      'wild',
    ]);
    assert.ok(report.certificates.every((c) => c.hooks.length === 1 && c.hooks[0] === 'reload'));

    // The next run has nothing to do (five-year Pebble certificates) and runs no hook.
    const again = await runCli(['-m', manifest, 'run', '--json']);
    assert.equal(again.code, 0, again.stderr);
    assert.deepEqual(
      parseReport(again.stdout).certificates.map((c) => c.outcome),
      ['ok', 'ok', 'ok', 'ok'],
    );
    assert.equal((await logLines(hookLog)).length, 1);
  });

  test('http-01 challengeDirectory: served by a test HTTP server, token files removed afterwards', async () => {
    const store = join(tmp.path, 'webroot-certs');
    const webroot = join(tmp.path, 'webroot');
    await mkdir(webroot);
    const server = await serveWebroot(webroot, pebble.httpPort);
    try {
      const manifest = await writeManifest(
        tmp.path,
        acmeManifest(pebbleIssuer(pebble, { type: 'http-01', challengeDirectory: 'webroot' }), store, [
          { name: 'web', domains: ['web.example.test', 'www.web.example.test'] },
          { name: 'web-rsa', domains: ['rsa.web.example.test'], keyType: 'rsa-2048' },
        ]),
        'webroot-manifest.json',
      );
      const r = await runCli(['-m', manifest, 'run', '--json', '--concurrency', '2']);
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(
        parseReport(r.stdout).certificates.map((c) => [c.name, c.outcome]),
        [
          ['web', 'renewed'],
          ['web-rsa', 'renewed'],
        ],
      );
      const root = await pebble.roots();
      assert.deepEqual((await readAndVerify(store, 'web', root)).dnsNames, [
        'web.example.test',
        'www.web.example.test',
      ]);
      assert.ok((await readAndVerify(store, 'web-rsa', root)).keyMatches);
      assert.deepEqual(await readdir(webroot), [], 'token files are removed');
    } finally {
      await closeServer(server);
    }
  });

  describe('http-01 through Redis', () => {
    let redis: RedisServer;
    before(async () => {
      redis = await startRedis();
    });
    after(async () => {
      await redis?.stop();
    });

    test('challenge:<token> written to Redis, answered by a proxy reading it, then deleted', async () => {
      const store = join(tmp.path, 'redis-challenge-certs');
      const served: string[] = [];
      const server = await serveFromRedis(async (key) => {
        const value = await redis.cli('GET', key);
        if (value !== '') served.push(key);
        return value === '' ? null : value;
      }, pebble.httpPort);
      try {
        const base = acmeManifest(pebbleIssuer(pebble, { type: 'http-01', redis: 'cache' }), store, [
          { name: 'proxied', domains: ['proxied.example.test'] },
        ]);
        const manifest = await writeManifest(
          tmp.path,
          { ...base, stores: { ...base.stores, cache: { type: 'redis', url: redis.url } } },
          'redis-challenge-manifest.json',
        );
        const r = await runCli(['-m', manifest, 'run', '--json']);
        assert.equal(r.code, 0, r.stderr);
        assert.equal(parseReport(r.stdout).certificates[0]?.outcome, 'renewed');
        const stored = await readAndVerify(store, 'proxied', await pebble.roots());
        assert.deepEqual(stored.dnsNames, ['proxied.example.test']);
        assert.ok(served.length >= 1, 'Pebble fetched the token from the Redis-backed proxy');
        assert.ok(served.every((key) => /^challenge:[A-Za-z0-9_-]+$/.test(key)));
        assert.equal(await redis.cli('KEYS', 'challenge:*'), '', 'challenge keys deleted afterwards');
      } finally {
        await closeServer(server);
      }
    });
  });
});
