/**
 * Act: executes a plan. The run goes through named phases, each over the planned records:
 *
 *   settleUndue      error and backoff items get their outcome without being touched
 *   (dry run)        checkDryRun: prove every store, issuer and hook, change nothing, stop
 *   renewDue         every due certificate through its own pipeline (execute/renew.ts), bounded concurrency;
 *                    one failure never stops the others
 *   retryPendingHooks  certificates stored earlier whose post-renew hooks had not succeeded join the hooks
 *   postRenewHooks   grouped post-renew hooks, rollback on failure; the outcomes follow what is stored now
 *   recordHookResults  what the hooks did is kept in the store (hooksPending, failure counts)
 *   failureHooks     grouped onFailure hooks for every certificate that failed in this run
 *
 * and then the report.
 */
import { describeError, ErrorCode, ExitCode, toCertRenewError } from '../errors.js';
import type { FailureInfo, HookCertificateInfo } from '../hooks/env.js';
import type { Env } from '../manifest/secrets.js';
import type { ResolvedCertificate } from '../manifest/types.js';
import type { PlannedRecord, PlannedRun } from '../plan/model.js';
import {
  type CertificateReport,
  FAILING_OUTCOMES,
  type HookRunReport,
  REPORT_VERSION,
  type RunReport,
  summarize,
} from '../report/model.js';
import type { Clock } from '../runtime/clock.js';
import type { Logger } from '../runtime/logger.js';
import type { Session } from '../runtime/session.js';
import type { AttemptInfo, StoredMeta } from '../stores/types.js';
import { mapLimit } from '../util/pool.js';
import { dryRunChecks } from './dry-run.js';
import { type HookRunnerOptions, type PostRenewResult, runFailureHooks, runPostRenewHooks } from './hooks.js';
import { renewOne } from './renew.js';

/** One log line that starts with `NAME: `, once (some issuers' messages already name the certificate). */
export function namedLine(name: string, message: string): string {
  for (const prefix of [`${name}: `, `certificate ${name}: `]) {
    if (message.startsWith(prefix)) return `${name}: ${message.slice(prefix.length)}`;
  }
  return `${name}: ${message}`;
}

export interface RunOptions {
  dryRun: boolean;
  force: boolean;
  /** Certificates renewed at once (≥ 1). */
  concurrency: number;
  /** The timer's period, ms (the re-check under the lock decides with it, as the plan did). */
  runIntervalMs: number;
  /** How long to wait for another host's lock on one certificate, ms. */
  lockWaitMs: number;
  /** The whole pipeline of one certificate must finish within this, ms. */
  deadlineMs: number;
  /** Aborted on SIGINT/SIGTERM: no new certificate starts, running ones and hooks are stopped. */
  interrupt?: AbortSignal;
}

export interface RunDeps {
  session: Session;
  clock: Clock;
  logger: Logger;
  env: Env;
}

/** One certificate while the run executes: its planned record and its line of the report, filled phase by phase. */
interface Running {
  readonly record: PlannedRecord;
  readonly report: CertificateReport;
  /** Set when its post-renew hooks run in this run: what they are told about the certificate. */
  hook?: HookCertificateInfo;
}

/**
 * Executes `run` (from `makePlan`, with the same `force`) and returns the run report (docs/operations.md),
 * one certificate line per planned record, in plan order.
 *
 * - Never throws for a certificate, store, issuer or hook failure: each is an outcome with an error code,
 *   and `report.exitCode` is 1 when any certificate, hook or dry-run check failed.
 * - Every write happens under the certificate's lock, after deciding again (another host may have renewed
 *   it); a failure leaves the stored certificate as it was.
 * - Dry run: only `checkDryRun`; nothing is issued, written or run.
 * - Interrupted (`options.interrupt`): certificates not started fail with INTERRUPTED, running ones stop,
 *   locks are released; the report is still returned.
 */
export async function executeRun(run: PlannedRun, options: RunOptions, deps: RunDeps): Promise<RunReport> {
  const startedAt = deps.clock.now();
  const running = run.records.map((record): Running => ({ record, report: baseReport(record) }));
  settleUndue(running, deps.logger);
  if (options.dryRun) {
    const checks = await checkDryRun(running, deps);
    return finish(running, [], checks, options, startedAt, deps.clock);
  }
  await renewDue(running, options, deps, startedAt);
  await retryPendingHooks(running, deps);
  const hookOptions: HookRunnerOptions = {
    session: deps.session,
    env: deps.env,
    logger: deps.logger,
    ...(options.interrupt ? { signal: options.interrupt } : {}),
  };
  const post = await postRenewHooks(running, hookOptions);
  await recordHookResults(running, post, deps);
  const onFailure = await failureHooks(running, hookOptions, deps.logger);
  return finish(running, [...post.reports, ...onFailure], undefined, options, startedAt, deps.clock);
}

function baseReport({ item, meta }: PlannedRecord): CertificateReport {
  const report: CertificateReport = {
    name: item.name,
    domains: item.domains,
    issuer: item.issuer,
    store: item.store,
    action: item.action,
    message: item.message,
    outcome: 'ok',
    hooks: [],
    durationMs: 0,
  };
  if (item.reason) report.reason = item.reason;
  if (item.notAfter) report.notAfter = item.notAfter;
  if (meta) {
    report.serial = meta.serial;
    report.fingerprint = meta.fingerprint;
  }
  return report;
}

function hookInfo(
  entry: ResolvedCertificate,
  meta: StoredMeta | undefined,
  storeType: string,
): HookCertificateInfo {
  const info: HookCertificateInfo = {
    name: entry.name,
    domains: entry.domains,
    storeName: entry.storeName,
    storeType,
    issuerName: entry.issuerName,
  };
  if (meta) {
    info.notAfter = new Date(meta.notAfter);
    info.serial = meta.serial;
    info.fingerprint = meta.fingerprint;
  }
  return info;
}

/** Phase: certificates whose store could not be read fail; those backing off say so. Nothing is touched. */
function settleUndue(running: Running[], logger: Logger): void {
  for (const { record, report } of running) {
    const { item } = record;
    if (item.action === 'error') {
      report.outcome = 'failed';
      if (item.error) report.error = item.error;
      logger.error(namedLine(item.name, item.error?.message ?? item.message));
    } else if (item.action === 'backoff') {
      report.outcome = 'backoff';
      report.error = { code: ErrorCode.backoff, message: item.message };
      logger.warn(namedLine(item.name, item.message));
    }
  }
}

/** Phase (dry run only): every check, then each due certificate would renew or fails with what blocks it. */
async function checkDryRun(running: Running[], deps: RunDeps): Promise<RunReport['checks']> {
  const checks = await dryRunChecks(
    running.map((r) => r.record),
    deps,
  );
  for (const { record, report } of running) {
    if (record.item.action !== 'renew') continue;
    const blocking = checks.failuresFor(record.entry);
    if (blocking.length > 0) {
      report.outcome = 'failed';
      report.error = {
        code: blocking[0]?.code ?? ErrorCode.issuerUnavailable,
        message: blocking.map((b) => b.message).join('; '),
      };
    } else {
      report.outcome = 'would-renew';
      report.message = `would renew (${record.item.reason}): ${record.item.message}`;
    }
  }
  return checks.reports;
}

/** Phase: every `renew` item through lock → re-check → issue → verify → store, `concurrency` at a time. */
async function renewDue(
  running: Running[],
  options: RunOptions,
  deps: RunDeps,
  startedAt: Date,
): Promise<void> {
  const { session, clock, logger } = deps;
  const due = running.filter((r) => r.record.item.action === 'renew');
  await mapLimit(due, options.concurrency, async (r) => {
    const { record, report } = r;
    const { entry, item, meta: gatheredMeta } = record;
    const began = clock.now().getTime();
    if (options.interrupt?.aborted) {
      report.outcome = 'failed';
      report.error = { code: ErrorCode.interrupted, message: 'not attempted: the run was interrupted' };
      report.message = report.error.message;
      return;
    }
    logger.info(`${entry.name}: renewing (${item.reason}: ${item.message})`);
    try {
      const outcome = await renewOne(session, entry, {
        clock,
        logger,
        runIntervalMs: options.runIntervalMs,
        force: options.force,
        runStartedAt: startedAt,
        lockWaitMs: options.lockWaitMs,
        deadlineMs: options.deadlineMs,
        gatheredFingerprint: gatheredMeta?.fingerprint,
        ...(record.ari ? { ari: record.ari } : {}),
        ...(options.interrupt ? { interrupt: options.interrupt } : {}),
      });
      if (outcome.kind === 'renewed') {
        report.outcome = 'renewed';
        report.message = `renewed (${item.reason})`;
        report.via = outcome.meta.via ?? '';
        if (outcome.previous) report.previousNotAfter = outcome.previous.notAfter;
        else if (gatheredMeta) report.previousNotAfter = gatheredMeta.notAfter;
        const store = await session.store(entry.storeName);
        const info = hookInfo(entry, outcome.meta, store.type);
        const paths = store.paths(entry.name);
        if (paths) info.paths = paths;
        if (item.reason) info.reason = item.reason;
        r.hook = info;
        logger.info(
          `${entry.name}: renewed, valid until ${outcome.meta.notAfter} (${outcome.meta.via ?? 'issued'})`,
        );
      } else {
        report.outcome = outcome.kind;
        report.message = outcome.message;
        logger.info(`${entry.name}: ${outcome.message}`);
      }
      const meta = outcome.meta;
      if (meta) {
        report.notAfter = meta.notAfter;
        report.serial = meta.serial;
        report.fingerprint = meta.fingerprint;
      }
    } catch (error) {
      const wrapped = toCertRenewError(error, ErrorCode.internal);
      report.outcome = 'failed';
      report.error = { code: wrapped.code, message: wrapped.oneLine };
      report.message = `renewal failed: ${wrapped.oneLine}`;
      logger.error(namedLine(entry.name, wrapped.oneLine));
    } finally {
      report.durationMs = clock.now().getTime() - began;
    }
  });
}

/**
 * Phase: a certificate that is fine but whose post-renew hooks have not succeeded (an earlier run stored it,
 * then a hook failed or the run was interrupted) gets its hooks run again; failed attempts recorded on a
 * certificate that is fine and not due otherwise (a failed --force, say) are history and are cleared.
 */
async function retryPendingHooks(running: Running[], deps: RunDeps): Promise<void> {
  for (const r of running) {
    const { entry, item, meta } = r.record;
    if (item.action !== 'keep' || !item.failures) continue;
    const store = await deps.session.store(entry.storeName);
    if (!item.hooksPending || !meta) {
      await store.recordAttempt(entry.name, undefined).catch(() => {});
      continue;
    }
    const info = hookInfo(entry, meta, store.type);
    const paths = store.paths(entry.name);
    if (paths) info.paths = paths;
    r.hook = info;
    r.report.message = 'post-renew hooks ran again (they had not succeeded)';
    deps.logger.info(`${entry.name}: running its post-renew hooks again (they had not succeeded)`);
  }
}

/** Phase: the post-renew hooks (grouped, manifest order), then each report line follows what is stored now. */
async function postRenewHooks(running: Running[], options: HookRunnerOptions): Promise<PostRenewResult> {
  // Manifest order, not completion order: hooks and their CERT_RENEW_NAMES must not depend on timing.
  const renewed = running
    .filter((r) => r.hook !== undefined)
    .sort((a, b) => a.record.entry.index - b.record.entry.index)
    .map((r) => ({ entry: r.record.entry, info: r.hook as HookCertificateInfo }));
  const post = await runPostRenewHooks(renewed, options);
  for (const { report } of running) {
    const failure = post.failed.get(report.name);
    report.hooks = post.reports.filter((h) => h.certificates.includes(report.name)).map((h) => h.name);
    if (failure === undefined) continue;
    report.error = { code: ErrorCode.hookFailed, message: failure };
    if (post.rolledBack.has(report.name)) {
      report.outcome = 'rolled-back';
      report.message = `renewed, but a hook failed and the previous certificate was restored: ${failure}`;
      const restored = post.rolledBack.get(report.name);
      delete report.notAfter;
      delete report.serial;
      delete report.fingerprint;
      if (restored) {
        report.notAfter = restored.notAfter;
        report.serial = restored.serial;
        report.fingerprint = restored.fingerprint;
      }
    } else {
      report.outcome = 'failed';
      report.message = `stored, but a post-renew hook failed: ${failure}`;
    }
  }
  return post;
}

/**
 * Phase: what the hooks did is kept in the store, so a failed reload is not forgotten: a failed hook records a
 * failure with `hooksPending` (the next run runs the hooks again, `status` warns, frequent runs back off a
 * rolled-back renewal); success clears an earlier record.
 */
async function recordHookResults(running: Running[], post: PostRenewResult, deps: RunDeps): Promise<void> {
  await Promise.all(
    running
      .filter((r) => r.hook !== undefined)
      .map(async ({ record: { entry, item } }) => {
        const failure = post.failed.get(entry.name);
        const previous = item.failures?.count ?? 0;
        let attempt: AttemptInfo | undefined;
        if (failure !== undefined) {
          attempt = {
            lastAttempt: deps.clock.now().toISOString(),
            failureCount: previous + 1,
            lastErrorCode: ErrorCode.hookFailed,
            lastError: failure,
            ...(post.rolledBack.has(entry.name) ? {} : { hooksPending: true }),
          };
        } else if (previous === 0 && !item.hooksPending) {
          return;
        }
        try {
          await (await deps.session.store(entry.storeName)).recordAttempt(entry.name, attempt);
        } catch (error) {
          deps.logger.warn(
            namedLine(entry.name, `could not record the hook result: ${describeError(error)}`),
          );
        }
      }),
  );
}

/**
 * Phase: onFailure hooks (grouped) for every certificate that failed in this run. A certificate backing off
 * failed in an earlier run, which already alerted; this run only waits.
 */
async function failureHooks(
  running: Running[],
  options: HookRunnerOptions,
  logger: Logger,
): Promise<HookRunReport[]> {
  const failures: { entry: ResolvedCertificate; failure: FailureInfo }[] = [];
  for (const { record, report } of running) {
    if (!FAILING_OUTCOMES.has(report.outcome) || !report.error || report.outcome === 'backoff') continue;
    failures.push({
      entry: record.entry,
      failure: { name: report.name, code: report.error.code, message: report.error.message },
    });
  }
  let reports: HookRunReport[] = [];
  try {
    reports = await runFailureHooks(failures, options);
  } catch (error) {
    logger.error(`onFailure hooks: ${describeError(error)}`);
  }
  const byName = new Map(running.map((r) => [r.report.name, r.report]));
  for (const h of reports) {
    for (const name of h.certificates) byName.get(name)?.hooks.push(h.name);
  }
  return reports;
}

function finish(
  running: Running[],
  hooks: HookRunReport[],
  checks: RunReport['checks'],
  options: RunOptions,
  startedAt: Date,
  clock: Clock,
): RunReport {
  const certificates = running.map((r) => r.report);
  const finishedAt = clock.now();
  const failed =
    certificates.some((c) => FAILING_OUTCOMES.has(c.outcome)) ||
    hooks.some((h) => !h.ok) ||
    (checks ?? []).some((c) => !c.ok);
  const report: RunReport = {
    version: REPORT_VERSION,
    command: 'run',
    dryRun: options.dryRun,
    forced: options.force,
    startedAt: startedAt.toISOString(),
    finishedAt: finishedAt.toISOString(),
    durationMs: finishedAt.getTime() - startedAt.getTime(),
    exitCode: failed ? ExitCode.failure : ExitCode.ok,
    summary: summarize(certificates),
    certificates,
    hooks,
  };
  if (checks) report.checks = checks;
  return report;
}
