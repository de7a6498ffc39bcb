/**
 * Deployment state in a run (docs/hooks.md "Deployment state"): which certificates this host must deploy,
 * recording them pending before the hooks run, `verify` (is the stored certificate served?) after the
 * hooks, and recording what this host now serves. Only for stores with deployment state (DeploymentStore).
 */
import { describeError, ErrorCode } from '../errors.js';
import { deployedHere } from '../policy/deployment.js';
import { type HostDeployment, isDeploymentStore, type StoredMeta } from '../stores/types.js';
import { mapLimit } from '../util/pool.js';
import { afterRollback, HOOKS_AGAIN, HOOKS_AGAIN_LOG, markHooksPending } from './hook-phases.js';
import {
  type HookRunnerOptions,
  type PostRenewResult,
  type RenewedForHooks,
  rollBack,
  rollbackHookFailure,
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
    if (mine && deployedHere(mine, r.current.fingerprint)) continue;
    const store = await deps.session.store(record.entry.storeName);
    r.hook = hookInfo(record.entry, r.current, store);
    r.deploying = true;
    const had = mine?.serial ? `serial ${mine.serial}` : 'none recorded';
    const again = mine?.pending?.fingerprint === r.current.fingerprint;
    const line = again
      ? HOOKS_AGAIN
      : `deploying serial ${r.current.serial} on ${hostId} (deployed here: ${had})`;
    report.message = report.outcome === 'ok' ? line : `${report.message}; ${line}`;
    deps.logger.info(`${record.entry.name}: ${again ? HOOKS_AGAIN_LOG : line}`);
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

/**
 * What this host deployed before (kept while the new version is pending). Nothing when its entry says the
 * hooks failed for the very version it records as deployed (a rollback whose hooks failed, an older
 * cert-renew's entry): what this host serves is not known.
 */
function previous(r: Running, hostId: string): HostDeployment {
  const mine = r.record.deployments?.[hostId];
  const out: HostDeployment = {};
  if (mine?.fingerprint && !deployedHere(mine, mine.fingerprint)) return out;
  if (mine?.fingerprint) out.fingerprint = mine.fingerprint;
  if (mine?.serial) out.serial = mine.serial;
  if (mine?.deployedAt) out.deployedAt = mine.deployedAt;
  if (mine?.notAfter) out.notAfter = mine.notAfter;
  return out;
}

/**
 * What the stores hold now for each of `running` (undefined: nothing usable, or the store could not be
 * read — then the caller keeps what it knew). One `loadMany` per store. Never throws.
 */
async function currentMetas(
  running: Running[],
  deps: RunDeps,
): Promise<Map<Running, StoredMeta | undefined>> {
  const result = new Map<Running, StoredMeta | undefined>();
  const byStore = new Map<string, Running[]>();
  for (const r of running) {
    const list = byStore.get(r.record.entry.storeName) ?? [];
    list.push(r);
    byStore.set(r.record.entry.storeName, list);
  }
  for (const [storeName, members] of byStore) {
    try {
      const store = await deps.session.store(storeName);
      const loaded = await store.loadMany(members.map((r) => r.record.entry.name));
      for (const r of members) {
        const one = loaded.get(r.record.entry.name);
        result.set(r, one?.state === 'present' ? one.cert.meta : undefined);
      }
    } catch (error) {
      deps.logger.debug(
        `store ${storeName}: could not read the current versions again: ${describeError(error)}`,
      );
    }
  }
  return result;
}

/**
 * Phase, right before the post-renew hooks: each certificate about to be deployed is read again, and when
 * another command stored a different version since this run stored or gathered it (a `revoke`, another
 * run, a rollback: their own lock is released once stored), the hooks are told about what the store holds
 * now — that is what a hook reading the store's files deploys, and what this host's deployment entry then
 * records. Such a version was not renewed by this run, so a failing hook never rolls it back.
 */
export async function refreshHooked(running: Running[], deps: RunDeps): Promise<void> {
  const hooked = running.filter((r) => r.hook?.fingerprint !== undefined);
  if (hooked.length === 0) return;
  const now = await currentMetas(hooked, deps);
  for (const r of hooked) {
    const meta = now.get(r);
    const was = r.hook;
    if (!meta || !was || meta.fingerprint === was.fingerprint) continue;
    const { entry } = r.record;
    const store = await deps.session.store(entry.storeName);
    const info = hookInfo(entry, meta, store);
    if (was.reason) info.reason = was.reason;
    r.hook = info;
    r.current = meta;
    r.deploying = true;
    const { report } = r;
    report.serial = meta.serial;
    report.notAfter = meta.notAfter;
    report.fingerprint = meta.fingerprint;
    const line = `the store now holds serial ${meta.serial} (stored by another cert-renew after serial ${was.serial ?? '?'}); the hooks deploy it`;
    report.message = `${report.message}; ${line}`;
    deps.logger.warn(namedLine(entry.name, line));
  }
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
    r.report.message = `renewed, but not served; the previous certificate was restored: ${post.failed.get(name)}${afterRollback(post, name)}`;
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
 * rollback whose hooks succeeded: the restored version is deployed. A rollback whose hooks failed: nothing
 * known deployed, the restored version pending with both errors (the host is failed). Otherwise the entry
 * keeps the earlier deployed version, pending with the error. Either way the next run on this host tries
 * again. An interrupted run leaves them pending.
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
    const rollbackFailure = rollbackHookFailure(post, name);
    if (post.rolledBack.has(name) && restored && rollbackFailure === undefined) {
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
    // A rollback whose hooks failed leaves this host with nothing known deployed (the new version's hooks
    // failed, then the restored one's): no deployed version, the restored one pending with both errors.
    const error =
      rollbackFailure === undefined ? failure : `${failure}; after the rollback: ${rollbackFailure}`;
    entries.push({
      r,
      entry: {
        ...(rollbackFailure === undefined ? previous(r, hostId) : {}),
        pending: { fingerprint: pendingFingerprint, since, code, error },
      },
    });
  }
  await writeEntries(await notOverNewer(entries, hostId, at, deps), hostId, deps);
}

/**
 * The entries to write after the hooks, checked against the store once more: a version stored while the
 * hooks ran (another command's) must not be hidden by this run's entry about an older one. When the store
 * now holds another version and this host's entry already says it is deployed (the other command's hooks
 * succeeded), the entry is left as it is; otherwise this run's entry is written with that version pending
 * (its own command records it deployed when its hooks succeed; else this host's next run deploys it).
 */
async function notOverNewer(
  entries: { r: Running; entry: HostDeployment }[],
  hostId: string,
  at: string,
  deps: RunDeps,
): Promise<{ r: Running; entry: HostDeployment }[]> {
  if (entries.length === 0) return entries;
  const now = await currentMetas(
    entries.map((e) => e.r),
    deps,
  );
  const moved = entries.filter(({ r, entry }) => {
    const current = now.get(r)?.fingerprint;
    return current !== undefined && current !== (entry.pending?.fingerprint ?? entry.fingerprint);
  });
  if (moved.length === 0) return entries;
  const recorded = new Map<Running, HostDeployment | undefined>();
  for (const { r } of moved) {
    try {
      const store = await deps.session.store(r.record.entry.storeName);
      if (!isDeploymentStore(store)) continue;
      const hosts = await store.loadDeployments([r.record.entry.name]);
      recorded.set(r, hosts.get(r.record.entry.name)?.[hostId]);
    } catch (error) {
      deps.logger.debug(
        namedLine(r.record.entry.name, `could not read the deployment again: ${describeError(error)}`),
      );
    }
  }
  const out: { r: Running; entry: HostDeployment }[] = [];
  for (const item of entries) {
    const { r, entry } = item;
    if (!moved.includes(item)) {
      out.push(item);
      continue;
    }
    const current = now.get(r) as StoredMeta;
    const mine = recorded.get(r);
    const name = r.record.entry.name;
    if (mine?.fingerprint === current.fingerprint && mine.pending === undefined) {
      deps.logger.info(
        namedLine(
          name,
          `serial ${current.serial} was stored and deployed here while the hooks ran; its record is kept`,
        ),
      );
      continue;
    }
    if (entry.pending) {
      out.push(item); // this run's failure stands; the next run on this host deploys what is stored
      continue;
    }
    deps.logger.warn(
      namedLine(
        name,
        `serial ${current.serial} was stored while the hooks ran; it is recorded pending on ${hostId}`,
      ),
    );
    const since = mine?.pending?.fingerprint === current.fingerprint ? mine.pending.since : at;
    out.push({ r, entry: { ...entry, pending: { fingerprint: current.fingerprint, since } } });
  }
  return out;
}
