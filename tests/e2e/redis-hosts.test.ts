/**
 * Several hosts, one Redis: four `cert-renew run` processes started at once issue each certificate exactly
 * once, whether the certificates live in Redis or on a shared filesystem path locked through Redis.
 */
import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { tempDir } from '../harness/process.js';
import { startRedis } from '../harness/redis.js';
import { runCli } from './cli.js';
import { writeManifest } from './fixtures.js';
import { names, readCertValue, redisManifest, runReport } from './redis-fixtures.js';

const HOSTS = 4;

/** Runs the manifest on four "hosts" at once; returns, per certificate, the serials reported `renewed`. */
async function fourAtOnce(manifest: string): Promise<Map<string, string[]>> {
  const results = await Promise.all(
    Array.from({ length: HOSTS }, () => runCli(['-m', manifest, 'run', '--json', '--concurrency', '2'])),
  );
  const renewed = new Map<string, string[]>();
  for (const r of results) {
    assert.equal(r.code, 0, r.stderr);
    for (const c of runReport(r).certificates) {
      assert.ok(
        ['renewed', 'renewed-elsewhere', 'fresh', 'ok'].includes(c.outcome),
        `${c.name}: ${c.outcome} ${c.message}`,
      );
      if (c.outcome === 'renewed') {
        assert.ok(c.serial, `${c.name}: a renewed certificate has a serial`);
        renewed.set(c.name, [...(renewed.get(c.name) ?? []), c.serial]);
      }
    }
  }
  return renewed;
}

describe('four hosts at once against one Redis', () => {
  test('certificates in Redis: each issued once, the others see it renewed elsewhere', async (t) => {
    const redis = await startRedis();
    const tmp = await tempDir();
    t.after(async () => {
      await redis.stop();
      await tmp.remove();
    });
    const certs = names(6);
    const manifest = await writeManifest(tmp.path, redisManifest({ url: redis.url }, certs));

    const renewed = await fourAtOnce(manifest);
    for (const name of certs) {
      const serials = renewed.get(name) ?? [];
      assert.equal(serials.length, 1, `${name} issued once (by ${serials.length} hosts)`);
      const stored = await readCertValue(redis.cli, name);
      assert.equal(stored?.serial, serials[0], `${name}: cert:{${name}} holds the one renewed`);
      assert.equal(await redis.cli('LLEN', `history:{${name}}`), '0', `${name}: no earlier version`);
    }
    assert.equal(await redis.cli('KEYS', 'lock:*'), '', 'every lock released');

    // A fifth host afterwards finds nothing to do.
    const after = await runCli(['-m', manifest, 'run', '--json']);
    assert.equal(after.code, 0, after.stderr);
    assert.deepEqual(
      runReport(after).certificates.map((c) => c.outcome),
      certs.map(() => 'ok'),
    );
  });

  test('certificates on a shared filesystem path, locks in Redis: each issued once', async (t) => {
    const redis = await startRedis();
    const tmp = await tempDir();
    t.after(async () => {
      await redis.stop();
      await tmp.remove();
    });
    const certs = names(6, 'nfs');
    const storePath = join(tmp.path, 'shared-nfs');
    const manifest = await writeManifest(
      tmp.path,
      redisManifest({ url: redis.url }, certs, {
        defaults: { issuer: 'local', store: 'files' },
        stores: {
          files: { type: 'filesystem', path: storePath, locks: 'shared' },
          shared: { type: 'redis', url: redis.url },
        },
      }),
    );

    const renewed = await fourAtOnce(manifest);
    for (const name of certs) {
      assert.equal(renewed.get(name)?.length, 1, `${name} issued once`);
      const versions = (await readdir(join(storePath, name, 'versions'))).filter((v) => !v.startsWith('.'));
      assert.equal(versions.length, 1, `${name}: one version on disk (${versions.join(',')})`);
    }
    // The locks went through Redis, not lock files.
    const stats = await redis.cli('INFO', 'commandstats');
    assert.match(stats, /^cmdstat_set:calls=\d+/m, 'SET NX PX in Redis');
    assert.match(stats, /^cmdstat_eval:calls=\d+/m, 'compare-and-DEL in Redis');
    assert.equal(await redis.cli('KEYS', 'lock:*'), '', 'every lock released');
    await assert.rejects(readdir(join(storePath, '.cert-renew', 'locks')), 'no lock files on the path');
    assert.equal(await redis.cli('KEYS', 'cert:*'), '', 'no certificate in Redis');
  });
});
