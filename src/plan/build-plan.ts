/**
 * Decide: pure functions from gathered records and the clock to the plan. `cert-renew plan --json` prints
 * exactly the `Plan`; `run` executes the records.
 */
import { ErrorCode } from '../errors.js';
import { backingOff, retryAt } from '../policy/backoff.js';
import { decide, type Inspected, inspectStored } from '../policy/decide.js';
import { fleetOf } from '../policy/deployment.js';
import type { StoredMeta } from '../stores/types.js';
import {
  type GatheredRecord,
  PLAN_VERSION,
  type Plan,
  type PlanAction,
  type PlanItem,
  type PlannedRecord,
  type PlannedRun,
  type PlanOptions,
} from './model.js';

export type { Plan, PlanAction, PlanItem, PlanOptions } from './model.js';
export { PLAN_VERSION } from './model.js';

/**
 * The plan item for one gathered certificate: the policy's decision (docs/design.md "Policy"), then the
 * backoff check over the failed attempts the store recorded. A store that could not be read gives action
 * `error` with its error code. Pure: reads `options.now`, never the clock.
 */
export function planItem(record: GatheredRecord, options: PlanOptions): PlanItem {
  return decided(record, options).item;
}

/** `via` of a version known by its certificate alone (`storedVersion`): no metadata says who issued it. */
export const UNNAMED_VERSION = 'found in the store without metadata naming it';

/**
 * The version the store holds, as hooks, deployment records, `verify` and the fleet view name it: the
 * metadata the store gave (only when it names the certificate: x509/fast.ts `metaNaming`), else what the
 * certificate itself says when it parses and its key matches — a value another tool wrote without
 * metadata (docs/stores.md), or metadata edited by hand since. Its serial, dates and SHA-256 fingerprint
 * are the certificate's; the names, issuer and key type are the manifest's; `issuedAt`, which no file
 * records then, is its notBefore. Undefined when nothing servable is stored.
 */
export function storedVersion(
  record: GatheredRecord,
  inspected: Inspected | undefined,
): StoredMeta | undefined {
  const { entry, stored } = record;
  if (stored?.state !== 'present') return undefined;
  if (stored.cert.meta) return stored.cert.meta;
  if (!inspected?.ok || !inspected.keyMatches) return undefined;
  const { cert } = inspected;
  const notBefore = cert.notBefore.toISOString();
  return {
    name: entry.name,
    domains: entry.domains,
    issuer: entry.issuerName,
    keyType: cert.keyType === 'other' ? entry.keyType : cert.keyType,
    notBefore,
    notAfter: cert.notAfter.toISOString(),
    fingerprint: cert.fingerprint256,
    serial: cert.serial,
    issuedAt: notBefore,
    via: UNNAMED_VERSION,
  };
}

/** planItem's decision, and the stored version it was made about (`storedVersion`). */
function decided(record: GatheredRecord, options: PlanOptions): { item: PlanItem; version?: StoredMeta } {
  const { entry, stored } = record;
  const base = { name: entry.name, domains: entry.domains, issuer: entry.issuerName, store: entry.storeName };
  if (!stored) {
    const error = {
      code: record.storeError?.code ?? ErrorCode.storeUnavailable,
      message: record.storeError?.oneLine ?? 'store unavailable',
    };
    return { item: { ...base, action: 'error', message: error.message, error } };
  }
  const force = options.force ?? false;
  const inspected = inspectStored(stored);
  const version = storedVersion(record, inspected);
  const decision = decide(
    {
      entry,
      stored,
      now: options.now,
      runIntervalMs: options.runIntervalMs,
      force,
      ...(record.ari ? { ari: record.ari } : {}),
      ...(record.revocation?.current ? { revoked: record.revocation.current } : {}),
    },
    inspected,
  );
  // Written out, not `{ ...base, … }`: V8 (Node 20) gives every object made that way a hidden class of its
  // own — 10,000 of them (~4 MB, slower access) in a 10,000-certificate plan.
  const item: PlanItem = {
    name: base.name,
    domains: base.domains,
    issuer: base.issuer,
    store: base.store,
    action: decision.renew ? 'renew' : 'keep',
    reason: decision.reason,
    message: decision.message,
  };
  if (decision.notBefore) item.notBefore = decision.notBefore.toISOString();
  if (decision.notAfter) item.notAfter = decision.notAfter.toISOString();
  if (decision.remainingMs !== undefined) item.remainingSeconds = Math.round(decision.remainingMs / 1000);
  if (decision.renewAt && !decision.renew) item.renewAt = decision.renewAt.toISOString();
  const log = record.revocation?.log ?? [];
  if (log.length > 0) {
    item.revocations = log.map((r) => ({
      serial: r.serial,
      reason: r.reason,
      revokedAt: r.revokedAt,
      notAfter: r.notAfter,
    }));
  }
  const attempts = stored.attempts;
  if (attempts && attempts.failureCount > 0) {
    item.failures = {
      count: attempts.failureCount,
      lastAttempt: attempts.lastAttempt,
      ...(attempts.lastError ? { lastError: attempts.lastError } : {}),
      retryAt: retryAt(attempts, decision.remainingMs).toISOString(),
    };
  }
  // Pending hooks are recorded with a failure (a hook failed) or without one (the run was interrupted).
  if (attempts?.hooksPending) item.hooksPending = true;
  const hosts = fleetOf(
    record.deployments,
    version,
    options.now,
    options.deployGraceMs ?? 2 * options.runIntervalMs,
    log,
  );
  if (hosts.length > 0) item.hosts = hosts;
  const backoff = backingOff({ decision, attempts, now: options.now, force });
  if (backoff) {
    item.action = 'backoff';
    item.message = backoff.caRetryAfter
      ? `${decision.message}; the CA asked not to be asked again before ${backoff.until.toISOString()} (its Retry-After; --force does not override the CA)`
      : `${decision.message}; backing off after ${backoff.failures} failed attempt(s) until ${backoff.until.toISOString()} (${backoff.caUntil ? `--force retries from ${backoff.caUntil.toISOString()}, the CA's Retry-After` : '--force retries now'})`;
  }
  return version ? { item, version } : { item };
}

/**
 * Extends a gathered record with its decision and lets go of the PEMs (only the metadata and the ARI window
 * travel on to execute). Pure.
 */
export function planRecord(record: GatheredRecord, options: PlanOptions): PlannedRecord {
  const { item, version: meta } = decided(record, options);
  const revoked = record.revocation?.current;
  return {
    entry: record.entry,
    item,
    ...(meta ? { meta } : {}),
    ...(record.ari ? { ari: record.ari } : {}),
    ...(revoked ? { revoked } : {}),
    ...(record.deployments ? { deployments: record.deployments } : {}),
  };
}

/**
 * The plan for decided records, in their order, with its summary: `plan.items[i]` is `records[i].item`.
 * Pure; `options` must be the ones the records were decided with.
 */
export function buildPlan(records: PlannedRecord[], options: PlanOptions): PlannedRun {
  const items = records.map((r) => r.item);
  const count = (action: PlanAction) => items.filter((i) => i.action === action).length;
  const plan: Plan = {
    version: PLAN_VERSION,
    generatedAt: options.now.toISOString(),
    runIntervalSeconds: Math.round(options.runIntervalMs / 1000),
    forced: options.force ?? false,
    summary: {
      total: items.length,
      renew: count('renew'),
      keep: count('keep'),
      backoff: count('backoff'),
      error: count('error'),
    },
    items,
  };
  return { plan, records };
}
