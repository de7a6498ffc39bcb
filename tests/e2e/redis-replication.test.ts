/**
 * A renewal whose save no replica acknowledged (operator trial 15: a certificate reported renewed, hooks
 * run and a deployment recorded, then lost in a Sentinel failover) is not claimed through the CLI: the
 * certificate fails with STORE_WRITE_FAILED naming it, no hook runs, no deployment is recorded; once the
 * replica answers again, the next run deploys what the master kept. The replica is stopped with SIGSTOP:
 * no acknowledgement can come (deterministic).
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { tempDir } from '../harness/process.js';
import { startRedis } from '../harness/redis.js';
import { hasStackTrace, runCli } from './cli.js';
import { writeManifest } from './fixtures.js';
import { readCertValue, redisManifest, runReport } from './redis-fixtures.js';

describe('saves confirmed on a replica, through the CLI', () => {
  test('an unconfirmed save is a failure: no hooks, no deployment; the next run deploys what the master kept', async (t) => {
    const master = await startRedis();
    const replica = await startRedis({ args: ['--replicaof', '127.0.0.1', String(master.port)] });
    const tmp = await tempDir();
    let stopped: number | undefined;
    t.after(async () => {
      if (stopped !== undefined) process.kill(stopped, 'SIGCONT');
      await replica.stop();
      await master.stop();
      await tmp.remove();
    });
    for (let i = 0; i < 600; i++) {
      if ((await replica.cli('INFO', 'replication')).includes('master_link_status:up')) break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const log = join(tmp.path, 'hooks.log');
    const manifest = await writeManifest(
      tmp.path,
      redisManifest({ url: master.url }, ['s2'], {
        defaults: {
          issuer: 'local',
          store: 'shared',
          hooks: {
            postRenew: [{ name: 'log', run: ['/bin/sh', '-c', `echo "$CERT_RENEW_SERIAL" >> '${log}'`] }],
          },
        },
      }),
    );
    const first = await runCli(['-m', manifest, 'run', '--json', '--host-id', 'vm']);
    assert.equal(first.code, 0, first.stderr);
    const firstSerial = (await readCertValue(master.cli, 's2'))?.serial;
    assert.ok(firstSerial);

    const pid = Number(/process_id:(\d+)/.exec(await replica.cli('INFO', 'server'))?.[1]);
    process.kill(pid, 'SIGSTOP');
    stopped = pid;
    const hooksBefore = await readFile(log, 'utf8');
    const forced = await runCli(['-m', manifest, 'run', '--json', '--force', '--host-id', 'vm']);
    assert.equal(forced.code, 1, forced.stderr);
    assert.ok(!hasStackTrace(forced.stderr), forced.stderr);
    const c = runReport(forced).certificates.find((x) => x.name === 's2');
    assert.equal(c?.outcome, 'failed');
    assert.equal(c?.error?.code, 'STORE_WRITE_FAILED');
    assert.match(
      c?.error?.message ?? '',
      /certificate "s2" \(serial [0-9A-F]+\) was written to the master, but no replica acknowledged it within 5 s: a failover now would lose it, so it is not reported renewed and no hooks ran/,
    );
    assert.equal(await readFile(log, 'utf8'), hooksBefore, 'no hook ran');
    const kept = (await readCertValue(master.cli, 's2'))?.serial;
    assert.notEqual(kept, firstSerial, 'the master holds the new version');
    const deployed = JSON.parse(await master.cli('HGET', 'deployed:{s2}', 'vm')) as { serial?: string };
    assert.equal(deployed.serial, firstSerial, 'the deployment record still names what was deployed');

    process.kill(pid, 'SIGCONT');
    stopped = undefined;
    // The master kept it: the next run deploys it (its hooks run now), without issuing again.
    const next = await runCli(['-m', manifest, 'run', '--json', '--host-id', 'vm']);
    assert.equal(next.code, 0, next.stderr);
    assert.equal((await readCertValue(master.cli, 's2'))?.serial, kept, 'not issued again');
    assert.match(await readFile(log, 'utf8'), new RegExp(`${kept}`, 'i'));
    const now = JSON.parse(await master.cli('HGET', 'deployed:{s2}', 'vm')) as { serial?: string };
    assert.equal(now.serial, kept);
  });
});
