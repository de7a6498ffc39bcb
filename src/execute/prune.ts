/**
 * `cert-renew prune`, the act: for each orphan (plan/orphans.ts), under its lock: optionally revoke it at
 * its issuer (execute/revoke.ts), then retire it from its store (the store's `Inventory.retire`: the
 * filesystem archives the directory, Redis deletes the value, history, attempts, revocations and lock).
 * And `prune --host`: finding and removing a retired host's deployment records.
 */
import { CertRenewError, describeError, ErrorCode, toCertRenewError } from '../errors.js';
import type { OrphanItem } from '../plan/model.js';
import type { ForgetHostReport, PruneLine } from '../report/lifecycle.js';
import type { Clock } from '../runtime/clock.js';
import type { Logger } from '../runtime/logger.js';
import type { Session } from '../runtime/session.js';
import { hasInventory, isDeploymentStore } from '../stores/types.js';
import { groupBy } from '../util/group.js';
import type { RevocationReason } from '../x509/revocation.js';
import { revokeStored, withCertificateLock } from './revoke.js';

export interface PruneOptions {
  dryRun: boolean;
  /** Revoke each present certificate at its issuer first (a failed revocation keeps it in the store). */
  revoke?: RevocationReason;
  lockWaitMs: number;
  deadlineMs: number;
  clock: Clock;
  logger: Logger;
  interrupt?: AbortSignal;
}

/** Prunes `orphans` one after the other. Never throws for a store or issuer failure (the line says). */
export async function pruneOrphans(
  session: Pick<Session, 'store' | 'issuer' | 'loaded'>,
  orphans: readonly OrphanItem[],
  options: PruneOptions,
): Promise<PruneLine[]> {
  const lines: PruneLine[] = [];
  for (const orphan of orphans) {
    const line: PruneLine = {
      name: orphan.name,
      store: orphan.store,
      outcome: 'failed',
      ...(orphan.notAfter ? { notAfter: orphan.notAfter } : {}),
      ...(orphan.deployedOn ? { deployedOn: orphan.deployedOn } : {}),
    };
    lines.push(line);
    if (options.dryRun) {
      line.outcome = 'would-prune';
      continue;
    }
    try {
      options.interrupt?.throwIfAborted();
      const store = await session.store(orphan.store);
      if (!hasInventory(store)) {
        throw new CertRenewError(ErrorCode.usage, `store '${store.name}' cannot remove certificates`);
      }
      await withCertificateLock(
        store,
        orphan.name,
        {
          lockWaitMs: options.lockWaitMs,
          logger: options.logger,
          ...(options.interrupt ? { signal: options.interrupt } : {}),
        },
        async (lock) => {
          if (options.revoke && orphan.state === 'present') {
            const revocation = await revokeStored(
              session,
              store,
              orphan.name,
              {
                reason: options.revoke,
                lockWaitMs: options.lockWaitMs,
                deadlineMs: options.deadlineMs,
                clock: options.clock,
                logger: options.logger,
                ...(options.interrupt ? { interrupt: options.interrupt } : {}),
              },
              true,
            );
            line.revocation = revocation;
            if (revocation.outcome !== 'revoked') {
              throw new CertRenewError(
                revocation.error?.code ?? ErrorCode.issuerRejected,
                `${orphan.name}: not removed, the revocation failed: ${revocation.error?.message ?? '?'}`,
              );
            }
          }
          if (!(await lock.stillHeld())) {
            throw new CertRenewError(
              ErrorCode.lockBusy,
              `${orphan.name}: lost its lock; nothing was removed`,
              {
                transient: true,
              },
            );
          }
          const retired = await store.retire(orphan.name, options.clock.now());
          line.outcome = 'pruned';
          line.removed = retired.removed;
          if (retired.archivedTo) line.archivedTo = retired.archivedTo;
          options.logger.info(
            `${orphan.name}: removed from store '${store.name}'${retired.archivedTo ? ` (kept in ${retired.archivedTo})` : ''}`,
          );
        },
      );
    } catch (error) {
      const wrapped = toCertRenewError(error, ErrorCode.internal);
      line.error = { code: wrapped.code, message: wrapped.oneLine };
      options.logger.error(
        wrapped.oneLine.startsWith(orphan.name) ? wrapped.oneLine : `${orphan.name}: ${wrapped.oneLine}`,
      );
    }
  }
  return lines;
}

/**
 * `prune --host HOST`, the finding: the certificates the manifest names whose store keeps a deployment
 * record of `host`, in manifest order, and the stores whose records could not be read. Never throws for a
 * store.
 */
export async function findHostRecords(
  session: Pick<Session, 'store' | 'certificates'>,
  host: string,
): Promise<{ found: { name: string; store: string }[]; unread: { store: string; error: string }[] }> {
  const byStore = groupBy(session.certificates, (c) => c.storeName);
  const holding = new Set<string>();
  const unread: { store: string; error: string }[] = [];
  for (const [storeName, certificates] of byStore) {
    const names = certificates.map((c) => c.name);
    try {
      const store = await session.store(storeName);
      if (!isDeploymentStore(store)) continue;
      const deployments = await store.loadDeployments(names);
      for (const name of names) if (deployments.get(name)?.[host]) holding.add(`${storeName}\n${name}`);
    } catch (error) {
      unread.push({ store: storeName, error: describeError(error) });
    }
  }
  const found = session.certificates
    .filter((c) => holding.has(`${c.storeName}\n${c.name}`))
    .map((c) => ({ name: c.name, store: c.storeName }));
  return { found, unread };
}

/** `prune --host HOST`, the act: removes each record (or, with `dryRun`, says it would). Never throws. */
export async function forgetHostRecords(
  session: Pick<Session, 'store'>,
  host: string,
  found: readonly { name: string; store: string }[],
  dryRun: boolean,
): Promise<ForgetHostReport['forgotten']> {
  const lines: ForgetHostReport['forgotten'] = [];
  for (const { name, store: storeName } of found) {
    if (dryRun) {
      lines.push({ name, store: storeName, outcome: 'would-forget' });
      continue;
    }
    try {
      const store = await session.store(storeName);
      if (isDeploymentStore(store)) await store.forgetDeployment(name, host);
      lines.push({ name, store: storeName, outcome: 'forgotten' });
    } catch (error) {
      const e = toCertRenewError(error, ErrorCode.storeWrite, `store '${storeName}'`);
      lines.push({ name, store: storeName, outcome: 'failed', error: { code: e.code, message: e.oneLine } });
    }
  }
  return lines;
}
