/**
 * Gather: the only I/O before deciding. Reads every selected certificate from its store (batched per
 * store) and, for issuers that offer ACME Renewal Information, the suggested windows.
 */
import { getMaxListeners, setMaxListeners } from 'node:events';
import { type CertRenewError, describeError, ErrorCode, toCertRenewError } from '../errors.js';
import { isRenewalInfoCapable } from '../issuers/types.js';
import type { ResolvedCertificate } from '../manifest/types.js';
import type { Logger } from '../runtime/logger.js';
import type { Session } from '../runtime/session.js';
import { PartialLoadError } from '../stores/partial.js';
import { isDeploymentStore } from '../stores/types.js';
import { groupBy } from '../util/group.js';
import { mapLimit } from '../util/pool.js';
import type { GatheredRecord, SuggestedWindow } from './model.js';
import { storeRenewalInfoCache } from './renewal-info-cache.js';
import { gatherRevocations } from './revocations.js';

/** ARI requests in flight at once. */
const ARI_CONCURRENCY = 16;

export interface GatherOptions {
  logger: Logger;
  /** Aborts the ARI requests (the store reads finish). */
  signal?: AbortSignal;
  /** Ask ARI-capable issuers for their suggested windows (default true). */
  ari?: boolean;
  /**
   * Put the CA's new renewal-information answers in the stores for later runs (`run`; default false:
   * answers kept there are used either way). See plan/renewal-info-cache.ts.
   */
  keepRenewalInfo?: boolean;
}

/**
 * Reads what the stores hold for `entries` and returns one `GatheredRecord` per entry, in the same order.
 *
 * - Each store is asked once (`loadMany`) for all of its certificates; stores are read in parallel.
 * - A store that cannot be read (throws) does not throw here: each of its records gets `stored: undefined`
 *   and `storeError` (a CertRenewError, code STORE_UNAVAILABLE unless the store said better). A store that
 *   could read some names (PartialLoadError: a Redis Cluster node down) gives that only to the others. A
 *   certificate the store does not know is `{ state: 'missing' }`; one it holds but refuses (LoadResult
 *   `error`: another host's encryption key) gets `stored: undefined` and that `storeError`, like an
 *   unreadable store.
 * - Stores with deployment state (DeploymentStore) are asked for every host's entry at the same time.
 * - ARI (RFC 9773) is asked for present certificates of ACME issuers only, or read from the answer kept in
 *   the certificate's store until the CA's Retry-After; an ARI failure is logged at debug level and leaves
 *   `ari` unset, it never fails the gather.
 *
 * Throws nothing a store or issuer can cause; the records hold the PEMs, so callers gather in batches.
 */
export async function gather(
  session: Pick<Session, 'store' | 'issuer'>,
  entries: ResolvedCertificate[],
  options: GatherOptions,
): Promise<GatheredRecord[]> {
  const byStore = groupBy(entries, (entry) => entry.storeName);
  const results = new Map<ResolvedCertificate, GatheredRecord>();
  await Promise.all(
    [...byStore].map(async ([storeName, list]) => {
      try {
        const store = await session.store(storeName);
        const names = list.map((e) => e.name);
        const [loads, deploys] = await Promise.allSettled([
          store.loadMany(names),
          isDeploymentStore(store) ? store.loadDeployments(names) : undefined,
        ]);
        // A store that could read some names (a Cluster node down) fails only the others.
        const loaded = readOrThrow(loads);
        const deployments = readOrThrow(deploys);
        for (const entry of list) {
          const failure = loaded.failed.get(entry.name) ?? deployments?.failed.get(entry.name);
          if (failure) {
            results.set(entry, { entry, stored: undefined, storeError: failure });
            continue;
          }
          const deployed = deployments?.read.get(entry.name);
          const stored = loaded.read.get(entry.name) ?? { state: 'missing' };
          results.set(entry, {
            entry,
            // A value the store refuses to use or replace (LoadResult 'error') is this certificate's error.
            ...(stored.state === 'error' ? { stored: undefined, storeError: stored.failure } : { stored }),
            ...(deployed ? { deployments: deployed } : {}),
          });
        }
      } catch (error) {
        const storeError = toCertRenewError(error, ErrorCode.storeUnavailable, `store '${storeName}'`);
        for (const entry of list) results.set(entry, { entry, stored: undefined, storeError });
      }
    }),
  );
  const loaded = entries.map((entry): GatheredRecord => results.get(entry) ?? { entry, stored: undefined });
  const revocations = await gatherRevocations(session, loaded, options.logger);
  const records = loaded.map((record) => {
    const revocation = revocations.get(record);
    return revocation ? { ...record, revocation } : record;
  });
  if (options.ari === false) return records;
  const windows = await gatherSuggestedWindows(session, records, options);
  return records.map((record) => {
    const ari = windows.get(record);
    return ari ? { ...record, ari } : record;
  });
}

/**
 * What a batch read gave: everything (`failed` empty), or, from a PartialLoadError, what was read and the
 * names that could not be. Any other rejection is thrown (the whole store failed).
 */
function readOrThrow<T>(result: PromiseSettledResult<ReadonlyMap<string, T>>): {
  read: ReadonlyMap<string, T>;
  failed: ReadonlyMap<string, CertRenewError>;
};
function readOrThrow<T>(
  result: PromiseSettledResult<ReadonlyMap<string, T> | undefined>,
): { read: ReadonlyMap<string, T>; failed: ReadonlyMap<string, CertRenewError> } | undefined;
function readOrThrow<T>(
  result: PromiseSettledResult<ReadonlyMap<string, T> | undefined>,
): { read: ReadonlyMap<string, T>; failed: ReadonlyMap<string, CertRenewError> } | undefined {
  if (result.status === 'fulfilled') return result.value && { read: result.value, failed: new Map() };
  if (result.reason instanceof PartialLoadError)
    return { read: result.reason.loaded as ReadonlyMap<string, T>, failed: result.reason.failed };
  throw result.reason;
}

/** ARI windows for present certificates of ARI-capable issuers. Errors never block a renewal. */
async function gatherSuggestedWindows(
  session: Pick<Session, 'store' | 'issuer'>,
  records: GatheredRecord[],
  options: GatherOptions,
): Promise<Map<GatheredRecord, SuggestedWindow>> {
  const windows = new Map<GatheredRecord, SuggestedWindow>();
  const candidates = records.filter((r) => r.entry.issuer.type === 'acme' && r.stored?.state === 'present');
  if (candidates.length === 0) return windows;
  const signal = options.signal ?? new AbortController().signal;
  // Each lookup in flight listens on the signal: ARI_CONCURRENCY of them, beside the run's own listeners,
  // are no leak, but pass node's warning threshold (10), which printed a warning on stderr.
  if (getMaxListeners(signal) < ARI_CONCURRENCY + 10) setMaxListeners(ARI_CONCURRENCY + 10, signal);
  await mapLimit(candidates, ARI_CONCURRENCY, async (record) => {
    if (record.stored?.state !== 'present') return;
    try {
      const issuer = await session.issuer(record.entry.issuerName);
      if (!isRenewalInfoCapable(issuer)) return;
      const store = await session.store(record.entry.storeName);
      const cache = storeRenewalInfoCache(
        store,
        record.entry.name,
        options.keepRenewalInfo ?? false,
        options.logger,
      );
      const window = await issuer.suggestedWindow(record.stored.cert, signal, cache);
      if (window) windows.set(record, window);
    } catch (error) {
      options.logger.debug(`${record.entry.name}: renewal information unavailable: ${describeError(error)}`);
    }
  });
  return windows;
}
