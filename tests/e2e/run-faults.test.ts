/** Failures stay contained, dry runs change nothing, several hosts at once issue each certificate once. */
import assert from 'node:assert/strict';
import { readdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import type { RunReport } from '../../src/report/model.js';
import { runCommand, tempDir } from '../harness/process.js';
import { hasStackTrace, runCli } from './cli.js';
import { localManifest, writeManifest } from './fixtures.js';

async function exists(path: string): Promise<boolean> {
  try {
    await readdir(path);
    return true;
  } catch {
    return false;
  }
}

/** A step-ca issuer nobody answers for: nothing listens on port 9 of the loopback. */
const UNREACHABLE_STEP_CA = {
  type: 'step-ca',
  url: 'https://127.0.0.1:9',
  rootFingerprint: 'a'.repeat(64),
  provisioner: 'ops',
  password: { env: 'STEP_PASSWORD' },
} as const;

describe('faults and rehearsals', () => {
  test('one failing certificate does not stop the others; exit 1 names it', async () => {
    const tmp = await tempDir();
    try {
      const store = join(tmp.path, 'certs');
      const manifest = await writeManifest(
        tmp.path,
        localManifest(store, {
          issuers: {
            local: { type: 'local-ca' },
            down: UNREACHABLE_STEP_CA,
          },
          certificates: [
            { name: 'broken', domains: ['broken.example.test'], issuer: 'down' },
            { name: 'web', domains: ['web.example.test'] },
          ],
        }),
      );
      const r = await runCli(['-m', manifest, 'run', '--json']);
      assert.equal(r.code, 1);
      assert.ok(!hasStackTrace(r.stderr), r.stderr);
      const report = JSON.parse(r.stdout) as RunReport;
      const [broken, web] = report.certificates;
      assert.equal(broken?.outcome, 'failed');
      assert.ok(broken?.error?.code);
      assert.equal(web?.outcome, 'renewed');
      assert.match(r.stderr, /broken: /);
      assert.ok(
        !(await exists(join(store, 'broken', 'versions'))),
        'nothing half-written for the failed one',
      );
      // The failure is recorded for backoff; status shows it.
      const status = await runCli(['-m', manifest, 'status', '--check']);
      assert.equal(status.code, 2);
      const again = await runCli(['-m', manifest, 'run', '--json']);
      assert.equal(JSON.parse(again.stdout).certificates[0].outcome, 'backoff');
      assert.equal(again.code, 1);
    } finally {
      await tmp.remove();
    }
  });

  test('a step-ca that cannot be reached is tried once per run: its other certificates fail at once', async () => {
    const tmp = await tempDir();
    try {
      const names = Array.from({ length: 8 }, (_, i) => `s${i}`);
      const manifest = await writeManifest(
        tmp.path,
        localManifest(join(tmp.path, 'certs'), {
          defaults: { issuer: 'down', store: 'files' },
          issuers: {
            down: { ...UNREACHABLE_STEP_CA, lifetime: '30d' },
          },
          certificates: names.map((name) => ({ name, domains: [`${name}.example.test`] })),
        }),
      );
      const r = await runCli(['-m', manifest, 'run', '--json', '--concurrency', '2']);
      assert.equal(r.code, 1, r.stderr);
      assert.ok(!hasStackTrace(r.stderr), r.stderr);
      const report = JSON.parse(r.stdout) as RunReport;
      for (const c of report.certificates) {
        assert.equal(c.outcome, 'failed', c.name);
        assert.equal(c.error?.code, 'ISSUER_UNAVAILABLE', `${c.name}: ${c.error?.message}`);
        assert.match(c.error?.message ?? '', /connection refused/);
      }
      // The first certificates to fail open the breaker; at most the two already under way tried too.
      const notTried = report.certificates.filter((c) =>
        /not tried: certificate s\d found this CA unreachable in this run/.test(c.error?.message ?? ''),
      );
      assert.ok(notTried.length >= names.length - 2, `${notTried.length} failed at once`);
      assert.match(
        r.stderr,
        /step-ca issuer 'down' is unreachable for certificate s\d \(connection refused\)/,
      );
    } finally {
      await tmp.remove();
    }
  });

  test('a store path that cannot be created (under /proc) fails at once: run, --dry-run and import', async () => {
    const tmp = await tempDir();
    try {
      const manifest = await writeManifest(tmp.path, localManifest('/proc/cert-renew-nope/certs'));
      // Node's own mkdir -p never returns there; the guard only ends a hang.
      const run = await runCli(['-m', manifest, 'run', '--json'], { killAfterMs: 120_000 });
      assert.equal(run.signal, null, 'not killed by the hang guard');
      assert.equal(run.code, 1, run.stderr);
      for (const c of (JSON.parse(run.stdout) as RunReport).certificates)
        assert.equal(c.error?.code, 'STORE_UNAVAILABLE', c.name);
      const dry = await runCli(['-m', manifest, 'run', '--dry-run'], { killAfterMs: 120_000 });
      assert.equal(dry.code, 1, dry.stderr);
      assert.match(dry.stderr, /cannot create \/proc\/cert-renew-nope\/certs in: \/proc \(ENOENT\)/);
      const [cert, key] = [join(tmp.path, 'x.crt'), join(tmp.path, 'x.key')];
      await runCommand('openssl', [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:P-256',
        '-nodes',
        '-days',
        '30',
        '-subj',
        '/CN=x.example.test',
        '-addext',
        'subjectAltName=DNS:x.example.test',
        '-keyout',
        key,
        '-out',
        cert,
      ]);
      const imported = await runCli(
        [
          '-m',
          manifest,
          'import',
          'pem',
          '--name',
          'x',
          '--cert',
          cert,
          '--key',
          key,
          '--issuer',
          'local',
          '--write',
        ],
        { killAfterMs: 120_000 },
      );
      assert.equal(imported.code, 1, imported.stderr);
      assert.match(imported.stderr, /STORE_UNAVAILABLE|cannot/);
      assert.equal(imported.signal, null, 'not killed by the hang guard');
      assert.ok(!hasStackTrace(imported.stderr), imported.stderr);
    } finally {
      await tmp.remove();
    }
  });

  test('--dry-run checks store, issuer and hooks, writes nothing, runs nothing', async () => {
    const tmp = await tempDir();
    try {
      const store = join(tmp.path, 'certs');
      const marker = join(tmp.path, 'hook-ran');
      const manifest = await writeManifest(
        tmp.path,
        localManifest(store, {
          defaults: {
            issuer: 'local',
            store: 'files',
            hooks: { postRenew: [{ run: ['/bin/sh', '-c', `touch ${marker}`] }] },
          },
        }),
      );
      const r = await runCli(['-m', manifest, 'run', '--dry-run', '--json']);
      assert.equal(r.code, 0, r.stderr);
      const report = JSON.parse(r.stdout) as RunReport;
      assert.equal(report.dryRun, true);
      assert.deepEqual(
        report.certificates.map((c) => c.outcome),
        ['would-renew', 'would-renew'],
      );
      assert.ok(report.checks?.some((c) => c.kind === 'store' && c.ok));
      assert.ok(report.checks?.some((c) => c.kind === 'issuer' && c.ok));
      assert.ok(report.checks?.some((c) => c.kind === 'hook' && c.ok));
      assert.ok(!(await exists(join(store, 'web'))), 'no certificate written');
      await assert.rejects(readFile(marker), 'no hook ran');
      const human = await runCli(['-m', manifest, 'run', '--dry-run']);
      assert.match(human.stdout, /dry run \(nothing was changed\)/);

      // A hook command that does not exist fails the rehearsal.
      const broken = await writeManifest(
        tmp.path,
        localManifest(store, {
          defaults: {
            issuer: 'local',
            store: 'files',
            hooks: { postRenew: [{ run: ['/nonexistent/reload'] }] },
          },
        }),
        'broken.json',
      );
      const bad = await runCli(['-m', broken, 'run', '--dry-run']);
      assert.equal(bad.code, 1);
      assert.match(bad.stdout + bad.stderr, /nonexistent\/reload/);
      // Said once per line, the hook named once.
      assert.match(bad.stdout, /HOOK_FAILED: hook \/nonexistent\/reload: not found: \/nonexistent\/reload\n/);

      // One hook given to two certificates with their own env (as an import writes them) is one check line.
      const perCert = await writeManifest(
        tmp.path,
        localManifest(store, {
          certificates: ['web', 'api'].map((name) => ({
            name,
            domains: [`${name}.example.test`],
            hooks: { postRenew: [{ run: ['/bin/sh', '-c', 'true'], env: { CERT: name } }] },
          })),
        }),
        'per-cert.json',
      );
      const twice = await runCli(['-m', perCert, 'run', '--dry-run', '--json']);
      assert.equal(twice.code, 0, twice.stderr);
      assert.equal(
        (JSON.parse(twice.stdout) as RunReport).checks?.filter((c) => c.kind === 'hook').length,
        1,
      );
    } finally {
      await tmp.remove();
    }
  });

  test("--dry-run with nothing due: a hook not found on cron's PATH fails the rehearsal, and the summary says so", async () => {
    const tmp = await tempDir();
    try {
      const store = join(tmp.path, 'certs');
      const issued = await runCli(['-m', await writeManifest(tmp.path, localManifest(store)), 'run']);
      assert.equal(issued.code, 0, issued.stderr);
      const manifest = await writeManifest(
        tmp.path,
        localManifest(store, {
          defaults: {
            issuer: 'local',
            store: 'files',
            hooks: { postRenew: [{ run: ['cert-renew-test-no-such-reload', '-s', 'reload'] }] },
          },
        }),
        'hooked.json',
      );
      const dry = await runCli(['-m', manifest, 'run', '--dry-run'], {
        cwd: '/',
        env: { PATH: '/usr/bin:/bin' },
      });
      assert.equal(dry.code, 1, dry.stdout + dry.stderr);
      assert.ok(!hasStackTrace(dry.stderr), dry.stderr);
      assert.match(dry.stdout, /^web +ok /m);
      assert.match(
        dry.stdout,
        /dry run \(nothing was changed\): 2 certificate\(s\): 0 would be renewed, 2 fine, 0 failed, 1 check\(s\) failed\n/,
      );
    } finally {
      await tmp.remove();
    }
  });

  test('an invalid manifest exits 2 with one clear line; a missing one too', async () => {
    const tmp = await tempDir();
    try {
      const path = join(tmp.path, 'bad.json');
      await writeFile(path, '{"version": 1, "issuers": {}, "stores": {}, "certificates": [{"name": "a/b"}]}');
      for (const command of ['run', 'plan', 'status']) {
        const r = await runCli(['-m', path, command]);
        assert.equal(r.code, 2, `${command}: ${r.stderr}`);
        assert.ok(!hasStackTrace(r.stderr));
        assert.match(r.stderr, /bad\.json/);
      }
      const missing = await runCli(['-m', join(tmp.path, 'nope.json'), 'run']);
      assert.equal(missing.code, 2);
      assert.equal(missing.stderr.trim().split('\n').length, 1, missing.stderr);
      const usage = await runCli(['run', '--concurrency', 'zero']);
      assert.equal(usage.code, 2);
      const only = await runCli(['-m', path, 'run', '--only', 'ghost']);
      assert.equal(only.code, 2);
    } finally {
      await tmp.remove();
    }
  });

  test('a store path that is a file: the store is unreadable (plan 1, status --check 2, run 1), nothing is tried', async () => {
    const tmp = await tempDir();
    try {
      const file = join(tmp.path, 'not-a-directory');
      await writeFile(file, 'a file\n');
      const path = await writeManifest(tmp.path, localManifest(file));
      const plan = await runCli(['-m', path, 'plan', '--json']);
      assert.equal(plan.code, 1, plan.stderr);
      const items = (
        JSON.parse(plan.stdout) as { items: { action: string; error?: { code: string; message: string } }[] }
      ).items;
      for (const item of items) {
        assert.equal(item.action, 'error');
        assert.equal(item.error?.code, 'STORE_UNAVAILABLE');
        assert.match(item.error?.message ?? '', /not-a-directory is not a directory/);
      }
      assert.equal((await runCli(['-m', path, 'status', '--check'])).code, 2);
      const run = await runCli(['-m', path, 'run']);
      assert.equal(run.code, 1, run.stderr);
      assert.ok(!hasStackTrace(run.stderr), run.stderr);
      // prune cannot look there: it says so and exits 1, never "no orphaned certificates" and 0.
      const prune = await runCli(['-m', path, 'prune', '--dry-run', '--json']);
      assert.equal(prune.code, 1, prune.stderr);
      const pruned = JSON.parse(prune.stdout) as { unlistedStores?: { store: string }[] };
      assert.deepEqual(
        pruned.unlistedStores?.map((u) => u.store),
        ['files'],
      );
      assert.match(
        (await runCli(['-m', path, 'prune', '--dry-run'])).stdout,
        /store 'files' could not be listed/,
      );
      assert.equal(await readFile(file, 'utf8'), 'a file\n');
    } finally {
      await tmp.remove();
    }
  });

  test('a store path that is a symbolic link to nowhere (an unmounted share): plan, status, run and the dry run name the link', async () => {
    const tmp = await tempDir();
    try {
      const link = join(tmp.path, 'certs');
      await symlink(join(tmp.path, 'share', 'certs'), link);
      const path = await writeManifest(tmp.path, localManifest(link));
      const named = new RegExp(
        `${link}.*a symbolic link to ${join(tmp.path, 'share', 'certs')}, which does not exist`,
      );
      const plan = await runCli(['-m', path, 'plan', '--json']);
      assert.equal(plan.code, 1, plan.stderr);
      const items = (
        JSON.parse(plan.stdout) as { items: { action: string; error?: { code: string; message: string } }[] }
      ).items;
      for (const item of items) {
        assert.equal(item.action, 'error', 'not "renew: missing" into a place the run cannot write');
        assert.equal(item.error?.code, 'STORE_UNAVAILABLE');
        assert.match(item.error?.message ?? '', named);
      }
      assert.equal((await runCli(['-m', path, 'status', '--check'])).code, 2);
      const dry = await runCli(['-m', path, 'run', '--dry-run']);
      assert.equal(dry.code, 1, dry.stderr);
      assert.match(dry.stdout, named);
      const run = await runCli(['-m', path, 'run', '--json']);
      assert.equal(run.code, 1, run.stderr);
      for (const c of (JSON.parse(run.stdout) as RunReport).certificates) {
        assert.equal(c.error?.code, 'STORE_UNAVAILABLE', c.name);
        assert.match(c.error?.message ?? '', named);
      }
      assert.ok(!hasStackTrace(run.stderr), run.stderr);
      assert.equal(await exists(join(tmp.path, 'share')), false, 'nothing created behind the link');
    } finally {
      await tmp.remove();
    }
  });

  test('four runs at once on one store issue each certificate exactly once', async () => {
    const tmp = await tempDir();
    try {
      const store = join(tmp.path, 'certs');
      const names = ['a', 'b', 'c', 'd', 'e', 'f'];
      const manifest = await writeManifest(
        tmp.path,
        localManifest(store, {
          certificates: names.map((name) => ({ name, domains: [`${name}.example.test`] })),
        }),
      );
      const results = await Promise.all(
        [1, 2, 3, 4].map(() => runCli(['-m', manifest, 'run', '--json', '--concurrency', '2'])),
      );
      const renewedBy = new Map<string, number>();
      for (const r of results) {
        assert.equal(r.code, 0, r.stderr);
        for (const c of (JSON.parse(r.stdout) as RunReport).certificates) {
          assert.ok(
            ['renewed', 'renewed-elsewhere', 'ok', 'fresh'].includes(c.outcome),
            `${c.name}: ${c.outcome} ${c.message}`,
          );
          if (c.outcome === 'renewed') renewedBy.set(c.name, (renewedBy.get(c.name) ?? 0) + 1);
        }
      }
      for (const name of names) {
        assert.equal(renewedBy.get(name), 1, `${name} issued once`);
        const versions = (await readdir(join(store, name, 'versions'))).filter((v) => !v.startsWith('.'));
        assert.equal(versions.length, 1, `${name}: one version on disk (${versions.join(',')})`);
      }
    } finally {
      await tmp.remove();
    }
  });

  test('--metrics-file writes a Prometheus textfile', async () => {
    const tmp = await tempDir();
    try {
      const manifest = await writeManifest(tmp.path, localManifest(join(tmp.path, 'certs')));
      const metrics = join(tmp.path, 'cert-renew.prom');
      const r = await runCli(['-m', manifest, 'run', '--metrics-file', metrics]);
      assert.equal(r.code, 0, r.stderr);
      const text = await readFile(metrics, 'utf8');
      assert.match(
        text,
        /^cert_renew_certificate_not_after_timestamp_seconds\{name="web",issuer="local",store="files"\} \d+$/m,
      );
      assert.match(text, /^cert_renew_last_run_success 1$/m);
      assert.match(text, /^cert_renew_last_run_renewals\{reason="missing"\} 2$/m);
      // The state after the run: what was just renewed is not due.
      assert.match(
        text,
        /^cert_renew_certificate_renewal_due\{name="web",issuer="local",store="files",reason="ok"\} 0$/m,
      );
      // A metrics file that cannot be written does not hide the report, and fails the run.
      const bad = await runCli([
        '-m',
        manifest,
        'run',
        '--json',
        '--metrics-file',
        join(tmp.path, 'no', 'such', 'dir.prom'),
      ]);
      assert.equal(bad.code, 1);
      assert.equal(JSON.parse(bad.stdout).certificates.length, 2);
      assert.match(bad.stderr, /metrics file/);
    } finally {
      await tmp.remove();
    }
  });
});

test('a damaged attempts.json is said once per run, does not hold a renewal back, and is gone after it', async (t) => {
  const tmp = await tempDir('cert-renew-damaged-attempts-');
  t.after(() => tmp.remove());
  const store = join(tmp.path, 'certs');
  const manifest = await writeManifest(tmp.path, localManifest(store));
  const first = await runCli(['-m', manifest, 'run']);
  assert.equal(first.code, 0, first.stderr);
  const names = (await readdir(store)).filter((n) => !n.startsWith('.'));
  const name = names[0] as string;
  await writeFile(join(store, name, 'attempts.json'), 'garbage{');
  const r = await runCli(['-m', manifest, 'run', '--force', '--only', name, '--json']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal((JSON.parse(r.stdout) as RunReport).certificates[0]?.outcome, 'renewed');
  const said = r.stderr.split('\n').filter((l) => l.includes('attempts.json is not JSON'));
  assert.equal(said.length, 1, r.stderr);
  assert.ok(!(await readdir(join(store, name))).includes('attempts.json'), 'removed by the success');
  const after = await runCli(['-m', manifest, 'plan']);
  assert.doesNotMatch(after.stderr, /attempts\.json/);
});
