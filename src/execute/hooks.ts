/**
 * Hook scheduling for one run: identical hooks (same command, shell, cwd, env, timeout) run once for all
 * the certificates that share them, after every renewal is stored; failures can roll back; onFailure hooks
 * are grouped the same way, so a hook in `defaults` runs once per run with every failure in its env.
 */
import { describeError, ErrorCode } from '../errors.js';
import {
  certificateHookEnv,
  type FailureInfo,
  failureHookEnv,
  type HookCertificateInfo,
} from '../hooks/env.js';
import { dropLongLists, writeHookLists } from '../hooks/lists.js';
import { hookCommand, hookDisplayName, hookIdentity, runHook } from '../hooks/run.js';
import type { Env } from '../manifest/secrets.js';
import type { HookSpec, ResolvedCertificate } from '../manifest/types.js';
import { restorable } from '../policy/decide.js';
import type { HookRunReport } from '../report/model.js';
import type { Logger } from '../runtime/logger.js';
import type { Session } from '../runtime/session.js';
import { hasRevocationLog, type StoredMeta } from '../stores/types.js';

const ROLLBACK_LOCK_WAIT_MS = 60_000;

export interface Group<T> {
  spec: HookSpec;
  members: T[];
}

/**
 * Groups items by hook: every distinct hook (by `hookIdentity`: command, shell, cwd, env, timeout) once, in
 * the order first met, with the items that name it in their order, each item once per group.
 */
export function groupHooks<T>(items: T[], specsOf: (item: T) => HookSpec[]): Group<T>[] {
  const groups = new Map<string, Group<T>>();
  for (const item of items) {
    for (const spec of specsOf(item)) {
      const id = hookIdentity(spec);
      const group = groups.get(id) ?? { spec, members: [] };
      if (!group.members.includes(item)) group.members.push(item);
      groups.set(id, group);
    }
  }
  return [...groups.values()];
}

export interface HookRunnerOptions {
  session: Session;
  env: Env;
  logger: Logger;
  /** Where each hook run's list files go (a private directory, removed after the hook). */
  tmpDir: string;
  signal?: AbortSignal;
}

export interface RenewedForHooks {
  entry: ResolvedCertificate;
  info: HookCertificateInfo;
  /**
   * False when this host only deploys a version stored earlier (by another host or run): a failed hook
   * then never rolls the store back under the hosts that serve that version already.
   */
  renewedHere?: boolean;
}

export interface PostRenewResult {
  reports: HookRunReport[];
  /** Certificates with a failed post-renew hook, and the one-line reason. */
  failed: Map<string, string>;
  /** Certificates restored to their previous version after a hook failed, with what is stored now. */
  rolledBack: Map<string, StoredMeta | undefined>;
  /** The error code of a failure in `failed` when it is not HOOK_FAILED (HOOK_TIMEOUT, a failed `verify`). */
  codes: Map<string, ErrorCode>;
  /**
   * Certificates whose post-renew hooks (or `verify`) the interrupted run killed or never started, while none
   * of them failed on its own: not failures; their hooks are pending (docs/operations.md "Interrupted runs").
   */
  pending: Set<string>;
}

/**
 * Why the rollback of `name` did not redeploy it: the errors of its failed `rollback` hooks (one line), or
 * undefined when it was not rolled back or every rollback hook it ran succeeded.
 */
export function rollbackHookFailure(post: PostRenewResult, name: string): string | undefined {
  if (!post.rolledBack.has(name)) return undefined;
  const failed = post.reports.filter((h) => h.event === 'rollback' && h.certificates.includes(name) && !h.ok);
  if (failed.length === 0) return undefined;
  return failed.map((h) => h.error ?? `hook ${h.name} failed`).join('; ');
}

/**
 * Runs one hook for `certs` (and, for onFailure, their `failures`): the list files are written first
 * (hooks/lists.ts), the short list variables dropped when too long, and the files removed afterwards.
 * Never throws: a list file that cannot be written is a hook that was not run.
 */
async function runOne(
  spec: HookSpec,
  event: HookRunReport['event'],
  certs: HookCertificateInfo[],
  failures: FailureInfo[] | undefined,
  options: HookRunnerOptions,
): Promise<HookRunReport> {
  const certificates = certs.map((c) => c.name);
  const extraEnv = dropLongLists({
    ...certificateHookEnv(certs, event),
    ...(failures ? failureHookEnv(failures) : {}),
  });
  let lists: Awaited<ReturnType<typeof writeHookLists>> | undefined;
  let result: Omit<HookRunReport, 'event' | 'certificates'>;
  try {
    lists = await writeHookLists(options.tmpDir, certs, failures);
    result = await runHook(spec, {
      baseEnv: options.env,
      extraEnv: { ...extraEnv, ...lists.env },
      baseDir: options.session.loaded.baseDir,
      ...(options.signal ? { signal: options.signal } : {}),
      ...(options.session.context.runProcess ? { runner: options.session.context.runProcess } : {}),
    });
  } catch (error) {
    const name = hookDisplayName(spec);
    result = {
      name,
      command: hookCommand(spec),
      ok: false,
      timedOut: false,
      durationMs: 0,
      stdout: '',
      stderr: '',
      error: `hook '${name}' was not run: cannot write its list files: ${describeError(error)}`,
    };
  } finally {
    await lists?.remove();
  }
  const shown =
    certificates.length > 10
      ? `${certificates.slice(0, 10).join(', ')} and ${certificates.length - 10} more`
      : certificates.join(', ');
  if (result.ok) options.logger.info(`hook ${result.name} (${event}) succeeded for ${shown}`);
  else if (result.cancelled) options.logger.warn(`${result.error} (for ${shown})`);
  else options.logger.error(`${result.error ?? `hook ${result.name} failed`} (for ${shown})`);
  return { ...result, event, certificates };
}

/**
 * Restores the previous version of each member (under its lock), records what is stored now in
 * `rolledBack`, and returns the members as their hooks must now be told about them (the restored
 * certificate). A member without a previous version, or whose lock is held, is left as it is (logged).
 */
export async function rollBack(
  members: RenewedForHooks[],
  rolledBack: Map<string, StoredMeta | undefined>,
  options: HookRunnerOptions,
): Promise<RenewedForHooks[]> {
  const restored: RenewedForHooks[] = [];
  for (const member of members) {
    // Under the certificate's lock, like every other write: another host may be renewing it.
    const lock = await (await options.session.locker(member.entry))
      .acquire(member.entry.name, { waitMs: ROLLBACK_LOCK_WAIT_MS })
      .catch(() => undefined);
    if (!lock) {
      options.logger.error(`${member.entry.name}: cannot roll back: its lock is held by another cert-renew`);
      continue;
    }
    try {
      const store = await options.session.store(member.entry.storeName);
      // Never back to a version that is not valid now (expired, key-mismatched): that would be rolled
      // back to again on every run. Nor to a revoked one, or one that may hold a key revoked for
      // keyCompromise (the renewal that failed its hooks may be the replacement `revoke` asked for).
      // The log is read first (it throws STORE_UNAVAILABLE): without it nothing is restored.
      const revocations = hasRevocationLog(store)
        ? ((await store.revocations([member.entry.name])).get(member.entry.name) ?? [])
        : [];
      const now = options.session.context.clock.now();
      // Only the version this run stored is rolled back: one another command stored since stays.
      const before = await store.load(member.entry.name);
      const storedNow = before.state === 'present' ? before.cert.meta?.fingerprint : undefined;
      if (member.info.fingerprint !== undefined && storedNow !== member.info.fingerprint) {
        options.logger.warn(
          `${member.entry.name}: not rolled back: the store now holds a version another cert-renew stored`,
        );
        continue;
      }
      if (
        await store.rollback(member.entry.name, {
          usable: (previous) => restorable(previous, revocations, now),
        })
      ) {
        // The hooks and the report describe what is stored now: the restored certificate.
        const current = await store.load(member.entry.name);
        const meta = current.state === 'present' ? current.cert.meta : undefined;
        rolledBack.set(member.entry.name, meta);
        const info: HookCertificateInfo = { ...member.info };
        delete info.notAfter;
        delete info.serial;
        delete info.fingerprint;
        if (meta) {
          info.notAfter = new Date(meta.notAfter);
          info.serial = meta.serial;
          info.fingerprint = meta.fingerprint;
        }
        restored.push({ ...member, info });
        options.logger.warn(`${member.entry.name}: restored the previous certificate`);
      } else if (member.entry.store.keep === 0) {
        options.logger.warn(
          `${member.entry.name}: nothing to restore: store '${member.entry.storeName}' has keep 0, so no previous version is kept`,
        );
      } else {
        options.logger.warn(`${member.entry.name}: no previous certificate valid now to restore`);
      }
    } catch (error) {
      options.logger.error(`${member.entry.name}: rollback failed: ${describeError(error)}`);
    } finally {
      await lock.release().catch(() => {});
    }
  }
  return restored;
}

/** Runs each distinct post-renew hook of `restored` once with CERT_RENEW_EVENT=rollback. */
export async function runRollbackHooks(
  restored: RenewedForHooks[],
  options: HookRunnerOptions,
): Promise<HookRunReport[]> {
  const reports: HookRunReport[] = [];
  for (const group of groupHooks(restored, (r) => r.entry.hooks.postRenew)) {
    reports.push(
      await runOne(
        group.spec,
        'rollback',
        group.members.map((m) => m.info),
        undefined,
        options,
      ),
    );
  }
  return reports;
}

export async function runPostRenewHooks(
  renewed: RenewedForHooks[],
  options: HookRunnerOptions,
): Promise<PostRenewResult> {
  const reports: HookRunReport[] = [];
  const failed = new Map<string, string>();
  const codes = new Map<string, ErrorCode>();
  const rolledBack = new Map<string, StoredMeta | undefined>();
  const pending = new Set<string>();
  for (const group of groupHooks(renewed, (r) => r.entry.hooks.postRenew)) {
    const names = group.members.map((m) => m.entry.name);
    const report = await runOne(
      group.spec,
      'post-renew',
      group.members.map((m) => m.info),
      undefined,
      options,
    );
    reports.push(report);
    if (report.ok) continue;
    if (report.cancelled) {
      // Stopped by the interruption, not failed: pending, unless another of its hooks failed on its own.
      for (const name of names) if (!failed.has(name)) pending.add(name);
      continue;
    }
    for (const name of names) {
      pending.delete(name);
      failed.set(name, report.error ?? `hook ${report.name} failed`);
      // A hook stopped at its timeout is HOOK_TIMEOUT, as documented; any other failure HOOK_FAILED.
      if (report.timedOut) codes.set(name, ErrorCode.hookTimeout);
      else codes.delete(name);
    }
    // Interrupted: no rollback (the hook did not get to say anything); the next run runs the hooks again.
    if (options.signal?.aborted) continue;
    const toRollBack = group.members.filter(
      (m) => m.entry.hooks.rollbackOnHookFailure && m.renewedHere !== false && !rolledBack.has(m.entry.name),
    );
    const restored = await rollBack(toRollBack, rolledBack, options);
    if (restored.length > 0) {
      reports.push(
        await runOne(
          group.spec,
          'rollback',
          restored.map((m) => m.info),
          undefined,
          options,
        ),
      );
    }
  }
  return { reports, failed, rolledBack, codes, pending };
}

export async function runFailureHooks(
  failures: { entry: ResolvedCertificate; failure: FailureInfo }[],
  options: HookRunnerOptions,
): Promise<HookRunReport[]> {
  const reports: HookRunReport[] = [];
  for (const group of groupHooks(failures, (f) => f.entry.hooks.onFailure)) {
    reports.push(
      await runOne(
        group.spec,
        'on-failure',
        group.members.map(({ entry }) => ({
          name: entry.name,
          domains: entry.domains,
          storeName: entry.storeName,
          storeType: entry.store.type,
          issuerName: entry.issuerName,
        })),
        group.members.map((m) => m.failure),
        options,
      ),
    );
  }
  return reports;
}
