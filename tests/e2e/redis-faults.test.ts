/**
 * Redis going away under the CLI: killed in the middle of a run, not there at all, and a lock left behind
 * by a cert-renew process that was killed while holding it.
 */
import assert from 'node:assert/strict';
import { createServer, type Socket } from 'node:net';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { keyMatchesCertificate } from '../../src/x509/index.js';
import { freePort, tempDir } from '../harness/process.js';
import { startRedis } from '../harness/redis.js';
import { hasStackTrace, runCli, startCli } from './cli.js';
import { writeManifest } from './fixtures.js';
import { errorLines, names, readCertValue, redisManifest, runReport } from './redis-fixtures.js';

describe('Redis faults through the CLI', () => {
  test('Redis killed mid-run: affected certificates fail one line each, nothing half-written, next run completes', async (t) => {
    // Every write is on disk before Redis answers, so what was acknowledged survives the SIGKILL.
    const redis = await startRedis({ args: ['--appendonly', 'yes', '--appendfsync', 'always'] });
    const tmp = await tempDir();
    t.after(async () => {
      await redis.stop();
      await tmp.remove();
    });
    const certs = names(16);
    // RSA keys make each certificate take a while, so the kill lands in the middle of the run. Locks held
    // when Redis dies cannot be released; they are expired by hand before the next run (as their
    // lockTimeout would), so nothing here depends on how fast a busy machine issues.
    const manifest = await writeManifest(
      tmp.path,
      redisManifest({ url: redis.url, lockTimeout: '30s' }, certs, {
        defaults: { issuer: 'local', store: 'shared', keyType: 'rsa-2048' },
      }),
    );

    let finished = false;
    const running = runCli(['-m', manifest, 'run', '--json', '--concurrency', '8'], {
      killAfterMs: 180_000,
    }).finally(() => {
      finished = true;
    });
    for (;;) {
      assert.ok(!finished, 'the run ended before Redis could be killed');
      if ((await redis.cli('KEYS', 'cert:*')) !== '') break;
      await sleep(20);
    }
    await redis.kill();
    const r = await running;

    assert.equal(r.code, 1, r.stderr);
    assert.ok(!hasStackTrace(r.stderr), r.stderr);
    const report = runReport(r);
    const failed = report.certificates.filter((c) => c.outcome === 'failed');
    const renewed = report.certificates.filter((c) => c.outcome === 'renewed');
    assert.ok(failed.length > 0, `some certificates were hit by the kill:\n${r.stderr}`);
    assert.equal(failed.length + renewed.length, certs.length, r.stderr);
    for (const c of failed) {
      assert.equal(c.error?.code, 'STORE_UNAVAILABLE', `${c.name}: ${c.error?.message}`);
      const lines = errorLines(r.stderr, c.name);
      assert.equal(lines.length, 1, `${c.name}: one line on stderr:\n${r.stderr}`);
      assert.match(lines[0] ?? '', /redis store "shared"/);
    }
    for (const c of renewed) assert.deepEqual(errorLines(r.stderr, c.name), [], c.name);

    await redis.restart();
    // Whatever Redis kept is whole: every value parses and its key belongs to its certificate.
    const kept = (await redis.cli('KEYS', 'cert:*')).split('\n').filter(Boolean);
    // At least the one seen before the kill. (Its save may still be reported failed: the reply to EXEC can
    // be lost with the connection even though Redis applied and persisted it.)
    assert.ok(kept.length > 0, 'some were stored before the kill');
    assert.ok(kept.length >= renewed.length, `kept ${kept.length}, renewed ${renewed.length}`);
    for (const key of kept) {
      const name = /^cert:\{(.+)\}$/.exec(key)?.[1] ?? '';
      const value = await readCertValue(redis.cli, name);
      assert.equal(value?.name, name, key);
      assert.ok(value.private_key_pem, `${key}: has its key`);
      assert.ok(keyMatchesCertificate(value.private_key_pem, value.cert_pem), `${key}: key matches`);
      assert.ok(value.fullchain_pem.startsWith(value.cert_pem), `${key}: full chain starts with the leaf`);
    }
    // What the run reported as renewed is what Redis holds.
    for (const c of renewed) {
      assert.equal((await readCertValue(redis.cli, c.name))?.serial, c.serial, c.name);
    }

    // The killed run's locks survived in the append-only file; their lifetime runs out (made to).
    for (const key of (await redis.cli('KEYS', 'lock:*')).split('\n').filter(Boolean)) {
      await redis.cli('PEXPIRE', key, '1');
    }
    const next = await runCli(['-m', manifest, 'run', '--json', '--lock-wait', '30s']);
    assert.equal(next.code, 0, next.stderr);
    const outcomes = runReport(next).certificates;
    for (const c of outcomes) {
      const wasRenewed = renewed.some((r) => r.name === c.name);
      // Those the kill hit are issued now (or were stored just before the reply was lost).
      assert.ok(
        wasRenewed ? c.outcome === 'ok' : ['renewed', 'ok'].includes(c.outcome),
        `${c.name}: ${c.outcome} ${c.message}`,
      );
    }
    for (const name of certs) {
      const value = await readCertValue(redis.cli, name);
      assert.ok(value?.private_key_pem && keyMatchesCertificate(value.private_key_pem, value.cert_pem), name);
    }
  });

  test('unreachable Redis: exit 1, one line per certificate naming the store', async (t) => {
    const tmp = await tempDir();
    t.after(() => tmp.remove());
    const port = await freePort();
    const certs = ['web', 'api', 'mail'];
    const manifest = await writeManifest(
      tmp.path,
      redisManifest({ url: `redis://127.0.0.1:${port}` }, certs),
    );
    // A guard against hanging, not a timing assertion.
    const r = await runCli(['-m', manifest, 'run', '--json'], { killAfterMs: 120_000 });
    assert.equal(r.signal, null, 'exited by itself');
    assert.equal(r.code, 1, r.stderr);
    assert.ok(!hasStackTrace(r.stderr), r.stderr);
    for (const c of runReport(r).certificates) {
      assert.equal(c.outcome, 'failed');
      assert.equal(c.error?.code, 'STORE_UNAVAILABLE');
      const lines = errorLines(r.stderr, c.name);
      assert.equal(lines.length, 1, `${c.name}:\n${r.stderr}`);
      assert.match(
        lines[0] ?? '',
        new RegExp(`redis store "shared" at redis://127\\.0\\.0\\.1:${port} is unreachable`),
      );
    }
    const plan = await runCli(['-m', manifest, 'plan'], { killAfterMs: 120_000 });
    assert.equal(plan.code, 1, plan.stderr);
    assert.ok(!hasStackTrace(plan.stderr + plan.stdout));
    assert.match(plan.stdout, /redis store "shared" at .* is unreachable/);
  });

  test('a Redis that accepts connections but does not answer: show, status and run fail with one line', async (t) => {
    // DEBUG SLEEP blocks the server: the TCP handshake succeeds (the kernel accepts), no reply comes.
    const redis = await startRedis({ args: ['--enable-debug-command', 'yes'] });
    const tmp = await tempDir();
    t.after(async () => {
      await redis.stop();
      await tmp.remove();
    });
    const manifest = await writeManifest(tmp.path, redisManifest({ url: redis.url }, ['web']));
    const first = await runCli(['-m', manifest, 'run']);
    assert.equal(first.code, 0, first.stderr);

    // Asleep far longer than any of the commands below may wait; killed (and restarted) afterwards.
    const asleep = redis.cli('DEBUG', 'SLEEP', '600').catch(() => 'killed');
    // A guard against hanging, not a timing assertion.
    const guard = { killAfterMs: 120_000 };
    const show = await runCli(['-m', manifest, 'show', 'web'], guard);
    const status = await runCli(['-m', manifest, 'status', '--check'], guard);
    const run = await runCli(['-m', manifest, 'run', '--json'], guard);
    await redis.kill();
    await asleep;
    await redis.restart();

    for (const [what, r, code] of [
      ['show', show, 1],
      ['status --check', status, 2],
      ['run', run, 1],
    ] as const) {
      assert.equal(r.signal, null, `${what} exited by itself`);
      assert.equal(r.code, code, `${what}: ${r.stdout}${r.stderr}`);
      assert.ok(!hasStackTrace(r.stdout + r.stderr), r.stderr);
      assert.match(
        r.stdout + r.stderr,
        /redis store "shared" at .* is unreachable: no answer within 20 s/,
        what,
      );
    }
    assert.equal(runReport(run).certificates[0]?.error?.code, 'STORE_UNAVAILABLE');
  });

  test('a lock left by a killed cert-renew of this host is taken over at once; a live one is LOCK_BUSY naming its holder', async (t) => {
    const redis = await startRedis();
    const tmp = await tempDir();
    // A "Redis" that accepts connections and never answers: the local CA is kept there, so issuing stalls
    // while the certificate's lock is held, and the process can be killed exactly then.
    const sockets = new Set<Socket>();
    const blackHole = createServer((socket) => {
      sockets.add(socket);
      socket.on('error', () => {});
    });
    await new Promise<void>((resolve) => blackHole.listen(0, '127.0.0.1', resolve));
    const holePort = (blackHole.address() as { port: number }).port;
    t.after(async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => blackHole.close(resolve));
      await redis.stop();
      await tmp.remove();
    });

    const stores = {
      shared: { type: 'redis' as const, url: redis.url, lockTimeout: '30s' },
      hole: { type: 'redis' as const, url: `redis://127.0.0.1:${holePort}` },
    };
    const stalling = await writeManifest(
      tmp.path,
      redisManifest({}, ['web'], {
        stores,
        issuers: { local: { type: 'local-ca', lifetime: '30d', store: 'hole' } },
      }),
      'stalling.json',
    );
    const manifest = await writeManifest(tmp.path, redisManifest({}, ['web', 'api'], { stores }));

    const { child, done } = startCli(['-m', stalling, 'run'], { killAfterMs: 60_000 });
    t.after(() => {
      child.kill('SIGKILL');
    });
    let holder = '';
    for (let i = 0; holder === ''; i++) {
      assert.ok(i < 600, 'the stalled run never took its lock');
      holder = await redis.cli('GET', 'lock:{web}');
      if (holder === '') await sleep(50);
    }
    child.kill('SIGKILL');
    assert.equal((await done).signal, 'SIGKILL', 'killed while holding the lock');
    // The killed process's lock is still there (nobody extends or releases it now).
    assert.match(holder, new RegExp(`:${child.pid}:[0-9a-f-]*:[0-9]*:[0-9a-f]{16}$`));
    assert.ok(Number(await redis.cli('PTTL', 'lock:{web}')) > 10_000, 'it would live on for lockTimeout');

    // A lock that is alive (here: set by hand, a minute to go) keeps other hosts away: LOCK_BUSY, one line
    // naming the holder and when its lock expires; with -v, one line says what the run waits for.
    await redis.cli('SET', 'lock:{api}', 'other-host:4242:00112233aabbccdd', 'PX', '60000');
    const busy = await runCli([
      '-m',
      manifest,
      'run',
      '--json',
      '-v',
      '--only',
      'api',
      '--lock-wait',
      '300ms',
    ]);
    assert.equal(busy.code, 1, busy.stderr);
    const error = runReport(busy).certificates[0]?.error;
    assert.equal(error?.code, 'LOCK_BUSY');
    assert.match(
      error?.message ?? '',
      /^api: another cert-renew holds its lock \(other-host:4242, its lock expires at \S+Z unless that process extends it\)/,
    );
    assert.equal(errorLines(busy.stderr, 'api').length, 1, busy.stderr);
    assert.match(
      busy.stderr,
      /certificate "api": waiting for the lock lock:\{api\} of other-host:4242 \(it expires at \S+Z, in \d+s, unless its holder extends it\)/,
    );
    await redis.cli('DEL', 'lock:{api}');

    // The killed process was of this very host (same host name, boot and PID namespace) and its pid is
    // gone: its lock is taken over at once, not waited for until it expires.
    const r = await runCli(['-m', manifest, 'run', '--json', '--lock-wait', '300ms']);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(
      runReport(r).certificates.map((c) => [c.name, c.outcome]),
      [
        ['web', 'renewed'],
        ['api', 'renewed'],
      ],
    );
    assert.match(
      r.stderr,
      new RegExp(
        `took over the lock lock:\\{web\\} of [^:]+:${child.pid}, a process of this host that no longer exists`,
      ),
    );
    assert.equal(await redis.cli('GET', 'lock:{web}'), '', 'released by its new owner');
    assert.ok(await readCertValue(redis.cli, 'web'));
  });
});
