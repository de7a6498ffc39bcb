/**
 * The middle of the pipeline as tables: backoff timing (the plan's retryAt and action), health and
 * `status --check` codes, the Prometheus text, and how hooks are grouped. Pure functions, fixed times.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { groupHooks } from '../../src/execute/hooks.js';
import type { HookSpec } from '../../src/manifest/types.js';
import type { Plan, PlanItem } from '../../src/plan/model.js';
import { BACKOFF_MAX_MS, backingOff, CA_RETRY_AFTER_MAX_MS, retryAt } from '../../src/policy/backoff.js';
import { checkExitCode, type Health, healthOf, REASON_SEVERITY } from '../../src/policy/readiness.js';
import { REASONS, Reason } from '../../src/policy/reasons.js';
import { runMetrics, statusMetrics } from '../../src/report/metrics.js';
import type { CertificateReport, RunReport } from '../../src/report/model.js';
import { statusReport } from '../../src/report/status.js';

const MIN = 60_000;
const H = 3_600_000;
const D = 24 * H;
const LAST = '2030-01-01T00:00:00.000Z';
const at = (ms: number) => new Date(Date.parse(LAST) + ms).toISOString();

describe('retryAt: 5 min × 2^(n−1), at most 6 h, at most a tenth of what is left', () => {
  const rows: [string, number, number | undefined, number][] = [
    ['1 failure', 1, undefined, 5 * MIN],
    ['2 failures', 2, undefined, 10 * MIN],
    ['3 failures', 3, undefined, 20 * MIN],
    ['6 failures', 6, undefined, 160 * MIN],
    ['7 failures', 7, undefined, 320 * MIN],
    ['8 failures: capped at 6 h', 8, undefined, 6 * H],
    ['1000 failures: still 6 h', 1000, undefined, BACKOFF_MAX_MS],
    ['0 failures counts as one', 0, undefined, 5 * MIN],
    ['10 failures, 30 d left: 6 h', 10, 30 * D, 6 * H],
    ['10 failures, 1 d left: a tenth, 2.4 h', 10, D, 2.4 * H],
    ['1 failure, 10 min left: a tenth is 1 min, the floor 5 min', 1, 10 * MIN, 5 * MIN],
    ['expired: the floor, 5 min (never every run)', 5, -D, 5 * MIN],
  ];
  for (const [name, failureCount, remainingMs, waitMs] of rows) {
    test(name, () => {
      assert.equal(retryAt({ lastAttempt: LAST, failureCount }, remainingMs).toISOString(), at(waitMs));
    });
  }
});

describe('a record from a clock ahead, or edited by hand', () => {
  const due = { renew: true, reason: Reason.withinRenewWindow, remainingMs: 10 * D };
  const now = new Date(LAST);
  test('a lastAttempt later than now (beyond the clock skew) holds nothing back, forced or not, at any later time', () => {
    const ahead = {
      lastAttempt: '2099-01-01T00:00:00.000Z',
      failureCount: 99,
      retryAfter: '2099-01-02T00:00:00.000Z',
    };
    for (const later of [0, 7 * H, 30 * H, 100 * H]) {
      const at = new Date(now.getTime() + later);
      assert.equal(backingOff({ decision: due, attempts: ahead, now: at, force: false }), null);
      assert.equal(backingOff({ decision: due, attempts: ahead, now: at, force: true }), null);
    }
    // Within the clock skew it still counts: a host a minute ahead is not ignored.
    const aMinute = { lastAttempt: at(MIN), failureCount: 2 };
    assert.ok(backingOff({ decision: due, attempts: aMinute, now, force: false }));
  });
  test('a CA Retry-After holds back at most a week after the attempt that got it', () => {
    const far = { lastAttempt: LAST, failureCount: 1, retryAfter: '2099-01-01T00:00:00.000Z' };
    assert.equal(retryAt(far, undefined).toISOString(), at(CA_RETRY_AFTER_MAX_MS));
    const forced = backingOff({ decision: due, attempts: far, now: new Date(at(D)), force: true });
    assert.equal(forced?.until.toISOString(), at(CA_RETRY_AFTER_MAX_MS));
  });
  test('held back by the CA: said so (--force does not override it), not by our own wait', () => {
    const ca = { lastAttempt: LAST, failureCount: 1, retryAfter: at(2 * D) };
    assert.equal(
      backingOff({ decision: due, attempts: ca, now: new Date(at(D)), force: false })?.caRetryAfter,
      true,
    );
    const ours = { lastAttempt: LAST, failureCount: 8, retryAfter: at(MIN) };
    assert.equal(
      backingOff({ decision: due, attempts: ours, now: new Date(at(2 * MIN)), force: false })?.caRetryAfter,
      undefined,
    );
    // Our wait is longer, but the CA's is still ahead: a forced run waits for the CA, and is told so.
    const both = { lastAttempt: LAST, failureCount: 5, retryAfter: at(10 * MIN) };
    const held = backingOff({ decision: due, attempts: both, now: new Date(at(MIN)), force: false });
    assert.deepEqual([held?.caRetryAfter, held?.caUntil?.toISOString()], [undefined, at(10 * MIN)]);
  });
  test('a lastAttempt that is not a date: long ago, so no wait of our own', () => {
    assert.ok(retryAt({ lastAttempt: 'soon', failureCount: 3 }, undefined) < now);
  });
});

describe('backingOff: due, failed recently, not forced', () => {
  const due = { renew: true, reason: Reason.withinRenewWindow, remainingMs: 10 * D };
  const attempts = { lastAttempt: LAST, failureCount: 2 }; // retry at +10 min
  const rows: [string, Parameters<typeof backingOff>[0], string | null][] = [
    ['inside the wait', { decision: due, attempts, now: new Date(at(5 * MIN)), force: false }, at(10 * MIN)],
    ['at retryAt: goes', { decision: due, attempts, now: new Date(at(10 * MIN)), force: false }, null],
    ['after it: goes', { decision: due, attempts, now: new Date(at(H)), force: false }, null],
    ['--force: goes', { decision: due, attempts, now: new Date(at(MIN)), force: true }, null],
    [
      "--force before the CA's Retry-After: held until it",
      {
        decision: due,
        attempts: { ...attempts, retryAfter: at(2 * H) },
        now: new Date(at(MIN)),
        force: true,
      },
      at(2 * H),
    ],
    [
      "--force after the CA's Retry-After: goes",
      { decision: due, attempts: { ...attempts, retryAfter: at(MIN) }, now: new Date(at(H)), force: true },
      null,
    ],
    [
      'reason forced: goes',
      { decision: { ...due, reason: Reason.forced }, attempts, now: new Date(at(MIN)), force: false },
      null,
    ],
    [
      'not due: nothing to hold back',
      {
        decision: { ...due, renew: false, reason: Reason.ok },
        attempts,
        now: new Date(at(MIN)),
        force: false,
      },
      null,
    ],
    ['no failures', { decision: due, attempts: undefined, now: new Date(at(MIN)), force: false }, null],
    [
      'failure count 0',
      { decision: due, attempts: { ...attempts, failureCount: 0 }, now: new Date(at(MIN)), force: false },
      null,
    ],
    [
      // A reload that failed after the certificate was stored (maybe on another host) is no failed renewal.
      'failed post-renew hooks only: goes',
      { decision: due, attempts: { ...attempts, hooksPending: true }, now: new Date(at(MIN)), force: false },
      null,
    ],
  ];
  for (const [name, input, until] of rows) {
    test(name, () => assert.equal(backingOff(input)?.until.toISOString() ?? null, until));
  }
});

function item(action: PlanItem['action'], reason?: Reason, failures = 0): PlanItem {
  return {
    name: `${action}-${reason ?? 'none'}-${failures}`,
    domains: ['a.example.test'],
    issuer: 'local',
    store: 'files',
    action,
    ...(reason ? { reason } : {}),
    message: 'm',
    ...(failures > 0 ? { failures: { count: failures, lastAttempt: LAST } } : {}),
  };
}

describe('health: one readiness chain over the policy reasons', () => {
  test('every reason has a severity', () => {
    assert.deepEqual(Object.keys(REASON_SEVERITY).sort(), [...REASONS].sort());
  });
  const rows: [PlanItem, Health][] = [
    [item('keep', Reason.ok), 'valid'],
    [item('keep', Reason.ok, 1), 'warning'],
    [item('renew', Reason.withinRenewWindow), 'warning'],
    [item('renew', Reason.safetyFloor), 'warning'],
    [item('renew', Reason.ariWindow), 'warning'],
    [item('renew', Reason.domainsChanged), 'warning'],
    [item('renew', Reason.keyTypeChanged), 'warning'],
    [item('renew', Reason.issuerChanged), 'warning'],
    [item('backoff', Reason.withinRenewWindow, 3), 'warning'],
    [item('renew', Reason.missing), 'critical'],
    [item('renew', Reason.unreadable), 'critical'],
    [item('renew', Reason.revoked), 'critical'],
    [item('renew', Reason.keyMismatch), 'critical'],
    [item('renew', Reason.expired), 'critical'],
    [item('backoff', Reason.expired, 2), 'critical'],
    [item('error'), 'critical'],
  ];
  for (const [input, health] of rows) {
    test(`${input.action} ${input.reason ?? '(no reason)'}, ${input.failures?.count ?? 0} failure(s) → ${health}`, () =>
      assert.equal(healthOf(input), health));
  }
  test('hooks still pending warn', () =>
    assert.equal(healthOf({ ...item('keep', Reason.ok), hooksPending: true }), 'warning'));

  const codes: [Health[], number][] = [
    [[], 0],
    [['valid', 'valid'], 0],
    [['valid', 'warning'], 1],
    [['warning', 'critical', 'valid'], 2],
    [['critical'], 2],
  ];
  for (const [health, code] of codes) {
    test(`status --check with [${health.join(', ')}] exits ${code}`, () =>
      assert.equal(checkExitCode(health), code));
  }

  test('the status report: each item with its health, the check code, the plan time', () => {
    const plan: Plan = {
      version: 1,
      generatedAt: LAST,
      runIntervalSeconds: 86400,
      forced: false,
      summary: { total: 2, renew: 1, keep: 1, backoff: 0, error: 0 },
      items: [item('keep', Reason.ok), item('renew', Reason.withinRenewWindow)],
    };
    const status = statusReport(plan);
    assert.deepEqual(Object.keys(status), ['version', 'command', 'at', 'exitCode', 'certificates']);
    assert.equal(status.at, LAST);
    assert.equal(status.exitCode, 1);
    assert.deepEqual(
      status.certificates.map((c) => c.health),
      ['valid', 'warning'],
    );
  });
});

describe('metrics: the Prometheus text', () => {
  const keep: PlanItem = {
    ...item('keep', Reason.ok),
    name: 'web',
    notAfter: '2030-03-01T00:00:00.000Z',
    renewAt: '2030-02-01T00:00:00.000Z',
  };
  const due: PlanItem = {
    ...item('renew', Reason.safetyFloor, 2),
    name: 'api',
    notAfter: '2030-01-02T00:00:00.000Z',
  };
  const broken: PlanItem = { ...item('error'), name: 'db' };

  test('status: not-after, due (reason label from the fixed set), failed attempts, the time', () => {
    assert.equal(
      statusMetrics([keep, due, broken], new Date(LAST)),
      [
        '# HELP cert_renew_certificate_not_after_timestamp_seconds Expiry of the stored certificate (Unix time).',
        '# TYPE cert_renew_certificate_not_after_timestamp_seconds gauge',
        'cert_renew_certificate_not_after_timestamp_seconds{name="web",issuer="local",store="files"} 1898553600',
        'cert_renew_certificate_not_after_timestamp_seconds{name="api",issuer="local",store="files"} 1893542400',
        '# HELP cert_renew_certificate_renewal_due 1 when the certificate is due for renewal (or missing), else 0.',
        '# TYPE cert_renew_certificate_renewal_due gauge',
        'cert_renew_certificate_renewal_due{name="web",issuer="local",store="files",reason="ok"} 0',
        'cert_renew_certificate_renewal_due{name="api",issuer="local",store="files",reason="safety-floor"} 1',
        'cert_renew_certificate_renewal_due{name="db",issuer="local",store="files",reason="error"} 1',
        '# HELP cert_renew_certificate_failed_attempts Consecutive failed renewal attempts recorded in the store.',
        '# TYPE cert_renew_certificate_failed_attempts gauge',
        'cert_renew_certificate_failed_attempts{name="web",issuer="local",store="files"} 0',
        'cert_renew_certificate_failed_attempts{name="api",issuer="local",store="files"} 2',
        'cert_renew_certificate_failed_attempts{name="db",issuer="local",store="files"} 0',
        '# HELP cert_renew_certificate_renewal_window_seconds How long before expiry the stored certificate becomes due (not-after minus renew-at).',
        '# TYPE cert_renew_certificate_renewal_window_seconds gauge',
        'cert_renew_certificate_renewal_window_seconds{name="web",issuer="local",store="files"} 2419200',
        '# HELP cert_renew_status_timestamp_seconds When cert-renew status last looked (Unix time).',
        '# TYPE cert_renew_status_timestamp_seconds gauge',
        'cert_renew_status_timestamp_seconds 1893456000',
        '',
      ].join('\n'),
    );
  });

  test('run: the state after the run, renewals by reason, failures by code', () => {
    const line = (over: Partial<CertificateReport> & Pick<CertificateReport, 'name' | 'outcome'>) => ({
      domains: [],
      issuer: 'local',
      store: 'files',
      action: 'renew' as const,
      message: '',
      hooks: [],
      durationMs: 0,
      ...over,
    });
    const report = {
      version: 1,
      command: 'run',
      dryRun: false,
      forced: false,
      startedAt: LAST,
      finishedAt: at(90_000),
      durationMs: 90_000,
      exitCode: 1,
      summary: {} as RunReport['summary'],
      certificates: [
        line({ name: 'web', outcome: 'ok', action: 'keep', reason: Reason.ok }),
        line({
          name: 'api',
          outcome: 'renewed',
          reason: Reason.safetyFloor,
          notAfter: '2030-02-01T00:00:00.000Z',
        }),
        line({ name: 'db', outcome: 'failed', error: { code: 'STORE_UNAVAILABLE', message: 'down' } }),
      ],
      hooks: [],
    } satisfies RunReport;
    const text = runMetrics(report, [keep, due, broken]);
    const samples = text.split('\n').filter((l) => l !== '' && !l.startsWith('#'));
    assert.deepEqual(samples, [
      'cert_renew_certificate_not_after_timestamp_seconds{name="web",issuer="local",store="files"} 1898553600',
      'cert_renew_certificate_not_after_timestamp_seconds{name="api",issuer="local",store="files"} 1896134400',
      'cert_renew_certificate_renewal_due{name="web",issuer="local",store="files",reason="ok"} 0',
      'cert_renew_certificate_renewal_due{name="api",issuer="local",store="files",reason="ok"} 0',
      'cert_renew_certificate_renewal_due{name="db",issuer="local",store="files",reason="error"} 1',
      'cert_renew_certificate_failed_attempts{name="web",issuer="local",store="files"} 0',
      'cert_renew_certificate_failed_attempts{name="api",issuer="local",store="files"} 0',
      'cert_renew_certificate_failed_attempts{name="db",issuer="local",store="files"} 1',
      'cert_renew_certificate_renewal_window_seconds{name="web",issuer="local",store="files"} 2419200',
      'cert_renew_last_run_timestamp_seconds 1893456090',
      'cert_renew_last_run_success 0',
      'cert_renew_last_run_duration_seconds 90',
      'cert_renew_last_run_renewals{reason="safety-floor"} 1',
      'cert_renew_last_run_unrecorded_failures 0',
      'cert_renew_last_run_failures{code="STORE_UNAVAILABLE"} 1',
      'cert_renew_last_run_hook_failures{event="post-renew"} 0',
      'cert_renew_last_run_hook_failures{event="rollback"} 0',
      'cert_renew_last_run_hook_failures{event="on-failure"} 0',
    ]);
  });

  test('label values are escaped', () => {
    const odd: PlanItem = { ...keep, name: 'a"b\\c\nd' };
    assert.match(statusMetrics([odd], new Date(LAST)), /name="a\\"b\\\\c\\nd"/);
  });
});

describe('hook grouping: identical hooks once, members in order', () => {
  const reload: HookSpec = { run: ['systemctl', 'reload', 'nginx'] };
  const sameReload: HookSpec = { run: ['systemctl', 'reload', 'nginx'], cwd: './', timeout: '60s' };
  const other: HookSpec = { run: ['systemctl', 'reload', 'haproxy'] };
  const withEnv: HookSpec = { run: ['systemctl', 'reload', 'nginx'], env: { A: '1' } };
  const rows: [string, [string, HookSpec[]][], [string, string[]][]][] = [
    ['nothing', [], []],
    [
      'one shared hook for all',
      [
        ['web', [reload]],
        ['api', [reload]],
      ],
      [['nginx', ['web', 'api']]],
    ],
    [
      'the same command with an equal cwd spelled differently is one hook',
      [
        ['web', [reload]],
        ['api', [{ ...reload, cwd: '.' }]],
      ],
      [['nginx', ['web', 'api']]],
    ],
    [
      'a different env or timeout is another hook',
      [
        ['web', [reload]],
        ['api', [withEnv, sameReload]],
      ],
      [
        ['nginx', ['web']],
        ['nginx', ['api']],
        ['nginx', ['api']],
      ],
    ],
    [
      'groups in first-met order; a member once per group',
      [
        ['web', [other, reload, reload]],
        ['api', [reload]],
      ],
      [
        ['haproxy', ['web']],
        ['nginx', ['web', 'api']],
      ],
    ],
  ];
  for (const [name, items, expected] of rows) {
    test(name, () => {
      const groups = groupHooks(items, ([, specs]) => specs);
      assert.deepEqual(
        groups.map((g) => [(g.spec.run as string[])[2], g.members.map(([n]) => n)]),
        expected,
      );
    });
  }
});
