/**
 * Act: executes a plan. The run goes through named phases, each over the planned records:
 *
 *   settleUndue      error and backoff items get their outcome without being touched
 *   (dry run)        checkDryRun: prove every store, issuer and hook, change nothing, stop
 *   renewDue         every due certificate through its own pipeline (execute/renew.ts), bounded concurrency;
 *                    one failure never stops the others
 *   retryPendingHooks  certificates stored earlier whose post-renew hooks had not succeeded join the hooks
 *   deployBehind     certificates whose stored version this host has not deployed join the hooks (deploy.ts)
 *   refreshHooked    what the store holds now is what the hooks deploy (another command may have replaced it)
 *   markPending      this host's deployment entries are written pending before any hook starts
 *   postRenewHooks   grouped post-renew hooks, rollback on failure; the outcomes follow what is stored now
 *   verifyServed     `verify`: the endpoints must serve the stored leaf (a mismatch fails, may roll back)
 *   recordHookResults  what the hooks did is kept in the store (hooksPending, failure counts)
 *   recordDeployments  this host's entries say what it deployed (or pending with the error)
 *   failureHooks     grouped onFailure hooks for every certificate that failed in this run
 *
 * and then the report.
 */
import { tmpdir } from 'node:os';
import { describeError, ErrorCode, ExitCode, toCertRenewError } from '../errors.js';
import type { PlannedRun } from '../plan/model.js';
import {
  FAILING_OUTCOMES,
  type HookRunReport,
  REPORT_VERSION,
  type RunReport,
  summarize,
} from '../report/model.js';
import type { Clock } from '../runtime/clock.js';
import type { Logger } from '../runtime/logger.js';
import { mapLimit } from '../util/pool.js';
import { joinClauses } from '../util/text.js';
import { deployBehind, markPending, recordDeployments, refreshHooked, verifyServed } from './deploy.js';
import { dryRunChecks } from './dry-run.js';
import { failureHooks, postRenewHooks, recordHookResults, retryPendingHooks } from './hook-phases.js';
import type { HookRunnerOptions } from './hooks.js';
import { AttemptNotRecorded, renewOne } from './renew.js';
import { baseReport, hookInfo, namedLine, type RunDeps, type Running } from './running.js';

export { namedLine, type RunDeps } from './running.js';

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
  /** This host's id in the stores' deployment state (docs/hooks.md "Deployment state"). */
  hostId: string;
  /**
   * When the command started, before the manifest was read and the stores gathered (default: now). The
   * report's `startedAt` and `durationMs` count from it, so the whole run is measured.
   */
  startedAt?: Date;
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
  const startedAt = options.startedAt ?? deps.clock.now();
  const running = run.records.map(
    (record): Running => ({
      record,
      report: baseReport(record),
      ...(record.meta ? { current: record.meta } : {}),
    }),
  );
  settleUndue(running, deps.logger, options.dryRun);
  if (options.dryRun) {
    const checks = await checkDryRun(running, deps);
    return interrupted(finish(running, [], checks, options, startedAt, deps.clock), options);
  }
  await renewDue(running, options, deps, startedAt);
  const hookOptions: HookRunnerOptions = {
    session: deps.session,
    env: deps.env,
    logger: deps.logger,
    // Asked for only when a hook runs: node:os is not loaded by a run that runs none.
    get tmpDir() {
      return deps.env.TMPDIR || tmpdir();
    },
    ...(options.interrupt ? { signal: options.interrupt } : {}),
  };
  const hooks: HookRunReport[] = [];
  let unexpected: string | undefined;
  try {
    await retryPendingHooks(running, deps);
    await deployBehind(running, options.hostId, deps);
    await refreshHooked(running, deps);
    await markPending(running, options.hostId, deps);
    const post = await postRenewHooks(running, hookOptions);
    await verifyServed(running, post, hookOptions);
    hooks.push(...post.reports);
    await recordHookResults(running, post, deps);
    await recordDeployments(running, post, options.hostId, deps, options.interrupt?.aborted ?? false);
    hooks.push(...(await failureHooks(running, hookOptions, deps.logger)));
  } catch (error) {
    // Whatever went wrong after the renewals, what was stored is reported and the run fails.
    unexpected = `internal error after the renewals: ${describeError(error)} (please report this)`;
    try {
      deps.logger.error(unexpected);
    } catch {
      // the report below still says it
    }
  }
  const report = finish(running, hooks, undefined, options, startedAt, deps.clock);
  if (unexpected !== undefined) {
    report.exitCode = ExitCode.failure;
    report.error = { code: ErrorCode.internal, message: unexpected };
  }
  return interrupted(report, options);
}

/**
 * An interrupted run (docs/operations.md "Interrupted runs") exits 1 and says so in `report.interrupted`:
 * by what, how many certificates are stored with their hooks pending, how many were not renewed.
 */
function interrupted(report: RunReport, options: RunOptions): RunReport {
  const signal = options.interrupt;
  if (!signal?.aborted) return report;
  const pending = report.certificates.filter((c) => c.hooksPending).length;
  const stopped = report.certificates.filter((c) => c.error?.code === ErrorCode.interrupted).length;
  // Failed on their own before or despite the signal (the CA's verdict, a hook that failed): recorded.
  const failed = report.certificates.filter(
    (c) => c.error !== undefined && c.error.code !== ErrorCode.interrupted && !c.hooksPending,
  ).length;
  const by = signal.reason instanceof Error ? signal.reason.message : 'interrupted';
  const alsoFailed = failed > 0 ? `, ${failed} failed (recorded)` : '';
  report.interrupted = `${by}: ${pending} certificate(s) stored with their post-renew hooks pending, ${stopped} not renewed${alsoFailed}; the next run continues`;
  report.exitCode = ExitCode.failure;
  return report;
}

/**
 * Phase: certificates whose store could not be read fail; those backing off say so. Nothing is touched.
 * A real run cannot record such a failure (its store is what failed): it is an unrecorded failure like one
 * whose recording failed — `attemptNotRecorded`, the "could not be recorded" clause on its error line, and
 * `cert_renew_last_run_unrecorded_failures` (docs/operations.md "Backoff between runs"). A dry run records
 * nothing anyway.
 */
function settleUndue(running: Running[], logger: Logger, dryRun: boolean): void {
  for (const { record, report } of running) {
    const { item } = record;
    if (item.action === 'error') {
      report.outcome = 'failed';
      if (item.error) report.error = item.error;
      let line = item.error?.message ?? item.message;
      if (!dryRun) {
        // The store answered but refuses this certificate's value (another host's encryption key, a key of
        // the wrong type): not "could not be read".
        const why = item.error?.code === ErrorCode.storeCorrupt ? STORE_VALUE_REFUSED : STORE_NOT_READ;
        report.attemptNotRecorded = why;
        line = joinClauses(line, notRecordedClause(item.store, why, true));
      }
      logger.error(namedLine(item.name, line));
    } else if (item.action === 'backoff') {
      report.outcome = 'backoff';
      report.error = { code: ErrorCode.backoff, message: item.message };
      logger.warn(namedLine(item.name, item.message));
    }
  }
}

/** `attemptNotRecorded` of a certificate whose store could not be read at all (its error says why). */
const STORE_NOT_READ = 'the store could not be read';
/** `attemptNotRecorded` of a certificate whose stored value the store refuses (STORE_CORRUPT: its error says why). */
const STORE_VALUE_REFUSED = 'its stored value is refused: nothing is written over it';

/**
 * What an error line adds when the failure is not in the store: `status` reads only what is stored. A
 * certificate whose store could not be read, or refuses its value (`storeError`), is shown by `status` with
 * that same error, but not this attempt (no back-off, no count).
 */
function notRecordedClause(storeName: string, why: string, storeError = false): string {
  const status = storeError ? "status shows the store's error, not this attempt" : 'status will not show it';
  return `the failed attempt could not be recorded in store '${storeName}' (${status}): ${why}`;
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
        message: joinClauses(...blocking.map((b) => b.message)),
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
        ...(record.revoked ? { revoked: record.revoked } : {}),
        ...(options.interrupt ? { interrupt: options.interrupt } : {}),
      });
      if (outcome.kind === 'renewed') {
        report.outcome = 'renewed';
        report.message = `renewed (${item.reason})`;
        report.via = outcome.meta.via ?? '';
        if (outcome.previous) report.previousNotAfter = outcome.previous.notAfter;
        else if (gatheredMeta) report.previousNotAfter = gatheredMeta.notAfter;
        const store = await session.store(entry.storeName);
        const info = hookInfo(entry, outcome.meta, store);
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
      if (meta) r.current = meta;
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
      let line = wrapped.oneLine;
      if (error instanceof AttemptNotRecorded) {
        report.attemptNotRecorded = error.notRecorded;
        line = joinClauses(line, notRecordedClause(entry.storeName, error.notRecorded));
      }
      logger.error(namedLine(entry.name, line));
    } finally {
      report.durationMs = clock.now().getTime() - began;
    }
  });
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
