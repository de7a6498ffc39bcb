/**
 * `run --dry-run`: everything that changes nothing. Every store of the selected certificates is proven
 * reachable and writable (a probe, no certificate), every issuer a due certificate would use is asked to
 * answer (ACME directory and account, step-ca health and pinned root, the local CA) once per challenge its
 * due certificates use, so a challenge that cannot be answered fails only the certificates that use it;
 * each due certificate whose issuer can check it alone (ACME dns-01: its `_acme-challenge` names, zones,
 * update permission and nameservers) is checked, failing only that certificate; every hook command is
 * found and executable. Nothing is issued, written or run.
 */
import { describeError, ErrorCode, toCertRenewError } from '../errors.js';
import { checkHookRunnable } from '../hooks/check.js';
import { hookDisplayName, hookIdentity } from '../hooks/run.js';
import type { Env } from '../manifest/secrets.js';
import type { HookSpec, ResolvedCertificate } from '../manifest/types.js';
import type { PlannedRecord } from '../plan/model.js';
import type { CheckReport } from '../report/model.js';
import type { Logger } from '../runtime/logger.js';
import type { Session } from '../runtime/session.js';
import { StoreChecksFailed } from '../stores/types.js';
import { groupBy } from '../util/group.js';
import { mapLimit } from '../util/pool.js';

export interface DryRunChecks {
  reports: CheckReport[];
  /** The failed checks that would stop this certificate's renewal. */
  failuresFor(entry: ResolvedCertificate): { code: ErrorCode; message: string }[];
}

const CHECK_TIMEOUT_MS = 30_000;
/** How many certificates are checked alone at once (each may start an nsupdate and several queries). */
const CERTIFICATE_CHECKS_AT_ONCE = 8;

/** Certificates of one issuer with the same challenge (their own, or none: the issuer's) share one check. */
function issuerCheckKey(entry: ResolvedCertificate): string {
  return `${entry.issuerName}\n${JSON.stringify(entry.challenge ?? null)}`;
}

/**
 * Runs every check for the selected `records` at once (30 s each at most) and says which failures stop which
 * certificate. Never throws for a failed check: it is a report line.
 */
export async function dryRunChecks(
  records: readonly PlannedRecord[],
  deps: { session: Session; env: Env; logger: Logger },
): Promise<DryRunChecks> {
  const { session, logger } = deps;
  const entries = records.map((r) => r.entry);
  const dueRecords = records.filter((r) => r.item.action === 'renew' || r.item.action === 'backoff');
  const due = dueRecords.map((r) => r.entry);
  const planned = new Map(
    dueRecords.map((r) => [
      r.entry,
      {
        ...(r.item.reason !== undefined ? { reason: r.item.reason } : {}),
        ...(r.item.notBefore !== undefined ? { notBefore: r.item.notBefore } : {}),
        ...(r.item.notAfter !== undefined ? { notAfter: r.item.notAfter } : {}),
      },
    ]),
  );
  const storeNames = new Set(entries.map((e) => e.storeName));
  // One issuer check per issuer and challenge: a challenge that cannot be answered (a standalone port
  // another server holds) blocks only the certificates that use it, not those on webroot or dns-01.
  const issuerGroups = groupBy(due, issuerCheckKey);
  const hooks = new Map<string, HookSpec>();
  for (const entry of entries) {
    for (const spec of [...entry.hooks.postRenew, ...entry.hooks.onFailure])
      hooks.set(hookIdentity(spec), spec);
  }

  const storeResults = new Map<string, CheckReport & { code?: ErrorCode }>();
  const storeRefusals = new Map<string, CheckReport[]>();
  const issuerResults = new Map<string, CheckReport & { code?: ErrorCode }>();
  const hookResults = new Map<string, CheckReport>();
  const certResults = new Map<string, CheckReport & { code?: ErrorCode }>();
  const signal = AbortSignal.timeout(CHECK_TIMEOUT_MS);

  await Promise.all([
    ...[...storeNames].map(async (name) => {
      try {
        const message = await (await session.store(name)).checkWritable();
        storeResults.set(name, { kind: 'store', name, ok: true, message });
      } catch (error) {
        const e = toCertRenewError(error, ErrorCode.storeUnavailable, `store '${name}'`);
        storeResults.set(name, { kind: 'store', name, ok: false, message: e.oneLine, code: e.code });
        // Each refused step its own line (a Redis ACL may refuse several things a run does).
        if (error instanceof StoreChecksFailed && error.refusals.length > 1) {
          storeRefusals.set(
            name,
            error.refusals.map((r) => ({ kind: 'store', name, ok: false, message: r.oneLine })),
          );
        }
      }
    }),
    ...[...issuerGroups].map(async ([key, certs]) => {
      const name = (certs[0] as ResolvedCertificate).issuerName;
      try {
        const issuer = await session.issuer(name);
        const store = await session.store((certs[0] as ResolvedCertificate).storeName);
        const message = await issuer.check({ store, certs, signal });
        issuerResults.set(key, { kind: 'issuer', name, ok: true, message });
      } catch (error) {
        const e = toCertRenewError(error, ErrorCode.issuerUnavailable, `issuer '${name}'`);
        issuerResults.set(key, { kind: 'issuer', name, ok: false, message: e.oneLine, code: e.code });
      }
    }),
    mapLimit(due, CERTIFICATE_CHECKS_AT_ONCE, async (entry) => {
      try {
        const issuer = await session.issuer(entry.issuerName);
        const message = await issuer.checkCertificate?.(entry, signal, planned.get(entry));
        if (message !== undefined) {
          certResults.set(entry.name, { kind: 'certificate', name: entry.name, ok: true, message });
        }
      } catch (error) {
        const e = toCertRenewError(error, ErrorCode.challengeFailed, `certificate ${entry.name}`);
        certResults.set(entry.name, {
          kind: 'certificate',
          name: entry.name,
          ok: false,
          message: e.oneLine,
          code: e.code,
        });
      }
    }),
    ...[...hooks].map(async ([id, spec]) => {
      const name = hookDisplayName(spec);
      try {
        const result = await checkHookRunnable(spec, deps.env, session.loaded.baseDir);
        hookResults.set(id, {
          kind: 'hook',
          name,
          ok: result.ok,
          message: result.ok ? `runs ${result.resolved}` : result.message,
        });
      } catch (error) {
        hookResults.set(id, { kind: 'hook', name, ok: false, message: describeError(error) });
      }
    }),
  ]);

  // A hook given to several certificates with their own `env` is checked once per variant, but the lines
  // would read the same: each shown once.
  const shown = new Set<string>();
  const reports = [
    ...[...storeResults].flatMap(([name, report]) => storeRefusals.get(name) ?? [report]),
    ...issuerResults.values(),
    ...certResults.values(),
    ...hookResults.values(),
  ]
    .map(({ kind, name, ok, message }) => ({ kind, name, ok, message }))
    .filter((r) => {
      const key = `${r.kind}\n${r.name}\n${r.ok}\n${r.message}`;
      if (shown.has(key)) return false;
      shown.add(key);
      return true;
    });
  for (const r of reports) {
    if (r.ok) logger.info(`dry run: ${r.kind} ${r.name}: ${r.message}`);
    else logger.error(`dry run: ${r.kind} ${r.name}: ${r.message}`);
  }
  return {
    reports,
    failuresFor(entry) {
      const out: { code: ErrorCode; message: string }[] = [];
      const store = storeResults.get(entry.storeName);
      if (store && !store.ok)
        out.push({ code: store.code ?? ErrorCode.storeUnavailable, message: store.message });
      const issuer = issuerResults.get(issuerCheckKey(entry));
      if (issuer && !issuer.ok)
        out.push({ code: issuer.code ?? ErrorCode.issuerUnavailable, message: issuer.message });
      const own = certResults.get(entry.name);
      if (own && !own.ok) out.push({ code: own.code ?? ErrorCode.challengeFailed, message: own.message });
      for (const spec of entry.hooks.postRenew) {
        const hook = hookResults.get(hookIdentity(spec));
        if (hook && !hook.ok)
          out.push({ code: ErrorCode.hookFailed, message: `hook ${hook.name}: ${hook.message}` });
      }
      return out;
    },
  };
}
