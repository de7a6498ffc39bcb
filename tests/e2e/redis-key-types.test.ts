/**
 * Wrongly typed keys through the CLI (operator trial 15): a `deployed:{name}` set with SET fails that
 * certificate alone, a `cert:{name}` made a hash is an error (not missing, not reissued over), a `history:{name}` of the
 * wrong type makes the save fail without replacing the certificate — each naming the key and its type.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { tempDir } from '../harness/process.js';
import { startRedis } from '../harness/redis.js';
import { hasStackTrace, runCli } from './cli.js';
import { writeManifest } from './fixtures.js';
import { redisManifest, runReport } from './redis-fixtures.js';

describe('wrongly typed Redis keys through the CLI', () => {
  test('one bad key affects its certificate alone, named with its type; a save is all or nothing', async (t) => {
    const redis = await startRedis();
    const tmp = await tempDir();
    t.after(async () => {
      await redis.stop();
      await tmp.remove();
    });
    const certs = ['c1', 'c2', 'c3', 'c4', 'c5', 'c6'];
    const manifest = await writeManifest(
      tmp.path,
      redisManifest({ url: redis.url, keyPrefix: 't7:' }, certs),
    );
    const first = await runCli(['-m', manifest, 'run', '--host-id', 'vm'], { killAfterMs: 120_000 });
    assert.equal(first.code, 0, first.stderr);

    await redis.cli('SET', 't7:deployed:{c4}', 'oops');
    await redis.cli('DEL', 't7:cert:{c1}');
    await redis.cli('HSET', 't7:cert:{c1}', 'fullchain_pem', 'x');

    const status = await runCli(['-m', manifest, 'status', '--check'], { killAfterMs: 60_000 });
    assert.equal(status.code, 2, status.stderr);
    const row = (name: string) => status.stdout.split('\n').find((l) => l.startsWith(`${name} `)) ?? '';
    assert.match(
      row('c1'),
      /critical +redis store "shared" .*cannot load certificate "c1": t7:cert:\{c1\} holds a hash/,
    );
    assert.match(
      row('c4'),
      /critical .*cannot load the deployments of "c4": t7:deployed:\{c4\} holds a string/,
    );
    for (const name of ['c2', 'c3', 'c5', 'c6']) assert.match(row(name), / valid /, status.stdout);

    const run = await runCli(['-m', manifest, 'run', '--json', '--host-id', 'vm'], { killAfterMs: 120_000 });
    assert.equal(run.code, 1, run.stderr);
    assert.ok(!hasStackTrace(run.stderr), run.stderr);
    const outcomes = Object.fromEntries(runReport(run).certificates.map((c) => [c.name, c]));
    for (const name of ['c2', 'c3', 'c5', 'c6']) assert.equal(outcomes[name]?.outcome, 'ok', name);
    assert.equal(outcomes.c4?.outcome, 'failed');
    assert.equal(outcomes.c4?.error?.code, 'STORE_CORRUPT');
    assert.match(outcomes.c4?.error?.message ?? '', /t7:deployed:\{c4\} holds a string.*delete it/);
    // Not issued (the save would refuse it: an order spent for nothing on every run): an error at once.
    assert.equal(outcomes.c1?.outcome, 'failed');
    assert.equal(outcomes.c1?.error?.code, 'STORE_CORRUPT');
    assert.match(
      outcomes.c1?.error?.message ?? '',
      /cannot load certificate "c1": t7:cert:\{c1\} holds a hash/,
    );
    assert.doesNotMatch(run.stderr, /c1: .*(issued|renewed)/);
    assert.equal(await redis.cli('HGET', 't7:cert:{c1}', 'fullchain_pem'), 'x', 'left alone');

    // history:{c3} a string: the save fails before writing anything; the certificate is not replaced.
    await redis.cli('SET', 't7:history:{c3}', 'oops');
    const before = await redis.cli('GET', 't7:cert:{c3}');
    const forced = await runCli(
      ['-m', manifest, 'run', '--json', '--force', '--only', 'c3', '--host-id', 'vm'],
      {
        killAfterMs: 120_000,
      },
    );
    assert.equal(forced.code, 1, forced.stderr);
    const c3 = runReport(forced).certificates.find((c) => c.name === 'c3');
    assert.equal(c3?.outcome, 'failed');
    assert.equal(c3?.error?.code, 'STORE_CORRUPT');
    assert.match(c3?.error?.message ?? '', /t7:history:\{c3\} holds a string, not the list/);
    assert.equal(await redis.cli('GET', 't7:cert:{c3}'), before, 'the certificate was not replaced');
    assert.doesNotMatch(forced.stderr, /post-renew|deploying/);
  });
});
