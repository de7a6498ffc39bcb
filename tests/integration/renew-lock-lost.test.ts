/**
 * A renewal whose Redis lock is lost while the certificate is issued stores nothing, and says how the lock
 * was lost: it expired (a paused Redis, a stalled machine: the key is gone after lockTimeout), or it
 * vanished well before lockTimeout (deleted, or lost in a failover: no advice to raise lockTimeout) — not
 * "another cert-renew took it over" unless another process holds it now. Real Redis, real local CA, real Session; the only seam is
 * a locker that lets the lock go right after taking it (as a lock that ran out of time would be).
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { renewOne } from '../../src/execute/renew.js';
import { createLogger } from '../../src/runtime/logger.js';
import { Session } from '../../src/runtime/session.js';
import { writeManifest } from '../e2e/fixtures.js';
import { redisManifest } from '../e2e/redis-fixtures.js';
import { type TempDir, tempDir } from '../harness/process.js';
import { type RedisServer, startRedis } from '../harness/redis.js';

let redis: RedisServer;
let dir: TempDir;
before(async () => {
  redis = await startRedis();
  dir = await tempDir('cert-renew-lock-lost-');
});
after(async () => {
  await redis?.stop();
  await dir?.remove();
});

/** The tests' clock: real time plus `skewMs`, which a test moves forward (a lock's age without waiting). */
let skewMs = 0;
const clock = { now: () => new Date(Date.now() + skewMs) };

/** Renews `name` once, with `meanwhile` run against Redis right after its lock was taken. */
async function renewLosing(name: string, meanwhile: () => Promise<unknown>) {
  const path = await writeManifest(dir.path, redisManifest({ url: redis.url, lockTimeout: '2m' }, [name]));
  const lines: string[] = [];
  const logger = createLogger((line) => lines.push(line), 'debug');
  const session = await Session.open(path, 86_400_000, {
    clock,
    logger,
    env: {},
    hostname: 'test-host',
    pid: process.pid,
  });
  try {
    const entry = session.certificates[0];
    assert.ok(entry);
    const real = await session.locker(entry);
    session.locker = async () => ({
      acquire: async (lockName, options) => {
        const lock = await real.acquire(lockName, options);
        await meanwhile();
        return lock;
      },
    });
    const failure = await renewOne(session, entry, {
      clock,
      logger,
      runIntervalMs: 86_400_000,
      force: true,
      runStartedAt: new Date(),
      lockWaitMs: 10_000,
      deadlineMs: 5 * 60_000,
      gatheredFingerprint: undefined,
    }).then(
      () => assert.fail('renewed without its lock'),
      (error: unknown) => error as Error & { code: string; hint?: string },
    );
    const loaded = await (await session.store('shared')).load(name);
    return { failure, loaded, lines };
  } finally {
    await session.close();
  }
}

test('a lock that expired during the issuance is reported as expired, and so recorded', async () => {
  // Its key is gone, and lockTimeout (2m) has passed since it was last extended.
  const { failure, loaded, lines } = await renewLosing('lapsed', async () => {
    await redis.cli('DEL', 'lock:{lapsed}');
    skewMs += 3 * 60_000;
  });
  assert.equal(failure.code, 'LOCK_BUSY');
  assert.equal(
    failure.message,
    'lapsed: the lock expired while the certificate was issued; nothing was stored',
  );
  assert.match(failure.hint ?? '', /raise lockTimeout or check the store's latency/);
  assert.equal(loaded.state, 'missing', 'nothing was stored');
  assert.match(loaded.attempts?.lastError ?? '', /the lock expired while the certificate was issued/);
  assert.doesNotMatch(loaded.attempts?.lastError ?? '', /took the lock over/);
  // The holder's own extension at the phase boundary noticed it too, in the same words.
  assert.ok(
    lines.some((l) => /the lock lock:\{lapsed\} for certificate "lapsed" was lost: it expired \(/.test(l)),
    lines.join('\n'),
  );
  assert.equal(await redis.cli('EXISTS', 'lock:{lapsed}'), '0');
});

test('a lock whose key vanished well before lockTimeout (a failover, a DEL) is not blamed on lockTimeout', async () => {
  const { failure, loaded, lines } = await renewLosing('gone', () => redis.cli('DEL', 'lock:{gone}'));
  assert.equal(failure.code, 'LOCK_BUSY');
  assert.equal(
    failure.message,
    'gone: the lock disappeared while the certificate was issued, well before lockTimeout (deleted, or lost in a store failover); nothing was stored',
  );
  assert.doesNotMatch(failure.hint ?? '', /lockTimeout/);
  assert.equal(loaded.state, 'missing', 'nothing was stored');
  const line = lines.find((l) => l.includes('lock:{gone}') && l.includes('was lost'));
  assert.ok(line, lines.join('\n'));
  assert.match(
    line,
    /the key disappeared .* well within lockTimeout \(2m\): it was deleted, or lost in a Redis failover/,
  );
  assert.doesNotMatch(line, /expired|longer lockTimeout/);
});

test('a lock another process holds by the time of saving names that process', async () => {
  const { failure, loaded } = await renewLosing('taken', () =>
    redis.cli('SET', 'lock:{taken}', 'host-z:4242:00112233aabbccdd', 'PX', '60000'),
  );
  assert.equal(failure.code, 'LOCK_BUSY');
  assert.equal(
    failure.message,
    'taken: the lock disappeared while the certificate was issued, well before lockTimeout (deleted, or lost in a store failover), and host-z:4242 holds it now; nothing was stored',
  );
  assert.equal(loaded.state, 'missing');
  assert.equal(await redis.cli('GET', 'lock:{taken}'), 'host-z:4242:00112233aabbccdd', 'left alone');
});
