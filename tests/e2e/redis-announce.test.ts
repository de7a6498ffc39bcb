/** Renewals announced on a Redis pub/sub channel, so proxies reload without polling. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { tempDir } from '../harness/process.js';
import { startRedis } from '../harness/redis.js';
import { runCli } from './cli.js';
import { writeManifest } from './fixtures.js';
import { redisManifest, runReport } from './redis-fixtures.js';

interface Announcement {
  event: string;
  name: string;
  fingerprint: string;
  serial: string;
  notAfter: string;
  domains: string[];
  store: string;
}

const CHANNEL = 'cert-renew:renewed';

describe('announcements', () => {
  test('a subscriber hears each renewal, and a rollback', async (t) => {
    const redis = await startRedis();
    const tmp = await tempDir();
    const subscriber = new Redis(redis.url, { lazyConnect: true, maxRetriesPerRequest: 1 });
    t.after(async () => {
      subscriber.disconnect();
      await redis.stop();
      await tmp.remove();
    });
    const heard: Announcement[] = [];
    subscriber.on('message', (channel: string, message: string) => {
      if (channel === CHANNEL) heard.push(JSON.parse(message) as Announcement);
    });
    await subscriber.connect();
    await subscriber.subscribe(CHANNEL);
    const waitFor = async (count: number) => {
      // Published before the run exited; a hang guard of a minute for their delivery to this process.
      for (let i = 0; heard.length < count && i < 1200; i++) await sleep(50);
      assert.equal(heard.length, count, JSON.stringify(heard));
    };

    const certs = ['web', 'api'];
    const manifest = await writeManifest(
      tmp.path,
      redisManifest({ url: redis.url, announce: { channel: CHANNEL } }, certs),
    );
    const run = await runCli(['-m', manifest, 'run', '--json']);
    assert.equal(run.code, 0, run.stderr);
    await waitFor(2);
    for (const c of runReport(run).certificates) {
      const message = heard.find((m) => m.name === c.name);
      assert.deepEqual(message, {
        event: 'renewed',
        name: c.name,
        fingerprint: c.fingerprint,
        serial: c.serial,
        notAfter: c.notAfter,
        domains: c.domains,
        store: 'shared',
      });
    }

    // A renewal whose hook fails is rolled back, and the restored certificate is announced too.
    const failing = await writeManifest(
      tmp.path,
      redisManifest({ url: redis.url, announce: { channel: CHANNEL } }, ['web'], {
        defaults: {
          issuer: 'local',
          store: 'shared',
          hooks: { postRenew: [{ run: ['/bin/false'] }], rollbackOnHookFailure: true },
        },
      }),
      'failing.json',
    );
    const before = heard.find((m) => m.name === 'web');
    const rolled = await runCli(['-m', failing, 'run', '--json', '--force']);
    assert.equal(rolled.code, 1, rolled.stderr);
    assert.equal(runReport(rolled).certificates[0]?.outcome, 'rolled-back');
    await waitFor(4);
    assert.deepEqual(
      heard.slice(2).map((m) => m.event),
      ['renewed', 'rolled-back'],
    );
    assert.notEqual(heard[2]?.serial, before?.serial);
    assert.equal(heard[3]?.serial, before?.serial, 'the restored certificate is the one from before');
  });
});
