/**
 * `cert-renew run` interrupted (docs/operations.md "Interrupted runs"), through the real CLI: SIGINT,
 * SIGTERM or SIGHUP while a post-renew hook runs leaves the certificate stored with its hooks pending and
 * no failure recorded (report, attempts.json, status, metrics); a second signal kills the hook's process
 * group at once (SIGKILL, even a hook that ignores SIGTERM), releases the locks (a dns-01 `exec` command
 * stuck under the certificate's lock) and exits 1 with one line on stderr.
 *
 * Signals are sent when the hook has provably started (it writes its pid first; the test waits for the
 * file) and, for the second, once the CLI said it is stopping: no test assumes a speed.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { chmod, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { PlanItem } from '../../src/plan/model.js';
import type { RunReport } from '../../src/report/model.js';
import { type Pebble, startPebble } from '../harness/pebble.js';
import { tempDir } from '../harness/process.js';
import { type RedisServer, startRedis } from '../harness/redis.js';
import { acmeManifest, pebbleIssuer } from './acme-e2e-fixtures.js';
import { hasStackTrace, runCli, startCli } from './cli.js';
import { localManifest, writeManifest } from './fixtures.js';

/** A generous hang guard: only a hang ever waits this long. */
const HANG_GUARD_MS = 60_000;

/** Resolves with the (trimmed) content of `path` once it is written; throws after the hang guard. */
async function waitForFile(path: string, child?: ChildProcess): Promise<string> {
  const until = Date.now() + HANG_GUARD_MS;
  while (Date.now() < until) {
    const text = (await readFile(path, 'utf8').catch(() => '')).trim();
    if (text !== '') return text;
    if (child && (child.exitCode !== null || child.signalCode !== null)) {
      throw new Error(`the CLI ended before ${path} was written`);
    }
    await sleep(50);
  }
  throw new Error(`${path} was never written (hang guard)`);
}

/** Resolves once `child` wrote a stderr line matching `line`; throws after the hang guard. */
function stderrLine(child: ChildProcess, line: RegExp): Promise<void> {
  return new Promise((resolve, reject) => {
    let buffer = '';
    const timer = setTimeout(() => finish(new Error(`no stderr line ${line} (hang guard)`)), HANG_GUARD_MS);
    const onData = (d: Buffer) => {
      buffer += d.toString();
      if (line.test(buffer)) finish();
    };
    const onClose = () => finish(new Error(`the CLI ended without a stderr line ${line}`));
    const finish = (error?: Error) => {
      clearTimeout(timer);
      child.stderr?.off('data', onData);
      child.off('close', onClose);
      if (error) reject(error);
      else resolve();
    };
    child.stderr?.on('data', onData);
    child.on('close', onClose);
  });
}

/**
 * True once no process of the group `pgid` is left but zombies (which nobody may reap at once); false
 * after the hang guard.
 */
async function groupGone(pgid: number): Promise<boolean> {
  const until = Date.now() + HANG_GUARD_MS;
  while (Date.now() < until) {
    let alive = false;
    for (const entry of await readdir('/proc')) {
      if (!/^\d+$/.test(entry)) continue;
      const stat = await readFile(`/proc/${entry}/stat`, 'utf8').catch(() => '');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[2]) === pgid && fields[0] !== 'Z' && fields[0] !== 'X') alive = true;
    }
    if (!alive) return true;
    await sleep(50);
  }
  return false;
}

/** The lock files left under a filesystem store. */
async function lockFiles(store: string): Promise<string[]> {
  return (await readdir(join(store, '.cert-renew', 'locks')).catch(() => [] as string[])).filter((f) =>
    f.includes('.lock'),
  );
}

/** `name{labels} value` lines of a Prometheus textfile whose name is `metric`. */
function samples(text: string, metric: string): string[] {
  return text.split('\n').filter((l) => l.startsWith(`${metric}{`) || l.startsWith(`${metric} `));
}

/**
 * A hook that writes its pid (its process group: it leads one) and, while `block` exists, waits until the
 * run kills it (10 minutes at most, so that nothing outlives a broken test) —
 * ignoring SIGTERM when `stubborn` (so does the sleep it starts: the ignored signal is inherited).
 */
async function blockingHook(dir: string, pidFile: string, block: string, stubborn: boolean): Promise<string> {
  const path = join(dir, stubborn ? 'stubborn.sh' : 'reload.sh');
  await writeFile(
    path,
    [
      '#!/bin/sh',
      // The trap before the pid: the test signals once the pid is written, and the run's SIGTERM must
      // find the hook already ignoring it.
      stubborn ? "trap '' TERM" : '',
      `echo $$ > '${pidFile}'`,
      `if [ -f '${block}' ]; then sleep 600; fi`,
      'exit 0',
      '',
    ].join('\n'),
  );
  await chmod(path, 0o755);
  return path;
}

describe('a run interrupted during its post-renew hooks', () => {
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    test(`${signal}: stored with its hooks pending, no failure recorded; the next run runs the hooks`, async () => {
      const tmp = await tempDir();
      try {
        const store = join(tmp.path, 'certs');
        const pidFile = join(tmp.path, 'hook.pid');
        const block = join(tmp.path, 'block');
        const metrics = join(tmp.path, 'run.prom');
        await writeFile(block, '');
        const hook = await blockingHook(tmp.path, pidFile, block, false);
        const manifest = await writeManifest(
          tmp.path,
          localManifest(store, {
            defaults: { issuer: 'local', store: 'files', hooks: { postRenew: [{ run: [hook] }] } },
          }),
        );
        const { child, done } = startCli(['-m', manifest, 'run', '--json', '--metrics-file', metrics]);
        const pgid = Number(await waitForFile(pidFile, child));
        child.kill(signal);
        const r = await done;
        assert.equal(r.code, 1, `an interrupted run exits 1\n${r.stderr}`);
        assert.ok(!hasStackTrace(r.stderr), r.stderr);
        assert.match(r.stderr, new RegExp(`${signal} received: stopping`));
        assert.ok(await groupGone(pgid), 'the hook was killed');
        assert.deepEqual(await lockFiles(store), [], 'no lock file left');

        const report = JSON.parse(r.stdout) as RunReport;
        assert.equal(report.exitCode, 1);
        assert.match(report.interrupted ?? '', new RegExp(`${signal}.*2 certificate\\(s\\) stored.*pending`));
        assert.equal(report.summary.renewed, 2, JSON.stringify(report.summary));
        assert.equal(report.summary.failed, 0);
        for (const c of report.certificates) {
          assert.equal(c.outcome, 'renewed', `${c.name}: ${c.message}`);
          assert.equal(c.hooksPending, true, c.name);
          assert.equal(c.error, undefined, `${c.name}: no error`);
          assert.match(c.message, /interrupted/);
        }
        assert.equal(report.hooks[0]?.ok, false);
        assert.equal(report.hooks[0]?.cancelled, true);

        for (const name of ['web', 'api']) {
          const attempts = JSON.parse(await readFile(join(store, name, 'attempts.json'), 'utf8')) as Record<
            string,
            unknown
          >;
          assert.equal(attempts.hooksPending, true, `${name}: ${JSON.stringify(attempts)}`);
          assert.equal(attempts.failureCount, 0, `${name}: no failure counted`);
          assert.equal(attempts.lastError, undefined);
          assert.equal(attempts.lastErrorCode, undefined);
        }

        const prom = await readFile(metrics, 'utf8');
        for (const line of samples(prom, 'cert_renew_certificate_failed_attempts')) {
          assert.match(line, / 0$/, line);
        }
        for (const line of samples(prom, 'cert_renew_last_run_failures')) {
          assert.match(line, /code="INTERRUPTED"/, line);
        }
        for (const line of samples(prom, 'cert_renew_last_run_hook_failures')) {
          assert.match(line, / 0$/, `a killed hook is not a failed one: ${line}`);
        }
        assert.deepEqual(samples(prom, 'cert_renew_last_run_success'), ['cert_renew_last_run_success 0']);
        // (A first issuance has no host recorded at plan time, so no host series; any there are not 1.)
        for (const line of samples(prom, 'cert_renew_host_deployed')) {
          assert.match(line, / 0$/, `not deployed here yet: ${line}`);
        }

        const status = await runCli(['-m', manifest, 'status', '--json']);
        assert.equal(status.code, 0, status.stderr);
        const items = (JSON.parse(status.stdout) as { certificates: (PlanItem & { health: string })[] })
          .certificates;
        for (const item of items) {
          assert.equal(item.hooksPending, true, item.name);
          assert.equal(item.failures, undefined, `${item.name}: no failed attempts`);
          assert.equal(item.health, 'warning', item.name);
        }
        const table = await runCli(['-m', manifest, 'status']);
        assert.match(table.stdout, /post-renew hooks pending/);
        assert.doesNotMatch(table.stdout, /failed attempt/);
        const statusProm = join(tmp.path, 'status.prom');
        await runCli(['-m', manifest, 'status', '--metrics-file', statusProm]);
        for (const line of samples(
          await readFile(statusProm, 'utf8'),
          'cert_renew_certificate_failed_attempts',
        )) {
          assert.match(line, / 0$/, line);
        }

        // The next run runs the hooks (without renewing) and clears the record.
        await rm(block);
        await rm(pidFile);
        const next = await runCli(['-m', manifest, 'run', '--json']);
        assert.equal(next.code, 0, next.stderr);
        const again = JSON.parse(next.stdout) as RunReport;
        assert.deepEqual(
          again.certificates.map((c) => [c.name, c.outcome]),
          [
            ['web', 'ok'],
            ['api', 'ok'],
          ],
        );
        assert.equal(again.hooks[0]?.ok, true, 'the pending hook ran');
        await waitForFile(pidFile);
        assert.equal((await runCli(['-m', manifest, 'status', '--check'])).code, 0);
        await assert.rejects(readFile(join(store, 'web', 'attempts.json')), 'the record is cleared');
      } finally {
        await tmp.remove();
      }
    });
  }

  test('a renewal of a deployed certificate: this host is behind in the metrics, not failed', async () => {
    const tmp = await tempDir();
    try {
      const store = join(tmp.path, 'certs');
      const pidFile = join(tmp.path, 'hook.pid');
      const block = join(tmp.path, 'block');
      const metrics = join(tmp.path, 'run.prom');
      const hook = await blockingHook(tmp.path, pidFile, block, false);
      const manifest = await writeManifest(
        tmp.path,
        localManifest(store, {
          defaults: { issuer: 'local', store: 'files', hooks: { postRenew: [{ run: [hook] }] } },
          certificates: [{ name: 'web', domains: ['web.example.test'] }],
        }),
      );
      const first = await runCli(['-m', manifest, 'run', '--host-id', 'h1']);
      assert.equal(first.code, 0, first.stderr);
      await rm(pidFile);
      await writeFile(block, '');
      const { child, done } = startCli([
        '-m',
        manifest,
        'run',
        '--force',
        '--host-id',
        'h1',
        '--metrics-file',
        metrics,
      ]);
      await waitForFile(pidFile, child);
      child.kill('SIGTERM');
      const r = await done;
      assert.equal(r.code, 1, r.stderr);
      const prom = await readFile(metrics, 'utf8');
      assert.deepEqual(samples(prom, 'cert_renew_host_deployed'), [
        'cert_renew_host_deployed{name="web",store="files",host="h1"} 0',
      ]);
      assert.deepEqual(samples(prom, 'cert_renew_host_deploy_failed'), [
        'cert_renew_host_deploy_failed{name="web",store="files",host="h1"} 0',
      ]);
      assert.match(samples(prom, 'cert_renew_certificate_failed_attempts')[0] ?? '', / 0$/);
    } finally {
      await tmp.remove();
    }
  });

  test('a hook that failed on its own before the signal is still a failure', async () => {
    const tmp = await tempDir();
    try {
      const store = join(tmp.path, 'certs');
      const pidFile = join(tmp.path, 'hook.pid');
      const block = join(tmp.path, 'block');
      await writeFile(block, '');
      const failing = join(tmp.path, 'fail.sh');
      await writeFile(failing, '#!/bin/sh\necho "reload refused" >&2\nexit 1\n');
      await chmod(failing, 0o755);
      const hook = await blockingHook(tmp.path, pidFile, block, false);
      const manifest = await writeManifest(
        tmp.path,
        localManifest(store, {
          defaults: {
            issuer: 'local',
            store: 'files',
            hooks: { postRenew: [{ run: [failing] }, { run: [hook] }] },
          },
          certificates: [{ name: 'web', domains: ['web.example.test'] }],
        }),
      );
      const { child, done } = startCli(['-m', manifest, 'run', '--json']);
      await waitForFile(pidFile, child);
      child.kill('SIGTERM');
      const r = await done;
      assert.equal(r.code, 1, r.stderr);
      const [web] = (JSON.parse(r.stdout) as RunReport).certificates;
      assert.equal(web?.outcome, 'failed', web?.message);
      assert.equal(web?.error?.code, 'HOOK_FAILED');
      const attempts = JSON.parse(await readFile(join(store, 'web', 'attempts.json'), 'utf8')) as Record<
        string,
        unknown
      >;
      assert.equal(attempts.failureCount, 1);
      assert.equal(attempts.hooksPending, true);
    } finally {
      await tmp.remove();
    }
  });
});

describe('a second signal', () => {
  test('kills a hook that ignores SIGTERM at once, says so on stderr and exits 1', async () => {
    const tmp = await tempDir();
    try {
      const store = join(tmp.path, 'certs');
      const pidFile = join(tmp.path, 'hook.pid');
      const block = join(tmp.path, 'block');
      await writeFile(block, '');
      const hook = await blockingHook(tmp.path, pidFile, block, true);
      const manifest = await writeManifest(
        tmp.path,
        localManifest(store, {
          defaults: {
            issuer: 'local',
            store: 'files',
            // Longer than any run of this test: only the signals end the hook.
            hooks: { postRenew: [{ run: [hook], timeout: '10m' }] },
          },
          certificates: [{ name: 'web', domains: ['web.example.test'] }],
        }),
      );
      for (const [first, second] of [
        ['SIGINT', 'SIGINT'],
        ['SIGHUP', 'SIGTERM'],
      ] as const) {
        await rm(pidFile, { force: true });
        const { child, done } = startCli(['-m', manifest, 'run', '--force']);
        const pgid = Number(await waitForFile(pidFile, child));
        const stopping = stderrLine(child, new RegExp(`${first} received: stopping`));
        child.kill(first);
        await stopping;
        child.kill(second);
        const r = await done;
        assert.equal(r.code, 1, r.stderr);
        assert.equal(r.signal, null, 'it exits, it is not killed by the signal');
        assert.match(
          r.stderr,
          // (How many groups it killed depends on whether the first signal's 5 s grace ran out already.)
          new RegExp(
            `${second} received again: exiting now \\(exit 1\\): killed \\d+ hook/command process group`,
          ),
        );
        assert.ok(!hasStackTrace(r.stderr), r.stderr);
        assert.ok(await groupGone(pgid), `${first} then ${second}: the hook and its sleep were killed`);
        assert.deepEqual(await lockFiles(store), [], 'no lock file left');
        await assert.rejects(readFile(join(store, 'web', 'attempts.json')), 'no failure recorded');
        // The deployment entry written before the hooks started says they are pending: the next run runs them.
        const hosts = await readdir(join(store, '.cert-renew', 'deployments', 'web'));
        assert.equal(hosts.length, 1);
        const entry = JSON.parse(
          await readFile(join(store, '.cert-renew', 'deployments', 'web', hosts[0] as string), 'utf8'),
        ) as { pending?: unknown };
        assert.ok(entry.pending, JSON.stringify(entry));
      }
    } finally {
      await tmp.remove();
    }
  });
});

describe('a second signal while a dns-01 exec command holds the certificate lock', () => {
  let pebble: Pebble;
  let redis: RedisServer;
  before(async () => {
    pebble = await startPebble();
    redis = await startRedis();
  });
  after(async () => {
    await pebble?.stop();
    await redis?.stop();
  });

  for (const kind of ['filesystem', 'redis'] as const) {
    test(`${kind} store: kills the command at once and releases the lock`, async () => {
      const tmp = await tempDir();
      try {
        const store = join(tmp.path, 'certs');
        const pidFile = join(tmp.path, 'dns.pid');
        const exec = join(tmp.path, 'dnsexec.sh');
        // `present` never ends by itself and ignores SIGTERM: it is stopped under the certificate's lock.
        await writeFile(exec, `#!/bin/sh\ntrap '' TERM\necho $$ > '${pidFile}'\nsleep 600\n`);
        await chmod(exec, 0o755);
        const manifest = acmeManifest(
          pebbleIssuer(pebble, {
            type: 'dns-01',
            exec,
            propagationDelay: '0s',
            nameservers: [`127.0.0.1:${pebble.dnsPort}`],
          }),
          store,
          [{ name: `wild-${kind}`, domains: [`*.${kind}.example.test`] }],
        );
        if (kind === 'redis') manifest.stores = { files: { type: 'redis', url: redis.url } };
        const locks = async (): Promise<string[]> =>
          kind === 'redis'
            ? (await redis.cli('--scan', '--pattern', '*lock:*')).split('\n').filter(Boolean)
            : lockFiles(store);
        const { child, done } = startCli(['-m', await writeManifest(tmp.path, manifest), 'run']);
        const pgid = Number(await waitForFile(pidFile, child));
        assert.equal((await locks()).length, 1, 'the lock is held while the command runs');
        const stopping = stderrLine(child, /SIGINT received: stopping/);
        child.kill('SIGINT');
        await stopping;
        child.kill('SIGINT');
        const r = await done;
        assert.equal(r.code, 1, r.stderr);
        assert.match(
          r.stderr,
          /SIGINT received again: exiting now \(exit 1\): killed \d+ hook\/command process group\(s\) \(SIGKILL\), released 1 lock\(s\); no report/,
        );
        assert.ok(!hasStackTrace(r.stderr), r.stderr);
        assert.ok(await groupGone(pgid), 'the dns-01 command was killed');
        assert.deepEqual(await locks(), [], 'no lock left');
        if (kind === 'filesystem') {
          await assert.rejects(readFile(join(store, `wild-${kind}`, 'attempts.json')), 'no failure recorded');
        }
      } finally {
        await tmp.remove();
      }
    });
  }
});

describe('a signal during the dns-01 cleanup after the CA found the challenge invalid', () => {
  let pebble: Pebble;
  before(async () => {
    pebble = await startPebble();
  });
  after(async () => {
    await pebble?.stop();
  });

  test("the CA's verdict is reported and recorded; the run waits for the cleanup and says so", async () => {
    const tmp = await tempDir();
    try {
      const store = join(tmp.path, 'certs');
      const pidFile = join(tmp.path, 'cleanup.pid');
      const release = join(tmp.path, 'release');
      const cleaned = join(tmp.path, 'cleaned');
      const exec = join(tmp.path, 'dnsexec.sh');
      // `present` writes nothing (the CA finds no TXT record); `cleanup` runs until the test releases it
      // (at most about 50 s: a hang guard, not a timing), then says it finished.
      await writeFile(
        exec,
        [
          '#!/bin/sh',
          '[ "$1" = cleanup ] || exit 0',
          `echo $$ > '${pidFile}'`,
          'i=0',
          `while [ ! -e '${release}' ] && [ $i -lt 500 ]; do sleep 0.1; i=$((i+1)); done`,
          `echo "$2" > '${cleaned}'`,
        ].join('\n'),
      );
      await chmod(exec, 0o755);
      const manifest = await writeManifest(
        tmp.path,
        acmeManifest(
          pebbleIssuer(pebble, {
            type: 'dns-01',
            exec,
            propagationCheck: false,
            nameservers: [`127.0.0.1:${pebble.dnsPort}`],
          }),
          store,
          [{ name: 'y1', domains: ['y1.example.test'] }],
        ),
      );
      const { child, done } = startCli(['-m', manifest, 'run', '--json']);
      // The cleanup runs only after the CA's answer: the authorization is invalid by now.
      await waitForFile(pidFile, child);
      const waiting = stderrLine(
        child,
        /certificate y1: issuer pebble: the run was interrupted: waiting for the dns-01 cleanup of TXT record _acme-challenge\.y1\.example\.test \(at most 1m\) so that it is not left behind; a second signal kills it/,
      );
      child.kill('SIGINT');
      await waiting;
      await writeFile(release, '');
      const r = await done;
      assert.equal(r.code, 1, r.stderr);
      assert.ok(!hasStackTrace(r.stderr), r.stderr);
      assert.equal(
        await readFile(cleaned, 'utf8'),
        '_acme-challenge.y1.example.test.\n',
        'the cleanup ran to its end',
      );

      const report = JSON.parse(r.stdout) as RunReport;
      const y1 = report.certificates[0];
      assert.equal(y1?.outcome, 'failed');
      assert.equal(y1?.error?.code, 'CHALLENGE_FAILED', JSON.stringify(y1));
      assert.match(y1?.error?.message ?? '', /the CA could not validate y1\.example\.test by dns-01/);
      assert.match(report.interrupted ?? '', /SIGINT.*0 not renewed, 1 failed \(recorded\)/);
      assert.match(r.stderr, /error: y1: ACME issuer pebble: the CA could not validate y1\.example\.test/);

      const attempts = JSON.parse(await readFile(join(store, 'y1', 'attempts.json'), 'utf8')) as Record<
        string,
        unknown
      >;
      assert.equal(attempts.failureCount, 1, JSON.stringify(attempts));
      assert.equal(attempts.lastErrorCode, 'CHALLENGE_FAILED', JSON.stringify(attempts));
      assert.deepEqual(await lockFiles(store), [], 'no lock left');
    } finally {
      await tmp.remove();
    }
  });
});
