/**
 * Act: executes a plan. Every due certificate goes through its own pipeline with bounded concurrency; one
 * failure never stops the others. Then the hooks, then the report. Dry runs stop before anything changes.
 */
import { describeError, ErrorCode, ExitCode, toCertRenewError } from '../errors.js';
import type { FailureInfo, HookCertificateInfo } from '../hooks/env.js';
import type { Env } from '../manifest/secrets.js';
import type { ResolvedCertificate } from '../manifest/types.js';
import type { Plan, PlanItem } from '../plan/build-plan.js';
import type { Seen } from '../plan/gather.js';
import {
  type CertificateReport,
  FAILING_OUTCOMES,
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
import { type PostRenewResult, type RenewedForHooks, runFailureHooks, runPostRenewHooks } from './hooks.js';
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
  concurrency: number;
  runIntervalMs: number;
  lockWaitMs: number;
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

function baseReport(item: PlanItem, seen: Seen): CertificateReport {
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
  const meta = seen.meta;
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

export async function executeRun(
  plan: Plan,
  seen: Seen[],
  options: RunOptions,
  deps: RunDeps,
): Promise<RunReport> {
  const { session, clock, logger } = deps;
  const startedAt = clock.now();
  const reports = plan.items.map((item, i) => baseReport(item, seen[i] as Seen));
  const entries = seen.map((g) => g.entry);

  for (const [i, item] of plan.items.entries()) {
    const report = reports[i] as CertificateReport;
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

  if (options.dryRun) {
    const checks = await dryRunChecks(plan, entries, { session, env: deps.env, logger });
    for (const [i, item] of plan.items.entries()) {
      const report = reports[i] as CertificateReport;
      if (item.action !== 'renew') continue;
      const entry = entries[i] as ResolvedCertificate;
      const blocking = checks.failuresFor(entry);
      if (blocking.length > 0) {
        report.outcome = 'failed';
        report.error = {
          code: blocking[0]?.code ?? ErrorCode.issuerUnavailable,
          message: blocking.map((b) => b.message).join('; '),
        };
      } else {
        report.outcome = 'would-renew';
        report.message = `would renew (${item.reason}): ${item.message}`;
      }
    }
    return finish(reports, [], checks.reports, options, startedAt, clock, true);
  }

  const renewed: RenewedForHooks[] = [];
  const due = plan.items.map((item, i) => ({ item, i })).filter(({ item }) => item.action === 'renew');
  await mapLimit(due, options.concurrency, async ({ item, i }) => {
    const report = reports[i] as CertificateReport;
    const g = seen[i] as Seen;
    const entry = g.entry;
    const began = clock.now().getTime();
    if (options.interrupt?.aborted) {
      report.outcome = 'failed';
      report.error = { code: ErrorCode.interrupted, message: 'not attempted: the run was interrupted' };
      report.message = report.error.message;
      return;
    }
    const gatheredMeta = g.meta;
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
        ...(g.ari ? { ari: g.ari } : {}),
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
        renewed.push({ entry, info });
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

  for (const [i, item] of plan.items.entries()) {
    const g = seen[i] as Seen;
    if (item.action !== 'keep' || !item.failures) continue;
    if (!item.hooksPending || !g.meta) {
      // Failed attempts on a certificate that is fine and not due (a failed --force, say) are history.
      await (await session.store(g.entry.storeName)).recordAttempt(g.entry.name, undefined).catch(() => {});
      continue;
    }
    // Stored by an earlier run, but its post-renew hooks did not succeed: run them again now.
    const store = await session.store(g.entry.storeName);
    const info = hookInfo(g.entry, g.meta, store.type);
    const paths = store.paths(g.entry.name);
    if (paths) info.paths = paths;
    renewed.push({ entry: g.entry, info });
    (reports[i] as CertificateReport).message = 'post-renew hooks ran again (they had not succeeded)';
    logger.info(`${g.entry.name}: running its post-renew hooks again (they had not succeeded)`);
  }

  const hookOptions = {
    session,
    env: deps.env,
    logger,
    ...(options.interrupt ? { signal: options.interrupt } : {}),
  };
  // Manifest order, not completion order: hooks and their CERT_RENEW_NAMES must not depend on timing.
  const post = await runPostRenewHooks(
    renewed.sort((a, b) => a.entry.index - b.entry.index),
    hookOptions,
  );
  for (const report of reports) {
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
  await recordHookResults(plan, seen, renewed, post, clock, logger, session);

  const failures: { entry: ResolvedCertificate; failure: FailureInfo }[] = [];
  for (const [i, report] of reports.entries()) {
    // A certificate backing off failed in an earlier run, which already alerted; this run only waits.
    if (!FAILING_OUTCOMES.has(report.outcome) || !report.error || report.outcome === 'backoff') continue;
    failures.push({
      entry: entries[i] as ResolvedCertificate,
      failure: { name: report.name, code: report.error.code, message: report.error.message },
    });
  }
  let failureHooks: Awaited<ReturnType<typeof runFailureHooks>> = [];
  try {
    failureHooks = await runFailureHooks(failures, hookOptions);
  } catch (error) {
    logger.error(`onFailure hooks: ${describeError(error)}`);
  }
  for (const h of failureHooks) {
    for (const name of h.certificates) reports.find((r) => r.name === name)?.hooks.push(h.name);
  }
  return finish(reports, [...post.reports, ...failureHooks], undefined, options, startedAt, clock, false);
}

/**
 * What the hooks did is kept in the store, so a failed reload is not forgotten: a failed hook records a
 * failure with `hooksPending` (the next run runs the hooks again, `status` warns, frequent runs back off a
 * rolled-back renewal); success clears an earlier record.
 */
async function recordHookResults(
  plan: Plan,
  seen: Seen[],
  ran: RenewedForHooks[],
  post: PostRenewResult,
  clock: Clock,
  logger: Logger,
  session: Session,
): Promise<void> {
  await Promise.all(
    ran.map(async ({ entry }) => {
      const item = plan.items[seen.findIndex((g) => g.entry === entry)];
      const failure = post.failed.get(entry.name);
      const previous = item?.failures?.count ?? 0;
      let attempt: AttemptInfo | undefined;
      if (failure !== undefined) {
        attempt = {
          lastAttempt: clock.now().toISOString(),
          failureCount: previous + 1,
          lastErrorCode: ErrorCode.hookFailed,
          lastError: failure,
          ...(post.rolledBack.has(entry.name) ? {} : { hooksPending: true }),
        };
      } else if (previous === 0 && !item?.hooksPending) {
        return;
      }
      try {
        await (await session.store(entry.storeName)).recordAttempt(entry.name, attempt);
      } catch (error) {
        logger.warn(namedLine(entry.name, `could not record the hook result: ${describeError(error)}`));
      }
    }),
  );
}

function finish(
  certificates: CertificateReport[],
  hooks: RunReport['hooks'],
  checks: RunReport['checks'],
  options: RunOptions,
  startedAt: Date,
  clock: Clock,
  dryRun: boolean,
): RunReport {
  const finishedAt = clock.now();
  const failed =
    certificates.some((c) => FAILING_OUTCOMES.has(c.outcome)) ||
    hooks.some((h) => !h.ok) ||
    (checks ?? []).some((c) => !c.ok);
  const report: RunReport = {
    version: REPORT_VERSION,
    command: 'run',
    dryRun,
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
