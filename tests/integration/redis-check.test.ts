/**
 * The Redis store's dry-run check against a real redis-server: it proves what a run does (a lock, the
 * lock's scripts, a save, a deployment record) for ACL users that may do only part of it, names each
 * refused step with the ACL rule to add, warns when PUBLISH is refused, leaves no key behind, and a
 * replica's READONLY is reported as such.
 */
import * as assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { RedisStoreConfig } from '../../src/manifest/types.js';
import type { RedisStore } from '../../src/stores/redis/index.js';
import { StoreChecksFailed } from '../../src/stores/types.js';
import { type RedisServer, startRedis } from '../harness/redis.js';
import { memoryLogger, openStore, testContext } from './redis-fixtures.js';

let redis: RedisServer;
const stores: RedisStore[] = [];

async function open(
  config: Omit<RedisStoreConfig, 'type'>,
  env: Record<string, string> = {},
  logger = memoryLogger(),
): Promise<RedisStore> {
  const store = await openStore(config, testContext({ env, logger }));
  stores.push(store);
  return store;
}

/** The refusals checkWritable rejected with, one line each. */
async function refusals(store: RedisStore): Promise<string[]> {
  try {
    await store.checkWritable();
  } catch (error) {
    if (error instanceof StoreChecksFailed) return error.refusals.map((r) => r.oneLine);
    return [(error as { oneLine?: string }).oneLine ?? String(error)];
  }
  return [];
}

before(async () => {
  redis = await startRedis();
  // The trial's users: one without the scripting commands, one that may write only `probe*` keys.
  await redis.cli(
    'ACL',
    'SETUSER',
    'noeval',
    'on',
    '>pw-noeval',
    '~t3:*',
    '&*',
    '+@all',
    '-eval',
    '-evalsha',
  );
  await redis.cli('ACL', 'SETUSER', 'part', 'on', '>pw-part', '%R~t9:*', '~t9:probe*', '&*', '+@all');
  // Everything under its prefix, but no channel (Redis 7's default for new users: resetchannels).
  await redis.cli('ACL', 'SETUSER', 'nopub', 'on', '>pw-nopub', '~t5:*', '+@all');
  await redis.cli('ACL', 'SETUSER', 'full', 'on', '>pw-full', '~t6:*', '&*', '+@all');
  // A trial's user: every key family a run writes but `attempts:` (and `revocations:`, `renewal-info:`),
  // which loading every certificate reads (before, the check passed and every certificate then failed).
  await redis.cli(
    'ACL',
    'SETUSER',
    'fewkeys',
    'on',
    '>pw-fewkeys',
    '~t7:cert:*',
    '~t7:history:*',
    '~t7:lock:*',
    '~t7:deployed:*',
    '&*',
    '+@all',
  );
  // Everything but DEL: the lock's release script calls it (Redis says so without NOPERM).
  await redis.cli('ACL', 'SETUSER', 'nodel', 'on', '>pw-nodel', '~t4:*', '&*', '+@all', '-del');
  // Everything but SCAN, with which plans and runs list the store's orphans and prune finds them.
  await redis.cli('ACL', 'SETUSER', 'noscan', 'on', '>pw-noscan', '~t8:*', '&*', '+@all', '-scan');
});

after(async () => {
  await Promise.allSettled(stores.map((s) => s.close()));
  await redis?.stop();
});

function user(name: string, keyPrefix: string) {
  return {
    config: {
      url: redis.url,
      keyPrefix,
      username: { env: 'RU' },
      password: { env: 'RP' },
    },
    env: { RU: name, RP: `pw-${name}` },
  };
}

describe('dry-run check of a Redis store', () => {
  test('a user who may do what a run does passes, and no key is left behind', async () => {
    const { config, env } = user('full', 't6:');
    const logger = memoryLogger();
    const store = await open({ ...config, announce: { channel: 'certs' } }, env, logger);
    const before = await redis.cli('DBSIZE');
    assert.match(await store.checkWritable(), /^redis redis:\/\/127\.0\.0\.1:\d+: reachable and writable$/);
    assert.equal(await redis.cli('DBSIZE'), before);
    assert.deepEqual(
      logger.lines.filter((l) => /warn/.test(l)),
      [],
    );
  });

  test('a user without EVAL: one line each for the lock scripts and the save script, with the rule +eval', async () => {
    const { config, env } = user('noeval', 't3:');
    const lines = await refusals(await open(config, env));
    assert.equal(lines.length, 2, lines.join('\n'));
    assert.match(
      lines[0] ?? '',
      /^redis store "shared" \(redis:\/\/127\.0\.0\.1:\d+\): a run cannot extend and release a lock \(EVAL on t3:lock:\{…\}\): NOPERM .*'eval'.* \(add \+eval to the user's ACL\)$/,
    );
    assert.match(
      lines[1] ?? '',
      /^redis store "shared" \(redis:\/\/127\.0\.0\.1:\d+\): a run cannot save a certificate \(EVAL of the save script on t3:cert:\{…\} and t3:history:\{…\}\): NOPERM .*'eval'.* \(add \+eval to the user's ACL\)$/,
    );
    assert.equal(await redis.cli('KEYS', 't3:*'), '', 'nothing left behind');
  });

  test('a user who may write only probe keys: each refused step, with the key rule', async () => {
    const { config, env } = user('part', 't9:');
    const lines = await refusals(await open(config, env));
    const steps = [
      /a run cannot take a lock \(SET NX PX on t9:lock:\{…\}\): NOPERM/,
      /a run cannot extend and release a lock \(EVAL on t9:lock:\{…\}\): NOPERM/,
      /a run cannot save a certificate \(EVAL of the save script on t9:cert:\{…\} and t9:history:\{…\}\): NOPERM/,
      /a run cannot record a deployment \(HSET t9:deployed:\{…\}\): NOPERM/,
    ];
    for (const step of steps) {
      const line = lines.find((l) => step.test(l));
      assert.ok(line, `${step} in:\n${lines.join('\n')}`);
    }
    for (const line of lines) assert.match(line, /\(add ~t9:\* to the user's ACL/, line);
  });

  test('a user who may not touch attempts, revocations or renewal information: each is refused, with the key rule', async () => {
    const { config, env } = user('fewkeys', 't7:');
    const lines = await refusals(await open(config, env));
    const steps = [
      /a run cannot load certificates \(MGET of t7:cert:\{…\} and t7:attempts:\{…\}\): NOPERM/,
      /a run cannot record a failed attempt \(SET t7:attempts:\{…\}\): NOPERM/,
      /a run cannot log and read revocations \(LPUSH, LRANGE t7:revocations:\{…\}\): NOPERM/,
      /a run cannot keep renewal information \(SET, GET t7:renewal-info:…\): NOPERM/,
      /a run cannot keep a local CA and ACME accounts \(SET NX, GET t7:local-ca:…, t7:account:…\): NOPERM/,
      /a run cannot answer http-01 challenges \(SET PX t7:challenge:…\): NOPERM/,
    ];
    for (const step of steps) {
      const line = lines.find((l) => step.test(l));
      assert.ok(line, `${step} in:\n${lines.join('\n')}`);
      assert.match(line ?? '', /\(add ~t7:\* to the user's ACL/);
    }
  });

  test('DEL refused: the script line names the commands to add, DEL is said once, keys are left to expire', async () => {
    const { config, env } = user('nodel', 't4:');
    const lines = await refusals(await open(config, env));
    const script = lines.find((l) => /a run cannot extend and release a lock/.test(l));
    assert.match(
      script ?? '',
      /can't run this command.*\(the script calls a command this user may not run: add \+get \+set \+del/,
      lines.join('\n'),
    );
    const deletes = lines.filter((l) => /a run cannot delete the keys it wrote/.test(l));
    assert.equal(deletes.length, 1, lines.join('\n'));
    assert.match(deletes[0] ?? '', /\(add \+del to the user's ACL\)/);
  });

  test('SCAN refused: a warning naming +scan (orphans are not listed, prune fails); the check passes', async () => {
    const { config, env } = user('noscan', 't8:');
    const logger = memoryLogger();
    const store = await open(config, env, logger);
    assert.match(
      await store.checkWritable(),
      /reachable and writable; the store cannot be listed \(warning\)$/,
    );
    const warnings = logger.lines.filter((l) => /SCAN t8:cert:\{\*\}/.test(l));
    assert.equal(warnings.length, 1, logger.lines.join('\n'));
    assert.match(warnings[0] ?? '', /NOPERM.*\(add \+scan to the user's ACL\); orphans would not be listed/);
    assert.equal(await redis.cli('KEYS', 't8:*'), '', 'nothing left behind');
    // What a run then meets (listing the store: orphans, a local CA's first issue) names the rule too.
    await assert.rejects(store.listNames(), (error: unknown) => {
      assert.match((error as { oneLine?: string }).oneLine ?? '', /NOPERM.*\(add \+scan to the user's ACL/);
      return true;
    });
  });

  test('PUBLISH refused on the announce channel: a warning, the check passes', async () => {
    const { config, env } = user('nopub', 't5:');
    const logger = memoryLogger();
    const store = await open({ ...config, announce: { channel: 'certs' } }, env, logger);
    assert.match(await store.checkWritable(), /reachable and writable; announcing on "certs" is refused/);
    const warnings = logger.lines.filter((l) => /PUBLISH on channel "certs"/.test(l));
    assert.equal(warnings.length, 1, logger.lines.join('\n'));
    assert.match(warnings[0] ?? '', /NOPERM.*\(add &certs to the user's ACL\)/);
    // Without announce, PUBLISH is not asked for.
    const quiet = await open(config, env);
    assert.match(await quiet.checkWritable(), /reachable and writable$/);
  });

  test('nothing is published to subscribers by the check', async () => {
    const { config, env } = user('full', 't6:');
    const store = await open({ ...config, announce: { channel: 'certs-quiet' } }, env);
    await store.checkWritable();
    // PUBSUB NUMPAT/NUMSUB cannot tell past messages; the server's stats can: no PUBLISH was executed.
    const stats = await redis.cli('INFO', 'commandstats');
    assert.doesNotMatch(stats, /cmdstat_publish:calls=[1-9]/);
  });
});

describe('a replica given as the store', () => {
  let replica: RedisServer;
  before(async () => {
    replica = await startRedis({ args: ['--replicaof', '127.0.0.1', String(redis.port)] });
  });
  after(async () => {
    await replica?.stop();
  });

  test('the check and a lock fail with READONLY and a hint, not a timeout', async () => {
    const store = await open({ url: replica.url, keyPrefix: 'ro:' });
    const lines = await refusals(store);
    assert.ok(lines.length > 0);
    for (const line of lines) {
      assert.match(line, /READONLY You can't write against a read only replica/, line);
      assert.match(line, /point the store's url at the master, or use `sentinel`/, line);
    }
    await assert.rejects(
      store.locker().acquire('web', { waitMs: 0 }),
      (error: { code?: string; message?: string; hint?: string }) => {
        assert.equal(error.code, 'STORE_WRITE_FAILED');
        assert.match(error.message ?? '', /cannot take a lock: READONLY You can't write/);
        assert.match(error.hint ?? '', /read-only replica/);
        return true;
      },
    );
  });
});
