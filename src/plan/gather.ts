/**
 * Gather: the only I/O before deciding. Reads every selected certificate from its store (batched per
 * store) and, for issuers that offer ACME Renewal Information, the suggested windows.
 */
import { type CertRenewError, describeError, ErrorCode, toCertRenewError } from '../errors.js';
import { isRenewalInfoCapable } from '../issuers/types.js';
import type { ResolvedCertificate } from '../manifest/types.js';
import type { Logger } from '../runtime/logger.js';
import type { Session } from '../runtime/session.js';
import type { LoadResult } from '../stores/types.js';
import { mapLimit } from '../util/pool.js';

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
