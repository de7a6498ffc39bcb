/**
 * A Redis Cluster that lost a master, and Sentinels that do not know the master name, through the CLI
 * (trial 15, faults 1, 8 and 15): never a silent exit 0, one clear line per certificate.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { pathToFileURL } from 'node:url';
import type { RedisStoreConfig } from '../../src/manifest/types.js';
import { tempDir } from '../harness/process.js';
import { type RedisCluster, startRedisCluster, startRedisSentinel } from '../harness/redis.js';
import { hasStackTrace, runCli } from './cli.js';
import { writeManifest } from './fixtures.js';
import { errorLines, names, redisManifest, runReport } from './redis-fixtures.js';

/** Waits (generously) until every live node of `cluster` reports `state`. */
async function clusterState(cluster: RedisCluster, live: number[], state: 'ok' | 'fail'): Promise<void> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const infos = await Promise.all(live.map((i) => cluster.servers[i]!.cli('CLUSTER', 'INFO')));
    if (infos.every((info) => info.includes(`cluster_state:${state}`))) return;
    assert.ok(Date.now() < deadline, `cluster_state:${state} never reached:\n${infos.join('\n')}`);
    await sleep(200);
  }
}

describe('Redis Cluster and Sentinel faults through the CLI', () => {
  test('Cluster in cluster_state:fail: every command fails with STORE_UNAVAILABLE, never a silent exit 0', async (t) => {
    const cluster = await startRedisCluster();
    const tmp = await tempDir();
    t.after(async () => {
      await cluster.stop();
      await tmp.remove();
    });
    const certs = names(6);
    const manifest = await writeManifest(
      tmp.path,
      redisManifest({ cluster: { nodes: cluster.nodes }, keyPrefix: 'c:' }, certs),
    );
    const first = await runCli(['-m', manifest, 'run']);
    assert.equal(first.code, 0, first.stderr);

    await cluster.servers[2]!.kill();
    await clusterState(cluster, [0, 1], 'fail');

    const check = await runCli(['-m', manifest, 'status', '--check']);
    assert.equal(check.code, 2, `status --check:\n${check.stdout}\n${check.stderr}`);
    assert.match(check.stdout, /the cluster is down: .* cluster_state:fail/);

    const metrics = join(tmp.path, 'run.prom');
    const run = await runCli(['-m', manifest, 'run', '--json', '--metrics-file', metrics]);
    assert.equal(run.code, 1, `run:\n${run.stdout}\n${run.stderr}`);
    assert.ok(!hasStackTrace(run.stderr), run.stderr);
    const report = runReport(run);
    assert.equal(report.certificates.length, certs.length);
    for (const c of report.certificates) {
      assert.equal(c.outcome, 'failed', c.name);
      assert.equal(c.error?.code, 'STORE_UNAVAILABLE', `${c.name}: ${c.error?.message}`);
      assert.match(c.error?.message ?? '', /cluster is down/, c.name);
    }
    assert.match(await readFile(metrics, 'utf8'), /cert_renew_last_run_success 0/);

    for (const args of [['plan'], ['run', '--dry-run']]) {
      const r = await runCli(['-m', manifest, ...args]);
      assert.equal(r.code, 1, `${args.join(' ')}:\n${r.stdout}\n${r.stderr}`);
      assert.match(`${r.stdout}${r.stderr}`, /cluster is down/, args.join(' '));
    }
    // status without --check reports (exit 0): the JSON says the store cannot be read.
    const json = await runCli(['-m', manifest, 'status', '--json']);
    assert.equal(json.code, 0, json.stderr);
    const status = JSON.parse(json.stdout) as { certificates: { error?: { code: string } }[] };
    for (const c of status.certificates) assert.equal(c.error?.code, 'STORE_UNAVAILABLE');
  });

  test('Cluster with one master down and cluster-require-full-coverage no: only its certificates fail', async (t) => {
    const cluster = await startRedisCluster();
    const tmp = await tempDir();
    t.after(async () => {
      await cluster.stop();
      await tmp.remove();
    });
    const certs = names(12);
    const manifest = await writeManifest(
      tmp.path,
      redisManifest({ cluster: { nodes: cluster.nodes }, keyPrefix: 'c:' }, certs),
    );
    const first = await runCli(['-m', manifest, 'run']);
    assert.equal(first.code, 0, first.stderr);
    for (const server of cluster.servers)
      await server.cli('CONFIG', 'SET', 'cluster-require-full-coverage', 'no');
    // The node to kill: not the one holding the local CA (every renewal needs it), one holding certificates.
    const certsOn = async (i: number) =>
      (await cluster.servers[i]!.cli('KEYS', 'c:cert:*'))
        .split('\n')
        .filter(Boolean)
        .map((key) => /\{(.+)\}/.exec(key)?.[1] ?? key)
        .sort();
    let deadIndex = -1;
    for (let i = 0; i < 3 && deadIndex < 0; i++) {
      const holdsCa = (await cluster.servers[i]!.cli('EXISTS', 'c:local-ca:local')) === '1';
      if (!holdsCa && (await certsOn(i)).length > 0) deadIndex = i;
    }
    assert.ok(deadIndex >= 0, 'a node without the local CA holds certificates');
    const dead = cluster.servers[deadIndex]!;
    const lost = await certsOn(deadIndex);
    assert.ok(lost.length > 0 && lost.length < certs.length, `certificates on the node to kill: ${lost}`);
    await dead.kill();
    await clusterState(
      cluster,
      [0, 1, 2].filter((i) => i !== deadIndex),
      'ok',
    );

    const run = await runCli(['-m', manifest, 'run', '--json']);
    assert.equal(run.code, 1, `run:\n${run.stdout}\n${run.stderr}`);
    const report = runReport(run);
    const failed = report.certificates.filter((c) => c.outcome === 'failed').map((c) => c.name);
    assert.deepEqual(failed.sort(), lost, run.stderr);
    for (const c of report.certificates.filter((c) => c.outcome !== 'failed'))
      assert.equal(c.outcome, 'ok', c.name);
    for (const name of lost) {
      const lines = errorLines(run.stderr, name);
      assert.equal(lines.length, 1, `${name}: one line:\n${run.stderr}`);
      assert.match(
        lines[0] ?? '',
        new RegExp(`cannot load certificate "${name}" from node 127\\.0\\.0\\.1:${dead.port}`),
      );
    }
    // A certificate on a live node is renewed and stored.
    const live = certs.find((n) => !lost.includes(n))!;
    const forced = await runCli(['-m', manifest, 'run', '--force', '--only', live]);
    assert.equal(forced.code, 0, `run --force --only ${live}:\n${forced.stdout}\n${forced.stderr}`);
    assert.match(forced.stdout, new RegExp(`${live}\\s+renewed`));

    const check = await runCli(['-m', manifest, 'status', '--check', '--json']);
    assert.equal(check.code, 2, check.stderr);
    const status = JSON.parse(check.stdout) as { certificates: { name: string; error?: { code: string } }[] };
    const unreadable = status.certificates.filter((c) => c.error).map((c) => c.name);
    assert.deepEqual(unreadable.sort(), lost);
  });

  test('a command whose work can never finish says so and fails instead of exiting 0 in silence', async (t) => {
    const cluster = await startRedisCluster();
    const tmp = await tempDir();
    t.after(async () => {
      await cluster.stop();
      await tmp.remove();
    });
    const manifest = await writeManifest(
      tmp.path,
      redisManifest({ cluster: { nodes: cluster.nodes } }, names(2)),
    );
    // ioredis' Cluster#connect left pending for ever, as ioredis did on cluster_state:fail: the event loop
    // empties while the command waits (see stuck-cluster-connect.ts).
    const preload = pathToFileURL(new URL('./stuck-cluster-connect.js', import.meta.url).pathname).href;
    const env = { NODE_OPTIONS: `--import=${preload}` };
    const check = await runCli(['-m', manifest, 'status', '--check'], { env });
    assert.equal(check.code, 2, `status --check:\n${check.stdout}\n${check.stderr}`);
    assert.match(
      check.stderr,
      /^cert-renew: the command stopped before finishing \(status was waiting for redis store "shared" \(cluster [^)]*\): load 2 certificates.*\); nothing was reported: this is a bug, please report it \(exit 2\)$/m,
    );
    const run = await runCli(['-m', manifest, 'run'], { env });
    assert.equal(run.code, 1, `run:\n${run.stdout}\n${run.stderr}`);
    assert.match(run.stderr, /the command stopped before finishing \(run was waiting for /);
    assert.equal(run.stderr.match(/stopped before finishing/g)?.length, 1, run.stderr);
  });

  test('a keyPrefix with "{" or "}" is refused by validate and by the store, for every Redis store kind', async (t) => {
    const tmp = await tempDir();
    t.after(() => tmp.remove());
    const cases: [string, Omit<RedisStoreConfig, 'type'>][] = [
      ['app{x:', { url: 'redis://127.0.0.1:1/0' }],
      ['a}b:', { cluster: { nodes: [{ host: '127.0.0.1', port: 1 }] } }],
    ];
    for (const [prefix, store] of cases) {
      const manifest = await writeManifest(
        tmp.path,
        redisManifest({ ...store, keyPrefix: prefix }, names(1)),
      );
      const validate = await runCli(['-m', manifest, 'validate']);
      assert.equal(validate.code, 1, `${prefix}:\n${validate.stdout}\n${validate.stderr}`);
      assert.match(`${validate.stdout}${validate.stderr}`, /keyPrefix.*contains "\{" or "\}".*hash tag/);
      // A run never gets as far as Redis (nothing listens on port 1): refused before anything is attempted.
      const run = await runCli(['-m', manifest, 'run']);
      assert.equal(run.code, 2, `${prefix}:\n${run.stdout}\n${run.stderr}`);
      assert.match(run.stderr, /keyPrefix: .* contains "\{" or "\}"/);
      assert.ok(!hasStackTrace(run.stderr), run.stderr);
    }
  });

  test('Sentinel: sentinels that do not know the master name say so, not "no sentinel answered"', async (t) => {
    const group = await startRedisSentinel();
    const tmp = await tempDir();
    t.after(async () => {
      await group.stop();
      await tmp.remove();
    });
    const manifest = await writeManifest(
      tmp.path,
      redisManifest({ sentinel: { sentinels: group.sentinels, name: 'nomaster' } }, names(1)),
    );
    const r = await runCli(['-m', manifest, 'status', '--check']);
    assert.equal(r.code, 2, r.stderr);
    assert.doesNotMatch(r.stdout, /no sentinel answered/);
    assert.match(
      r.stdout,
      /the sentinels answered \(127\.0\.0\.1:\d+.*\) but do not know master "nomaster" \(SENTINEL get-master-addr-by-name: no such master\).*check the store's sentinel\.name/,
    );
  });
});
