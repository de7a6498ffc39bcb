/**
 * Failures a Redis store cannot record (docs/operations.md "Backoff between runs"): a store stopped for good
 * (every certificate fails before anything can be tried) and a store that answers reads but refuses writes
 * (OOM). Each such failure is said on its one stderr line ("could not be recorded"), marked
 * `attemptNotRecorded` in the report and counted by `cert_renew_last_run_unrecorded_failures`; and the
 * textfile those runs write fires the shipped alerts (examples/monitoring/cert-renew.rules.yml, through
 * promtool) — an outage that lasts is not silent.
 */
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { runCommand, tempDir } from '../harness/process.js';
import { startRedis } from '../harness/redis.js';
import { hasStackTrace, REPO, runCli } from './cli.js';
import { writeManifest } from './fixtures.js';
import { errorLines, redisManifest, runReport } from './redis-fixtures.js';

/** A guard against hanging, not a timing assertion. */
const GUARD = { killAfterMs: 120_000 };

/** The sample lines of a Prometheus textfile (`name{labels} value`), comments left out. */
function samples(textfile: string): string[] {
  return textfile.split('\n').filter((line) => line !== '' && !line.startsWith('#'));
}

/**
 * The shipped rules without their annotations: promtool's unit tests compare annotations too, and these
 * tests ask only which alerts fire (tests/monitoring/ pins the texts).
 */
async function rulesWithoutAnnotations(): Promise<string> {
  const text = await readFile(join(REPO, 'examples', 'monitoring', 'cert-renew.rules.yml'), 'utf8');
  const out: string[] = [];
  let skipBelow: number | undefined;
  for (const line of text.split('\n')) {
    const indent = line.length - line.trimStart().length;
    if (skipBelow !== undefined && (line.trim() === '' || indent > skipBelow)) continue;
    skipBelow = undefined;
    if (line.trim() === 'annotations:') {
      skipBelow = indent;
      continue;
    }
    out.push(line);
  }
  return out.join('\n');
}

/**
 * A promtool unit test that feeds the textfile's samples, unchanged, for `hours` hours (as node_exporter
 * keeps exporting the file of the last run, one run after another writing the same), and expects exactly
 * `firing` at `at` hours (labels: the alert's own and the instance's).
 */
function promtoolTest(
  textfile: string,
  hours: number,
  checks: { at: number; alert: string; firing: Record<string, string>[] }[],
): string {
  const series = samples(textfile).map((line) => {
    const match = /^([A-Za-z_:][A-Za-z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    assert.ok(match, line);
    const [, name, labels, value] = match;
    const all = [labels, 'instance="h1"', 'job="node"'].filter(Boolean).join(',');
    return `      - series: '${name}{${all}}'\n        values: "${value}x${hours}"`;
  });
  const tests = checks.map(({ at, alert, firing }) => {
    const expected =
      firing.length === 0
        ? ' []'
        : `\n${firing.map((labels) => `          - exp_labels: ${JSON.stringify({ ...labels, instance: 'h1', job: 'node' })}`).join('\n')}`;
    return `      - eval_time: ${at}h\n        alertname: ${alert}\n        exp_alerts:${expected}`;
  });
  return [
    'rule_files:',
    '  - rules.yml',
    'evaluation_interval: 1h',
    'tests:',
    '  - interval: 1h',
    '    input_series:',
    ...series,
    '    alert_rule_test:',
    ...tests,
    '',
  ].join('\n');
}

describe('failures a Redis store cannot record', () => {
  test('Redis stopped for good: every run marks each failure unrecorded, and the alerts fire', async (t) => {
    const redis = await startRedis();
    const tmp = await tempDir('cert-renew-unrecorded-');
    t.after(async () => {
      await redis.stop().catch(() => {});
      await tmp.remove();
    });
    const manifest = await writeManifest(
      tmp.path,
      redisManifest({ url: redis.url, keyPrefix: 'tX:' }, ['web', 'api']),
    );
    const first = await runCli(['-m', manifest, 'run'], GUARD);
    assert.equal(first.code, 0, first.stderr);
    await redis.stop();

    const metrics = join(tmp.path, 'run.prom');
    let textfile = '';
    for (const round of [1, 2]) {
      const r = await runCli(['-m', manifest, 'run', '--json', '--metrics-file', metrics], GUARD);
      assert.equal(r.signal, null, 'exited by itself');
      assert.equal(r.code, 1, r.stderr);
      assert.ok(!hasStackTrace(r.stdout + r.stderr), r.stderr);
      for (const c of runReport(r).certificates) {
        assert.equal(c.outcome, 'failed', c.name);
        assert.equal(c.error?.code, 'STORE_UNAVAILABLE', c.name);
        assert.equal(c.attemptNotRecorded, 'the store could not be read', `${c.name}, run ${round}`);
        const lines = errorLines(r.stderr, c.name);
        assert.equal(lines.length, 1, `${c.name}: one line:\n${r.stderr}`);
        assert.match(
          lines[0] ?? '',
          /is unreachable: .*; the failed attempt could not be recorded in store 'shared' \(status shows the store's error, not this attempt\): the store could not be read$/,
        );
      }
      textfile = await readFile(metrics, 'utf8');
      assert.match(textfile, /^cert_renew_last_run_unrecorded_failures 2$/m, `run ${round}`);
      assert.match(textfile, /^cert_renew_last_run_failures\{code="STORE_UNAVAILABLE"\} 2$/m);
      assert.match(textfile, /^cert_renew_last_run_success 0$/m);
      // The store recorded none of them: the count is this run's failure alone, every run (documented).
      assert.match(textfile, /^cert_renew_certificate_failed_attempts\{name="web",[^}]*\} 1$/m);
      // Nothing is known of the stored certificates: no expiry, so no expiry alert can ever fire.
      assert.doesNotMatch(textfile, /^cert_renew_certificate_not_after_timestamp_seconds/m);
    }

    // A dry run records nothing anyway: nothing to mark.
    const dry = await runCli(['-m', manifest, 'run', '--dry-run', '--json'], GUARD);
    assert.equal(dry.code, 1, dry.stderr);
    for (const c of runReport(dry).certificates) assert.equal(c.attemptNotRecorded, undefined, c.name);
    assert.doesNotMatch(dry.stderr, /could not be recorded/);

    // That textfile, run after run for ten days: a warning from the first hour, a page after 36 hours.
    await writeFile(join(tmp.path, 'rules.yml'), await rulesWithoutAnnotations());
    await writeFile(
      join(tmp.path, 'store-down.test.yml'),
      promtoolTest(textfile, 240, [
        { at: 1, alert: 'CertRenewFailureNotRecorded', firing: [{ severity: 'warning' }] },
        { at: 35, alert: 'CertRenewStoreFailing', firing: [] },
        { at: 37, alert: 'CertRenewStoreFailing', firing: [{ severity: 'critical' }] },
        { at: 239, alert: 'CertRenewStoreFailing', firing: [{ severity: 'critical' }] },
        { at: 239, alert: 'CertRenewFailureNotRecorded', firing: [{ severity: 'warning' }] },
      ]),
    );
    const promtool = await runCommand('promtool', ['test', 'rules', 'store-down.test.yml'], {
      cwd: tmp.path,
      timeoutMs: 120_000,
    });
    assert.match(promtool.stdout, /SUCCESS/);
  });

  test('Redis out of memory: the failure and its recording fail, one clean line, counted', async (t) => {
    const redis = await startRedis();
    const tmp = await tempDir('cert-renew-unrecorded-');
    t.after(async () => {
      await redis.stop();
      await tmp.remove();
    });
    const manifest = await writeManifest(tmp.path, redisManifest({ url: redis.url }, ['web', 'api']));
    const first = await runCli(['-m', manifest, 'run'], GUARD);
    assert.equal(first.code, 0, first.stderr);
    // noeviction (the default) with a limit below what it holds: reads answer, every write is refused.
    await redis.cli('CONFIG', 'SET', 'maxmemory', '1');

    const metrics = join(tmp.path, 'run.prom');
    const r = await runCli(['-m', manifest, 'run', '--force', '--json', '--metrics-file', metrics], GUARD);
    assert.equal(r.code, 1, r.stderr);
    assert.ok(!hasStackTrace(r.stdout + r.stderr), r.stderr);
    for (const c of runReport(r).certificates) {
      assert.equal(c.outcome, 'failed', c.name);
      assert.match(c.attemptNotRecorded ?? '', /OOM command not allowed/, c.name);
      const lines = errorLines(r.stderr, c.name);
      assert.equal(lines.length, 1, `${c.name}: one line:\n${r.stderr}`);
      assert.match(lines[0] ?? '', /; the failed attempt could not be recorded in store 'shared'/);
    }
    // A reply that ends its sentence ("… 'maxmemory'.") is joined without a stray period.
    assert.doesNotMatch(r.stderr, /\.; /, r.stderr);
    assert.match(await readFile(metrics, 'utf8'), /^cert_renew_last_run_unrecorded_failures 2$/m);
  });
});
