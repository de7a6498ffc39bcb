/** Hooks through `cert-renew run`: shared hooks run once, failures exit 1 and name the hook, rollback. */
import assert from 'node:assert/strict';
import { chmod, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { RunReport } from '../../src/report/model.js';
import { inspectCertificate } from '../../src/x509/index.js';
import { tempDir } from '../harness/process.js';
import { hasStackTrace, runCli, startCli } from './cli.js';
import { localManifest, writeManifest } from './fixtures.js';

async function recorder(dir: string, name: string, exitCode = 0): Promise<{ script: string; log: string }> {
  const log = join(dir, `${name}.log`);
  const script = join(dir, `${name}.sh`);
  await writeFile(
    script,
    `#!/bin/sh\necho "$CERT_RENEW_EVENT $CERT_RENEW_NAMES $CERT_RENEW_COUNT $CERT_RENEW_FULLCHAIN_PATH" >> '${log}'\necho "$CERT_RENEW_FAILED_NAMES" >> '${log}.failed'\nexit ${exitCode}\n`,
  );
  await chmod(script, 0o755);
  return { script, log };
}

async function lines(path: string): Promise<string[]> {
  try {
    return (await readFile(path, 'utf8')).trim().split('\n').filter(Boolean);
  } catch {
    return [];
  }
}

describe('hooks', () => {
  test('a hook shared by several certificates runs once, with every name in its environment', async () => {
    const tmp = await tempDir();
    try {
      const reload = await recorder(tmp.path, 'reload');
      const store = join(tmp.path, 'certs');
      const manifest = await writeManifest(
        tmp.path,
        localManifest(store, {
          defaults: {
            issuer: 'local',
            store: 'files',
            hooks: { postRenew: [{ run: [reload.script], timeout: '10s' }] },
          },
        }),
      );
      const r = await runCli(['-m', manifest, 'run', '--json']);
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(await lines(reload.log), [
        `post-renew web api 2 ${join(store, 'web', 'fullchain.pem')}`,
      ]);
      const report = JSON.parse(r.stdout) as RunReport;
      assert.equal(report.hooks.length, 1);
      assert.deepEqual(report.hooks[0]?.certificates, ['web', 'api']);
      // Nothing renewed → no hook.
      assert.equal((await runCli(['-m', manifest, 'run'])).code, 0);
      assert.equal((await lines(reload.log)).length, 1);
    } finally {
      await tmp.remove();
    }
  });

  test('a failing hook makes the run exit 1 and names the hook; onFailure hooks get the failures', async () => {
    const tmp = await tempDir();
    try {
      const bad = await recorder(tmp.path, 'bad', 3);
      const alert = await recorder(tmp.path, 'alert');
      const store = join(tmp.path, 'certs');
      const manifest = await writeManifest(
        tmp.path,
        localManifest(store, {
          defaults: {
            issuer: 'local',
            store: 'files',
            hooks: {
              postRenew: [{ run: [bad.script], name: 'reload-proxy' }],
              onFailure: [{ run: [alert.script] }],
            },
          },
        }),
      );
      const r = await runCli(['-m', manifest, 'run', '--json']);
      assert.equal(r.code, 1);
      assert.ok(!hasStackTrace(r.stderr));
      assert.match(r.stderr, /reload-proxy/);
      const report = JSON.parse(r.stdout) as RunReport;
      for (const c of report.certificates) {
        assert.equal(c.outcome, 'failed');
        assert.equal(c.error?.code, 'HOOK_FAILED');
        assert.match(c.error?.message ?? '', /reload-proxy/);
      }
      assert.deepEqual(await lines(`${alert.log}.failed`), ['web api']);
    } finally {
      await tmp.remove();
    }
  });

  test('a hook stopped at its timeout is HOOK_TIMEOUT in the report, the stored attempt and onFailure', async () => {
    const tmp = await tempDir();
    try {
      const hang = join(tmp.path, 'hang.sh');
      await writeFile(hang, '#!/bin/sh\nexec sleep 300\n');
      await chmod(hang, 0o755);
      const alert = join(tmp.path, 'alert.sh');
      const failures = join(tmp.path, 'failures.log');
      await writeFile(alert, `#!/bin/sh\nprintf '%s\\n' "$CERT_RENEW_FAILURES" >> '${failures}'\n`);
      await chmod(alert, 0o755);
      const store = join(tmp.path, 'certs');
      const manifest = await writeManifest(
        tmp.path,
        localManifest(store, {
          defaults: {
            issuer: 'local',
            store: 'files',
            hooks: {
              postRenew: [{ run: [hang], name: 'reload', timeout: '1s' }],
              onFailure: [{ run: [alert] }],
            },
          },
        }),
      );
      const r = await runCli(['-m', manifest, 'run', '--json']);
      assert.equal(r.code, 1, r.stderr);
      assert.ok(!hasStackTrace(r.stderr));
      const report = JSON.parse(r.stdout) as RunReport;
      for (const c of report.certificates) {
        assert.equal(c.error?.code, 'HOOK_TIMEOUT', c.name);
        assert.match(c.error?.message ?? '', /reload.*timed out after 1s/);
      }
      const attempt = JSON.parse(await readFile(join(store, 'web', 'attempts.json'), 'utf8')) as Record<
        string,
        unknown
      >;
      assert.equal(attempt.lastErrorCode, 'HOOK_TIMEOUT');
      assert.match(await readFile(failures, 'utf8'), /^web: HOOK_TIMEOUT: /m);
    } finally {
      await tmp.remove();
    }
  });

  test('a failing hook that prints credentials: the report, the log and the store never hold them', async () => {
    const tmp = await tempDir();
    try {
      const token = 'eyJhbGciOiJIUzI1NiJ9.c2VjcmV0LXRva2Vu.AbCdEf123456';
      const key = 'pdns-api-key-0123456789';
      const script = join(tmp.path, 'leaky.sh');
      await writeFile(
        script,
        `#!/bin/sh\necho "POST /reload Authorization: Bearer ${token}" >&2\necho "PDNS_API_KEY=${key} rejected" >&2\nexit 2\n`,
      );
      await chmod(script, 0o755);
      const store = join(tmp.path, 'certs');
      const manifest = await writeManifest(
        tmp.path,
        localManifest(store, {
          defaults: { issuer: 'local', store: 'files', hooks: { postRenew: [{ run: [script] }] } },
        }),
      );
      const r = await runCli(['-m', manifest, '-v', 'run', '--json']);
      assert.equal(r.code, 1, r.stderr);
      const report = JSON.parse(r.stdout) as RunReport;
      assert.match(report.certificates[0]?.error?.message ?? '', /PDNS_API_KEY=\*\*\* rejected/);
      const stored = await readFile(join(store, 'web', 'attempts.json'), 'utf8').catch(() => '');
      for (const [where, text] of [
        ['stdout', r.stdout],
        ['stderr', r.stderr],
        ['attempts.json', stored],
      ] as const) {
        assert.ok(!text.includes(token) && !text.includes(key), `${where} holds a credential: ${text}`);
      }
    } finally {
      await tmp.remove();
    }
  });

  test('rollbackOnHookFailure restores the previous certificate and runs the hook again', async () => {
    const tmp = await tempDir();
    try {
      const store = join(tmp.path, 'certs');
      const flag = join(tmp.path, 'fail-now');
      const hook = join(tmp.path, 'hook.sh');
      const log = join(tmp.path, 'hook.log');
      await writeFile(
        hook,
        `#!/bin/sh\necho "$CERT_RENEW_EVENT $CERT_RENEW_SERIAL" >> '${log}'\n[ -f '${flag}' ] && [ "$CERT_RENEW_EVENT" = post-renew ] && exit 1\nexit 0\n`,
      );
      await chmod(hook, 0o755);
      const manifest = await writeManifest(
        tmp.path,
        localManifest(store, {
          certificates: [
            {
              name: 'web',
              domains: ['web.example.test'],
              hooks: { postRenew: [{ run: [hook] }], rollbackOnHookFailure: true },
            },
          ],
        }),
      );
      assert.equal((await runCli(['-m', manifest, 'run'])).code, 0);
      const first = inspectCertificate(await readFile(join(store, 'web', 'cert.pem'), 'utf8')).serial;
      await writeFile(flag, '');
      const r = await runCli(['-m', manifest, 'run', '--force', '--json']);
      assert.equal(r.code, 1, r.stdout);
      const report = JSON.parse(r.stdout) as RunReport;
      assert.equal(report.certificates[0]?.outcome, 'rolled-back');
      assert.deepEqual(
        report.hooks.map((h) => [h.event, h.ok]),
        [
          ['post-renew', false],
          ['rollback', true],
        ],
      );
      const served = inspectCertificate(await readFile(join(store, 'web', 'cert.pem'), 'utf8')).serial;
      assert.equal(served, first, 'the previous certificate is back');
      const events = await lines(log);
      assert.equal(events.length, 3);
      assert.equal(events[2], `rollback ${first}`, 'the rollback hook describes the restored certificate');
      assert.equal(report.certificates[0]?.serial, first, 'the report describes what is stored now');
    } finally {
      await tmp.remove();
    }
  });
});

describe('interrupted runs', () => {
  test('SIGTERM during a hook kills the hook and its children, and the run exits 1', async () => {
    const tmp = await tempDir();
    try {
      const pidFile = join(tmp.path, 'hook.pid');
      const hook = join(tmp.path, 'slow.sh');
      await writeFile(hook, `#!/bin/sh\nsleep 300 &\necho $! > '${pidFile}'\nwait\n`);
      await chmod(hook, 0o755);
      const manifest = await writeManifest(
        tmp.path,
        localManifest(join(tmp.path, 'certs'), {
          defaults: {
            issuer: 'local',
            store: 'files',
            hooks: { postRenew: [{ run: [hook], timeout: '10m' }] },
          },
        }),
      );
      const { child, done } = startCli(['-m', manifest, 'run', '--json']);
      let pid: number | undefined;
      // Hang guards (2 minutes, 1 minute), not speeds: the run issues first, then the hook starts.
      for (let i = 0; i < 2400 && pid === undefined; i++) {
        const text = await readFile(pidFile, 'utf8').catch(() => '');
        if (text.trim()) pid = Number(text.trim());
        else await sleep(50);
      }
      assert.ok(pid, 'the hook started');
      child.kill('SIGTERM');
      const r = await done;
      assert.equal(r.code, 1, r.stderr);
      assert.ok(!hasStackTrace(r.stderr), r.stderr);
      assert.match(r.stderr, /SIGTERM received/);
      const report = JSON.parse(r.stdout) as RunReport;
      assert.equal(report.hooks[0]?.ok, false);
      let alive = true;
      for (let i = 0; i < 1200 && alive; i++) {
        // A killed process that nobody reaps lingers as a zombie: that counts as gone.
        const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
        if (stat === '' || /^\d+ \(.*\) Z /.test(stat)) alive = false;
        else await sleep(50);
      }
      assert.equal(alive, false, "the hook's child was killed with it");
    } finally {
      await tmp.remove();
    }
  });
});

describe('a failed post-renew hook is not forgotten', () => {
  test('the next run runs it again; status warns until it succeeds', async () => {
    const tmp = await tempDir();
    try {
      const flag = join(tmp.path, 'fail');
      const log = join(tmp.path, 'reload.log');
      const hook = join(tmp.path, 'reload.sh');
      await writeFile(
        hook,
        `#!/bin/sh\necho "$CERT_RENEW_NAMES" >> '${log}'\n[ -f '${flag}' ] && exit 1\nexit 0\n`,
      );
      await chmod(hook, 0o755);
      await writeFile(flag, '');
      const manifest = await writeManifest(
        tmp.path,
        localManifest(join(tmp.path, 'certs'), {
          defaults: { issuer: 'local', store: 'files', hooks: { postRenew: [{ run: [hook] }] } },
        }),
      );
      const first = await runCli(['-m', manifest, 'run']);
      assert.equal(first.code, 1, first.stderr);
      const status = await runCli(['-m', manifest, 'status', '--check', '--json']);
      assert.equal(status.code, 1, 'a pending hook is a warning');
      await rm(flag);
      const second = await runCli(['-m', manifest, 'run', '--json']);
      assert.equal(second.code, 0, second.stderr);
      const report = JSON.parse(second.stdout) as RunReport;
      assert.deepEqual(
        report.certificates.map((c) => c.outcome),
        ['ok', 'ok'],
        'nothing was renewed again',
      );
      assert.deepEqual(await lines(log), ['web api', 'web api'], 'the hook ran again, once for both');
      assert.equal((await runCli(['-m', manifest, 'status', '--check'])).code, 0);
      const third = await runCli(['-m', manifest, 'run']);
      assert.equal(third.code, 0);
      assert.equal((await lines(log)).length, 2, 'and not again once it succeeded');
    } finally {
      await tmp.remove();
    }
  });
});
