/** The CLI against a real Redis Cluster (three masters) and a real Sentinel set-up with a failover. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { tempDir } from '../harness/process.js';
import { startRedisCluster, startRedisSentinel } from '../harness/redis.js';
import { runCli } from './cli.js';
import { writeManifest } from './fixtures.js';
import { readCertValue, redisManifest, runReport } from './redis-fixtures.js';

interface PlanJson {
  items: { name: string; action: string; reason?: string }[];
}

describe('Redis topologies', () => {
  test('Cluster: run issues, plan shows ok, --force renews with history', async (t) => {
    const cluster = await startRedisCluster();
    const tmp = await tempDir();
    t.after(async () => {
      await cluster.stop();
      await tmp.remove();
    });
    // Names spread over the three masters' slots.
    const certs = ['alpha', 'bravo', 'charlie', 'delta', 'echo'];
    const manifest = await writeManifest(
      tmp.path,
      redisManifest({ cluster: { nodes: cluster.nodes } }, certs),
    );
    // `-c` follows MOVED redirections to the node that owns the key.
    const cli = (...args: string[]) => cluster.servers[0]!.cli('-c', ...args);

    const first = await runCli(['-m', manifest, 'run', '--json']);
    assert.equal(first.code, 0, first.stderr);
    const issued = runReport(first).certificates;
    assert.deepEqual(
      issued.map((c) => c.outcome),
      certs.map(() => 'renewed'),
    );

    const plan = await runCli(['-m', manifest, 'plan', '--json']);
    assert.equal(plan.code, 0, plan.stderr);
    assert.deepEqual(
      (JSON.parse(plan.stdout) as PlanJson).items.map((i) => [i.name, i.action, i.reason]),
      certs.map((name) => [name, 'keep', 'ok']),
    );

    const forced = await runCli(['-m', manifest, 'run', '--json', '--force']);
    assert.equal(forced.code, 0, forced.stderr);
    for (const c of runReport(forced).certificates) {
      assert.equal(c.outcome, 'renewed', `${c.name}: ${c.message}`);
      const before = issued.find((i) => i.name === c.name);
      assert.notEqual(c.serial, before?.serial, `${c.name}: a new certificate`);
      assert.equal((await readCertValue(cli, c.name))?.serial, c.serial, `${c.name}: stored`);
      const history = JSON.parse(await cli('LINDEX', `history:{${c.name}}`, '0')) as { serial: string };
      assert.equal(history.serial, before?.serial, `${c.name}: the previous one kept in its history`);
    }
    // The certificates really are spread over more than one master.
    const holding: string[] = [];
    for (const server of cluster.servers)
      if ((await server.cli('KEYS', 'cert:*')) !== '') holding.push(String(server.port));
    assert.ok(holding.length > 1, `certificates on ${holding.length} master(s)`);
  });

  test('Sentinel: run, failover, run --force on the new master, show reads it', async (t) => {
    const group = await startRedisSentinel();
    const tmp = await tempDir();
    t.after(async () => {
      await group.stop();
      await tmp.remove();
    });
    const certs = ['web', 'api'];
    const manifest = await writeManifest(
      tmp.path,
      redisManifest({ sentinel: { sentinels: group.sentinels, name: group.masterName } }, certs),
    );

    const first = await runCli(['-m', manifest, 'run', '--json']);
    assert.equal(first.code, 0, first.stderr);
    const issued = runReport(first).certificates;
    assert.deepEqual(
      issued.map((c) => c.outcome),
      ['renewed', 'renewed'],
    );
    const oldMaster = group.master;

    await group.failover();
    assert.notEqual(group.master.port, oldMaster.port);

    const second = await runCli(['-m', manifest, 'run', '--json', '--force']);
    assert.equal(second.code, 0, second.stderr);
    for (const c of runReport(second).certificates) {
      assert.equal(c.outcome, 'renewed', `${c.name}: ${c.message}`);
      assert.notEqual(c.serial, issued.find((i) => i.name === c.name)?.serial);
      // Written to the new master (the old one is now its replica and refuses writes).
      assert.equal((await readCertValue(group.master.cli, c.name))?.serial, c.serial, c.name);
      assert.match(await group.master.cli('INFO', 'replication'), /role:master/);

      const show = await runCli(['-m', manifest, 'show', c.name, '--json']);
      assert.equal(show.code, 0, show.stderr);
      assert.equal((JSON.parse(show.stdout) as { serial: string }).serial, c.serial);
    }
  });
});
