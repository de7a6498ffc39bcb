/**
 * The hook phases of a run (see run.ts): hooks that must run again, the post-renew hooks and what follows
 * from them for each certificate, recording their result in the store, the onFailure hooks.
 */
import { describeError, ErrorCode } from '../errors.js';
import type { FailureInfo, HookCertificateInfo } from '../hooks/env.js';
import type { ResolvedCertificate } from '../manifest/types.js';
import { type CertificateReport, FAILING_OUTCOMES, type HookRunReport } from '../report/model.js';
import type { Logger } from '../runtime/logger.js';
import type { AttemptInfo } from '../stores/types.js';
import {
  type HookRunnerOptions,
  type PostRenewResult,
  rollbackHookFailure,
  runFailureHooks,
  runPostRenewHooks,
} from './hooks.js';
import { hookInfo, namedLine, type RunDeps, type Running } from './running.js';

/**
 * Phase: a certificate that is fine but whose post-renew hooks have not succeeded (an earlier run stored it,
 * then a hook failed or the run was interrupted) gets its hooks run again; failed attempts recorded on a
 * certificate that is fine and not due otherwise (a failed --force, say) are history and are cleared.
 */
export async function retryPendingHooks(running: Running[], deps: RunDeps): Promise<void> {
  for (const r of running) {
    const { entry, item, meta } = r.record;
    if (item.action !== 'keep' || (!item.failures && !item.hooksPending)) continue;
    // With deployment state, each host's own entry says whether it must run its hooks (deployBehind); a
    // pending record another host left is cleared by that host once its hooks succeed.
    if (r.record.deployments && item.hooksPending) continue;
    const store = await deps.session.store(entry.storeName);
    if (!item.hooksPending || !meta) {
      await store.recordAttempt(entry.name, undefined).catch(() => {});
      continue;
    }
    const info = hookInfo(entry, meta, store);
    r.hook = info;
    r.report.message = HOOKS_AGAIN;
    deps.logger.info(`${entry.name}: ${HOOKS_AGAIN_LOG}`);
  }
}

/**
 * A certificate's line while its post-renew hooks run again (an earlier run stored it, then a hook failed or
 * the run was interrupted); `postRenewHooks` turns it into HOOKS_AGAIN_DONE once they succeeded. Said before
 * the hooks run, so it never claims they ran.
 */
export const HOOKS_AGAIN = 'post-renew hooks run again (an earlier run did not finish them)';
/** The log line when they start. */
export const HOOKS_AGAIN_LOG = 'running its post-renew hooks again (an earlier run did not finish them)';
const HOOKS_AGAIN_DONE = 'post-renew hooks ran again and succeeded (an earlier run did not finish them)';

/** Phase: the post-renew hooks (grouped, manifest order), then each report line follows what is stored now. */
export async function postRenewHooks(
  running: Running[],
  options: HookRunnerOptions,
): Promise<PostRenewResult> {
  // Manifest order, not completion order: hooks and their CERT_RENEW_NAMES must not depend on timing.
  const renewed = running
    .filter((r) => r.hook !== undefined)
    .sort((a, b) => a.record.entry.index - b.record.entry.index)
    .map((r) => ({ entry: r.record.entry, info: r.hook as HookCertificateInfo, renewedHere: !r.deploying }));
  const post = await runPostRenewHooks(renewed, options);
  for (const { report } of running) {
    const failure = post.failed.get(report.name);
    report.hooks = post.reports.filter((h) => h.certificates.includes(report.name)).map((h) => h.name);
    if (post.pending.has(report.name)) markHooksPending(report, 'its post-renew hooks');
    else if (failure === undefined && report.message.endsWith(HOOKS_AGAIN)) {
      report.message = `${report.message.slice(0, -HOOKS_AGAIN.length)}${HOOKS_AGAIN_DONE}`;
    }
    if (failure === undefined) continue;
    report.error = { code: post.codes.get(report.name) ?? ErrorCode.hookFailed, message: failure };
    if (post.rolledBack.has(report.name)) {
      report.outcome = 'rolled-back';
      report.message = `renewed, but a hook failed and the previous certificate was restored: ${failure}${afterRollback(post, report.name)}`;
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
 * The end of a rolled-back certificate's line when its rollback hooks failed too (docs/hooks.md
 * "rollbackOnHookFailure"): this host is recorded failed and its next run runs the hooks again. Else ''.
 */
export function afterRollback(post: PostRenewResult, name: string): string {
  const failure = rollbackHookFailure(post, name);
  return failure === undefined
    ? ''
    : `; the rollback's hooks failed too: ${failure} (not deployed here: the next run runs the hooks again)`;
}

/**
 * A certificate whose post-renew hooks (or `verify`) the interruption stopped: its outcome stays (renewed,
 * ok…: what is stored is stored), its line says the hooks are pending, and no failure is recorded.
 */
export function markHooksPending(report: CertificateReport, what: string): void {
  report.hooksPending = true;
  report.message = `${report.message}; ${what} did not finish: the run was interrupted (pending: the next run runs them)`;
}

/**
 * Phase: what the hooks did is kept in the store, so a failed reload is not forgotten: a failed hook records a
 * failure with `hooksPending` (the next run runs the hooks again, `status` warns, frequent runs back off a
 * rolled-back renewal); success clears an earlier record.
 */
export async function recordHookResults(
  running: Running[],
  post: PostRenewResult,
  deps: RunDeps,
): Promise<void> {
  await Promise.all(
    running
      .filter((r) => r.hook !== undefined)
      .map(async ({ record: { entry, item }, report }) => {
        const failure = post.failed.get(entry.name);
        const previous = item.failures?.count ?? 0;
        let attempt: AttemptInfo | undefined;
        if (failure === undefined && post.pending.has(entry.name)) {
          // Interrupted: no failure. A record that already says the hooks are pending stays as it is (with
          // the failure an earlier run recorded, if any; a renewal here cleared it); otherwise the hooks are
          // recorded pending, alone.
          if (item.hooksPending && report.outcome !== 'renewed') return;
          attempt = { lastAttempt: deps.clock.now().toISOString(), failureCount: 0, hooksPending: true };
        } else if (failure !== undefined) {
          attempt = {
            lastAttempt: deps.clock.now().toISOString(),
            failureCount: previous + 1,
            lastErrorCode: post.codes.get(entry.name) ?? ErrorCode.hookFailed,
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
          if (attempt) report.attemptNotRecorded = describeError(error);
        }
      }),
  );
}

/**
 * Phase: onFailure hooks (grouped) for every certificate that failed in this run. A certificate backing off
 * failed in an earlier run, which already alerted; this run only waits.
 */
export async function failureHooks(
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
