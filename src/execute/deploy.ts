/**
 * Deployment state in a run (docs/hooks.md "Deployment state"): which certificates this host must deploy,
 * recording them pending before the hooks run, `verify` (is the stored certificate served?) after the
 * hooks, and recording what this host now serves. Only for stores with deployment state (DeploymentStore).
 */
import { describeError, ErrorCode } from '../errors.js';
import { type HostDeployment, isDeploymentStore } from '../stores/types.js';
import { mapLimit } from '../util/pool.js';
import { markHooksPending } from './hook-phases.js';
import {
  type HookRunnerOptions,
  type PostRenewResult,
  type RenewedForHooks,
  rollBack,
  runRollbackHooks,
} from './hooks.js';
import { hookInfo, namedLine, type RunDeps, type Running } from './running.js';
import { probeServed } from './served.js';

/** Deployment entries written at once. */
const WRITE_CONCURRENCY = 16;

/** Outcomes whose stored certificate this host still deploys when it is behind. */
const DEPLOYABLE = new Set(['ok', 'fresh', 'renewed-elsewhere', 'backoff']);

/**
 * Phase: every certificate whose stored version differs from what this host last deployed gets its
 * post-renew hooks in this run, whoever stored it (another host, an earlier run, a rollback).
 */
export async function deployBehind(running: Running[], hostId: string, deps: RunDeps): Promise<void> {
  for (const r of running) {
    const { record, report } = r;
    if (r.hook || !r.current || !record.deployments || !DEPLOYABLE.has(report.outcome)) continue;
    const mine = record.deployments[hostId];
    if (mine?.fingerprint === r.current.fingerprint) continue;
    const store = await deps.session.store(record.entry.storeName);
    r.hook = hookInfo(record.entry, r.current, store);
    r.deploying = true;
    const had = mine?.serial ? `serial ${mine.serial}` : 'none recorded';
    const line =
      mine?.pending?.fingerprint === r.current.fingerprint
        ? 'post-renew hooks ran again (they had not succeeded)'
        : `deploying serial ${r.current.serial} on ${hostId} (deployed here: ${had})`;
    report.message = report.outcome === 'ok' ? line : `${report.message}; ${line}`;
    deps.logger.info(`${record.entry.name}: ${line}`);
  }
}

async function writeEntries(
  entries: { r: Running; entry: HostDeployment }[],
  hostId: string,
  deps: RunDeps,
): Promise<void> {
  await mapLimit(entries, WRITE_CONCURRENCY, async ({ r, entry }) => {
    const { name, storeName } = r.record.entry;
    try {
      const store = await deps.session.store(storeName);
      if (isDeploymentStore(store)) await store.recordDeployment(name, hostId, entry);
    } catch (error) {
      deps.logger.warn(namedLine(name, `could not record the deployment: ${describeError(error)}`));
    }
  });
}

/** What this host deployed before (kept while the new version is pending). */
function previous(r: Running, hostId: string): HostDeployment {
  const mine = r.record.deployments?.[hostId];
  const out: HostDeployment = {};
  if (mine?.fingerprint) out.fingerprint = mine.fingerprint;
  if (mine?.serial) out.serial = mine.serial;
  if (mine?.deployedAt) out.deployedAt = mine.deployedAt;
  if (mine?.notAfter) out.notAfter = mine.notAfter;
  return out;
}

/**
 * Phase, before any post-renew hook runs: each certificate about to be deployed is recorded pending for
 * this host, so a crash, a kill or a hook that cannot even start leaves it pending for the next run.
 */
export async function markPending(running: Running[], hostId: string, deps: RunDeps): Promise<void> {
  const since = deps.clock.now().toISOString();
  const entries = running
    .filter((r) => r.hook?.fingerprint !== undefined && r.record.deployments !== undefined)
    .map((r) => ({
      r,
      entry: { ...previous(r, hostId), pending: { fingerprint: r.hook?.fingerprint as string, since } },
    }));
  await writeEntries(entries, hostId, deps);
}

/**
 * Phase, after the post-renew hooks: for each certificate with `verify` whose hooks succeeded, the
 * endpoints must serve the stored leaf. A mismatch (SERVED_MISMATCH) or an endpoint that cannot be reached
 * (SERVED_UNREACHABLE) fails the certificate like a failed hook: its report line, `post.failed`, and with
 * `rollbackOnHookFailure` the previous version restored and the hooks run again (`rollback`).
 */
export async function verifyServed(
  running: Running[],
  post: PostRenewResult,
  options: HookRunnerOptions,
): Promise<void> {
  const candidates = running.filter(
    (r) =>
      r.hook?.fingerprint !== undefined &&
      r.record.entry.verify &&
      !post.failed.has(r.record.entry.name) &&
      !post.pending.has(r.record.entry.name),
  );
  if (options.signal?.aborted) {
    // Interrupted: nothing is probed (it would only fail); the check is pending with the hooks.
    for (const r of candidates) {
      post.pending.add(r.record.entry.name);
      markHooksPending(r.report, '`verify`');
    }
    return;
  }
  const failedNow: RenewedForHooks[] = [];
  await Promise.all(
    candidates.map(async (r) => {
      const { entry } = r.record;
      const settings = entry.verify;
      if (!settings || !r.hook?.fingerprint) return;
      const checks = await probeServed(settings, entry.domains, r.hook.fingerprint, {
        ...(options.signal ? { signal: options.signal } : {}),
      });
      r.served = checks;
      r.report.served = checks.map((c) => ({
        endpoint: c.endpoint,
        ok: c.ok,
        ...(c.serial !== undefined ? { serial: c.serial } : {}),
        ...(c.fingerprint !== undefined ? { fingerprint: c.fingerprint } : {}),
        ...(c.error !== undefined ? { error: c.error } : {}),
      }));
      const bad = checks.filter((c) => !c.ok);
      if (bad.length === 0) {
        options.logger.info(`${entry.name}: served by ${checks.map((c) => c.endpoint).join(', ')}`);
        return;
      }
      const code = bad.every((c) => c.unreachable) ? ErrorCode.servedUnreachable : ErrorCode.servedMismatch;
      const message = `verify: ${bad.map((c) => c.error).join('; ')}`;
      post.failed.set(entry.name, message);
      post.codes.set(entry.name, code);
      r.report.outcome = 'failed';
      r.report.error = { code, message };
      r.report.message = `stored, but not served: ${message}`;
      options.logger.error(namedLine(entry.name, message));
      if (entry.hooks.rollbackOnHookFailure && !r.deploying && !options.signal?.aborted)
        failedNow.push({ entry, info: r.hook });
    }),
  );
  if (failedNow.length === 0) return;
  failedNow.sort((a, b) => a.entry.index - b.entry.index);
  const restored = await rollBack(failedNow, post.rolledBack, options);
  const reports = await runRollbackHooks(restored, options);
  post.reports.push(...reports);
  for (const r of running) {
    const name = r.record.entry.name;
    if (!post.rolledBack.has(name) || !failedNow.some((f) => f.entry.name === name)) continue;
    const now = post.rolledBack.get(name);
    r.report.outcome = 'rolled-back';
    r.report.message = `renewed, but not served; the previous certificate was restored: ${post.failed.get(name)}`;
    delete r.report.notAfter;
    delete r.report.serial;
    delete r.report.fingerprint;
    if (now) {
      r.report.notAfter = now.notAfter;
      r.report.serial = now.serial;
      r.report.fingerprint = now.fingerprint;
    }
    r.report.hooks.push(...reports.filter((h) => h.certificates.includes(name)).map((h) => h.name));
  }
}

/**
 * Phase, after the hooks and `verify`: this host's entry says what it serves now. Success: deployed. A
 * rollback whose hooks succeeded: the restored version is deployed. Otherwise the entry stays pending with
 * the error, and the next run on this host tries again. An interrupted run leaves them pending.
 */
export async function recordDeployments(
  running: Running[],
  post: PostRenewResult,
  hostId: string,
  deps: RunDeps,
  interrupted: boolean,
): Promise<void> {
  if (interrupted) return;
  const at = deps.clock.now().toISOString();
  const entries: { r: Running; entry: HostDeployment }[] = [];
  for (const r of running) {
    const fingerprint = r.hook?.fingerprint;
    if (fingerprint === undefined || r.record.deployments === undefined) continue;
    const name = r.record.entry.name;
    const failure = post.failed.get(name);
    if (failure === undefined) {
      entries.push({
        r,
        entry: {
          fingerprint,
          ...(r.hook?.serial ? { serial: r.hook.serial } : {}),
          deployedAt: at,
          ...(r.hook?.notAfter ? { notAfter: r.hook.notAfter.toISOString() } : {}),
        },
      });
      continue;
    }
    const restored = post.rolledBack.get(name);
    const rollbackOk = post.reports
      .filter((h) => h.event === 'rollback' && h.certificates.includes(name))
      .every((h) => h.ok);
    if (post.rolledBack.has(name) && restored && rollbackOk) {
      entries.push({
        r,
        entry: {
          fingerprint: restored.fingerprint,
          serial: restored.serial,
          deployedAt: at,
          notAfter: new Date(restored.notAfter).toISOString(),
        },
      });
      continue;
    }
    const code = post.codes.get(name) ?? ErrorCode.hookFailed;
    const pendingFingerprint = restored?.fingerprint ?? fingerprint;
    const earlier = r.record.deployments[hostId]?.pending;
    const since = earlier?.fingerprint === pendingFingerprint ? earlier.since : at;
    entries.push({
      r,
      entry: {
        ...previous(r, hostId),
        pending: { fingerprint: pendingFingerprint, since, code, error: failure },
      },
    });
  }
  await writeEntries(entries, hostId, deps);
}
