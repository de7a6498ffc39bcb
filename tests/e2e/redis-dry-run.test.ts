/**
 * `run --dry-run` against a Redis store through the CLI, as the operator trial saw it: ACL users who may
 * not do what a run does fail the dry run with one line per refused step and the rule to add; a replica
 * given as the store fails the dry run and the run with its READONLY reply at once, not after a timeout.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type TempDir, tempDir } from '../harness/process.js';
import { type RedisServer, startRedis } from '../harness/redis.js';
import { hasStackTrace, runCli } from './cli.js';
import { writeManifest } from './fixtures.js';
import { redisManifest, runReport } from './redis-fixtures.js';

let redis: RedisServer;
let tmp: TempDir;

before(async () => {
  [redis, tmp] = await Promise.all([startRedis(), tempDir()]);
  await redis.cli('ACL', 'SETUSER', 'certs', 'on', '>pw-certs', '~t3:*', '&*', '+@all', '-eval', '-evalsha');
  await redis.cli('ACL', 'SETUSER', 'part', 'on', '>pw-part', '%R~t9:*', '~t9:probe*', '&*', '+@all');
});

after(async () => {
  await redis?.stop();
  await tmp?.remove();
});

/** The `store` lines of a dry run's check table. */
function storeChecks(stdout: string): string[] {
  return stdout.split('\n').filter((l) => /^store\s+shared\s/.test(l));
}

describe('run --dry-run proves what a run does', () => {
  for (const [user, prefix, expected] of [
    ['certs', 't3:', [/extend and release a lock \(EVAL on t3:lock:\{…\}\): NOPERM .*\+eval/]],
    [
      'part',
      't9:',
      [
        /take a lock \(SET NX PX on t9:lock:\{…\}\): NOPERM .*~t9:\*/,
        /save a certificate .*t9:cert:\{…\}.*: NOPERM/,
      ],
    ],
  ] as const) {
    test(`ACL user "${user}": the dry run fails, one line per refused step, nothing issued`, async () => {
      const manifest = await writeManifest(
        tmp.path,
        redisManifest(
          {
            url: redis.url,
            keyPrefix: prefix,
            username: { env: 'RU' },
            password: { env: 'RP' },
          },
          ['web'],
        ),
        `${user}.json`,
      );
      const env = { RU: user, RP: `pw-${user}` };
      const dry = await runCli(['-m', manifest, 'run', '--dry-run'], { env, killAfterMs: 120_000 });
      assert.equal(dry.code, 1, dry.stdout + dry.stderr);
      assert.ok(!hasStackTrace(dry.stdout + dry.stderr), dry.stderr);
      assert.doesNotMatch(dry.stdout, /reachable and writable/);
      const lines = storeChecks(dry.stdout);
      for (const pattern of expected) {
        assert.ok(
          lines.some((l) => pattern.test(l)),
          `${pattern} in:\n${dry.stdout}`,
        );
      }
      for (const line of lines) assert.match(line, /failed/);
      assert.equal(await redis.cli('KEYS', `${prefix}*`), '', 'nothing written, nothing left');
    });
  }
});

describe('a replica given as the store', () => {
  let replica: RedisServer;
  before(async () => {
    replica = await startRedis({ args: ['--replicaof', '127.0.0.1', String(redis.port)] });
  });
  after(async () => {
    await replica?.stop();
  });

  test('dry run and run fail with READONLY and the hint, not "no answer within 20 s"', async () => {
    const manifest = await writeManifest(
      tmp.path,
      redisManifest({ url: replica.url, keyPrefix: 'ro:' }, ['web']),
      'replica.json',
    );
    // A guard against hanging, not a timing assertion.
    const dry = await runCli(['-m', manifest, 'run', '--dry-run'], { killAfterMs: 120_000 });
    assert.equal(dry.code, 1, dry.stdout + dry.stderr);
    assert.match(dry.stdout, /READONLY You can't write against a read only replica/);
    assert.match(dry.stdout, /point the store's url at the master, or use `sentinel`/);
    assert.doesNotMatch(dry.stdout + dry.stderr, /no answer within/);

    const run = await runCli(['-m', manifest, 'run', '--json'], { killAfterMs: 120_000 });
    assert.equal(run.code, 1, run.stderr);
    assert.ok(!hasStackTrace(run.stderr), run.stderr);
    const [web] = runReport(run).certificates;
    assert.equal(web?.outcome, 'failed');
    assert.equal(web?.error?.code, 'STORE_WRITE_FAILED');
    assert.match(web?.error?.message ?? '', /READONLY You can't write against a read only replica/);
    assert.doesNotMatch(run.stderr, /no answer within/);
  });
});
