/**
 * Orphans: certificates a store holds that the manifest no longer names (for that store). `plan` and
 * `status` list them so an operator notices; `prune` retires them. Listing needs the store's `Inventory`
 * ability (stores/types.ts); a store without it, or one that cannot be reached, is skipped with a warning:
 * orphans are never failures.
 */
import { describeError } from '../errors.js';
import type { Logger } from '../runtime/logger.js';
import type { Session } from '../runtime/session.js';
import type { LoadResult } from '../stores/types.js';
import { hasInventory, isDeploymentStore } from '../stores/types.js';
import { inspectCertificate } from '../x509/inspect.js';
import type { OrphanItem } from './model.js';

/**
 * Every orphan of every store the manifest names, sorted by store then name, with its expiry when the
 * stored certificate reads. `now` gives `remainingSeconds`. Never throws for a store: a store that could
 * not be listed is logged and, when `unlisted` is given, pushed onto it as `{ store, error }` (so `prune`
 * can say it did not look there instead of "no orphans").
 */
export async function findOrphans(
  session: Pick<Session, 'store' | 'certificates' | 'loaded'>,
  now: Date,
  logger: Logger,
  unlisted?: { store: string; error: string }[],
): Promise<OrphanItem[]> {
  const named = new Map<string, Set<string>>();
  for (const c of session.certificates) {
    const set = named.get(c.storeName) ?? new Set<string>();
    set.add(c.name);
    named.set(c.storeName, set);
  }
  const perStore = await Promise.all(
    Object.keys(session.loaded.manifest.stores).map(async (storeName): Promise<OrphanItem[]> => {
      try {
        const store = await session.store(storeName);
        if (!hasInventory(store)) return [];
        const keep = named.get(storeName) ?? new Set<string>();
        const names = await store.listNames(keep);
        if (names.length === 0) return [];
        const [loaded, deployments] = await Promise.all([
          store.loadMany(names),
          isDeploymentStore(store) ? store.loadDeployments(names) : undefined,
        ]);
        return names.map((name): OrphanItem => {
          const result = loaded.get(name);
          const item: OrphanItem = { name, store: storeName, state: orphanState(result) };
          const hosts = Object.keys(deployments?.get(name) ?? {}).sort();
          if (hosts.length > 0) item.deployedOn = hosts;
          if (result?.state === 'present') {
            const meta = result.cert.meta;
            if (meta?.issuer) item.issuer = meta.issuer;
            let notAfter = meta?.notAfter;
            let domains = meta?.domains;
            if (!notAfter) {
              try {
                const info = inspectCertificate(result.cert.certPem);
                notAfter = info.notAfter.toISOString();
                domains = [...info.dnsNames, ...info.ipAddresses];
              } catch {
                item.state = 'unreadable';
              }
            }
            if (domains) item.domains = domains;
            if (notAfter) {
              item.notAfter = notAfter;
              item.remainingSeconds = Math.round((new Date(notAfter).getTime() - now.getTime()) / 1000);
            }
          }
          return item;
        });
      } catch (error) {
        logger.warn(
          `store '${storeName}': cannot list its certificates for orphans: ${describeError(error)}`,
        );
        unlisted?.push({ store: storeName, error: describeError(error) });
        return [];
      }
    }),
  );
  return perStore.flat();
}

/** An orphan this host cannot read for any reason (LoadResult `error` included) is listed as unreadable. */
function orphanState(result: LoadResult | undefined): OrphanItem['state'] {
  if (!result) return 'missing';
  return result.state === 'error' ? 'unreadable' : result.state;
}
