/**
 * Gather: the only I/O before deciding. Reads every selected certificate from its store (batched per
 * store) and, for issuers that offer ACME Renewal Information, the suggested windows.
 */
import { type CertRenewError, describeError, ErrorCode, toCertRenewError } from '../errors.js';
import { isRenewalInfoCapable } from '../issuers/types.js';
import type { ResolvedCertificate } from '../manifest/types.js';
import type { Logger } from '../runtime/logger.js';
import type { Session } from '../runtime/session.js';
import type { LoadResult, StoredMeta } from '../stores/types.js';
import { mapLimit } from '../util/pool.js';
import { assemblePlan, type Plan, type PlanItem, type PlanOptions, planItem } from './build-plan.js';

export interface Gathered {
  entry: ResolvedCertificate;
  /** What the store holds; undefined when the store itself could not be read (see `error`). */
  stored: LoadResult | undefined;
  error?: CertRenewError;
  ari?: { start: Date; end: Date };
}

export async function gather(
  session: Pick<Session, 'store' | 'issuer'>,
  entries: ResolvedCertificate[],
  options: { logger: Logger; signal?: AbortSignal; ari?: boolean },
): Promise<Gathered[]> {
  const byStore = new Map<string, ResolvedCertificate[]>();
  for (const entry of entries) {
    const list = byStore.get(entry.storeName) ?? [];
    list.push(entry);
    byStore.set(entry.storeName, list);
  }
  const results = new Map<ResolvedCertificate, Gathered>();
  await Promise.all(
    [...byStore].map(async ([storeName, list]) => {
      try {
        const store = await session.store(storeName);
        const loaded = await store.loadMany(list.map((e) => e.name));
        for (const entry of list) {
          results.set(entry, { entry, stored: loaded.get(entry.name) ?? { state: 'missing' } });
        }
      } catch (error) {
        const wrapped = toCertRenewError(error, ErrorCode.storeUnavailable, `store '${storeName}'`);
        for (const entry of list) results.set(entry, { entry, stored: undefined, error: wrapped });
      }
    }),
  );
  const gathered = entries.map((entry) => results.get(entry) as Gathered);
  if (options.ari !== false) await gatherRenewalInfo(session, gathered, options);
  return gathered;
}

/** ARI windows for present certificates of ARI-capable issuers. Errors never block a renewal. */
async function gatherRenewalInfo(
  session: Pick<Session, 'issuer'>,
  gathered: Gathered[],
  options: { logger: Logger; signal?: AbortSignal },
): Promise<void> {
  const candidates = gathered.filter((g) => g.entry.issuer.type === 'acme' && g.stored?.state === 'present');
  if (candidates.length === 0) return;
  const signal = options.signal ?? new AbortController().signal;
  await mapLimit(candidates, 16, async (g) => {
    if (g.stored?.state !== 'present') return;
    try {
      const issuer = await session.issuer(g.entry.issuerName);
      if (!isRenewalInfoCapable(issuer)) return;
      g.ari = await issuer.renewalWindow(g.stored.cert, signal);
    } catch (error) {
      options.logger.debug(`${g.entry.name}: renewal information unavailable: ${describeError(error)}`);
    }
  });
}

/** What is kept of a certificate once it has been decided: not its PEMs (memory stays flat). */
export interface Seen {
  entry: ResolvedCertificate;
  /** The stored certificate's metadata at plan time, when one was there. */
  meta?: StoredMeta;
  /** The ARI window fetched for it, so the re-check under the lock decides as the plan did. */
  ari?: { start: Date; end: Date };
}

/** Certificates gathered and decided per batch; only the decisions and metadata are kept. */
export const PLAN_BATCH = 1000;

/**
 * Gather and decide in batches of PLAN_BATCH certificates, so a manifest of many thousands never holds
 * every certificate and key in memory at once: each batch is read (batched per store), decided by the pure
 * `planItem`, and dropped. The result is the plan that deciding everything at once would give.
 */
export async function gatherAndPlan(
  session: Pick<Session, 'store' | 'issuer'>,
  entries: ResolvedCertificate[],
  options: { logger: Logger; signal?: AbortSignal; ari?: boolean; plan: PlanOptions },
): Promise<{ plan: Plan; seen: Seen[] }> {
  const items: PlanItem[] = [];
  const seen: Seen[] = [];
  for (let start = 0; start < entries.length; start += PLAN_BATCH) {
    const batch = await gather(session, entries.slice(start, start + PLAN_BATCH), options);
    for (const g of batch) {
      items.push(planItem(g, options.plan));
      const meta = g.stored?.state === 'present' ? g.stored.cert.meta : undefined;
      seen.push({ entry: g.entry, ...(meta ? { meta } : {}), ...(g.ari ? { ari: g.ari } : {}) });
    }
  }
  return { plan: assemblePlan(items, options.plan), seen };
}
