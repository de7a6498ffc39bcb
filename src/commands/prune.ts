import { ExitCode, UsageError } from '../errors.js';
import { findHostRecords, forgetHostRecords, pruneOrphans } from '../execute/prune.js';
import type { OrphanItem } from '../plan/model.js';
import { findOrphans } from '../plan/orphans.js';
import {
  type ForgetHostReport,
  forgetHostReporters,
  type PruneReport,
  pruneReporters,
} from '../report/lifecycle.js';
import { formatOf } from '../report/reporter.js';
import { HOST_ID_PATTERN } from '../stores/types.js';
import type { RevocationReason } from '../x509/revocation.js';
import { commandLogger, hostIdOf, openSession, parseDurationOption, parseInterval } from './common.js';
import { confirmed } from './confirm.js';
import { type CliIO, type GlobalOptions, reportOptions } from './io.js';

export interface PruneCommandOptions {
  dryRun?: boolean;
  yes?: boolean;
  /** `--revoke [reason]`: true means cessationOfOperation. */
  revoke?: boolean | RevocationReason;
  json?: boolean;
  timeout?: string;
  lockWait?: string;
  /** `--host HOST`: forget a retired host's deployment records instead of pruning orphans. */
  host?: string;
  /** `--host-id ID`: this host's id (default: deployment.hostId, else the hostname). */
  hostId?: string;
  /** `--force`: also remove orphans that other hosts have deployed. */
  force?: boolean;
}

/**
 * `cert-renew prune [NAME…]`: removes orphans (certificates a store holds that the manifest no longer
 * names; all of them, or the NAMEs given) from their stores. `--dry-run` lists what would go and changes
 * nothing; otherwise `--yes` or a confirmation on a terminal. Exit 0 when every orphan asked for was
 * removed (or nothing was orphaned), 1 when one could not be, 2 for a usage error (a NAME still in the
 * manifest, or not held by any store; no confirmation).
 */
export async function pruneCommand(
  globals: GlobalOptions,
  names: string[],
  options: PruneCommandOptions,
  io: CliIO,
): Promise<number> {
  if (options.host !== undefined) return forgetHost(globals, names, options, io);
  const logger = commandLogger(globals, io);
  const lockWaitMs = parseDurationOption('--lock-wait', options.lockWait ?? '5m');
  const deadlineMs = parseDurationOption('--timeout', options.timeout ?? '10m');
  const session = await openSession(globals, io, logger, parseInterval(undefined));
  try {
    const unlisted: { store: string; error: string }[] = [];
    const all = await findOrphans(session, io.clock.now(), logger, unlisted);
    let orphans = all;
    if (names.length > 0) {
      const named = new Set(session.certificates.map((c) => c.name));
      const stillNamed = names.filter((n) => named.has(n) && !all.some((o) => o.name === n));
      if (stillNamed.length > 0) {
        throw new UsageError(`the manifest still names ${stillNamed.join(', ')}: not an orphan`, {
          hint: 'remove it from the manifest first (or revoke it with cert-renew revoke)',
        });
      }
      const unknown = names.filter((n) => !all.some((o) => o.name === n));
      if (unknown.length > 0) {
        throw new UsageError(`no store holds an orphaned certificate named ${unknown.join(', ')}`);
      }
      orphans = all.filter((o) => names.includes(o.name));
    }
    refuseDeployedElsewhere(orphans, hostIdOf(options.hostId, session), options.force ?? false);
    const dryRun = options.dryRun ?? false;
    const revoke = options.revoke === true ? 'cessationOfOperation' : options.revoke || undefined;
    if (!dryRun && orphans.length > 0) {
      // Which hosts deployed each one: prune removes it for every host that shares the store.
      const list = orphans
        .map((o) => `${o.name} (${o.store}${o.deployedOn ? `, deployed on ${o.deployedOn.join(', ')}` : ''})`)
        .join(', ');
      const question = `${revoke ? `Revoke (${revoke}) and remove` : 'Remove'} ${orphans.length} orphaned certificate(s): ${list}?`;
      if (!(await confirmed(io, options.yes, question, 'nothing was removed'))) {
        logger.warn('nothing removed');
        return ExitCode.failure;
      }
    }
    const lines = await pruneOrphans(session, orphans, {
      dryRun,
      ...(revoke ? { revoke } : {}),
      lockWaitMs,
      deadlineMs,
      clock: io.clock,
      logger,
      ...(io.interrupt ? { interrupt: io.interrupt } : {}),
    });
    const report: PruneReport = {
      version: 1,
      command: 'prune',
      at: io.clock.now().toISOString(),
      dryRun,
      exitCode:
        lines.some((l) => l.outcome === 'failed') || unlisted.length > 0 ? ExitCode.failure : ExitCode.ok,
      orphans: lines,
      ...(unlisted.length > 0 ? { unlistedStores: unlisted } : {}),
    };
    io.stdout(pruneReporters[formatOf(options)](report, await reportOptions(io)));
    return report.exitCode;
  } finally {
    await session.close();
  }
}

/**
 * Throws a UsageError (exit 2, nothing removed) naming the orphans that hosts other than `hostId` have a
 * deployment record of, unless `force`: a store shared with another manifest (the same keyPrefix or path)
 * holds that manifest's live certificates as orphans of this one (docs/operations.md "Orphans").
 */
function refuseDeployedElsewhere(orphans: readonly OrphanItem[], hostId: string, force: boolean): void {
  if (force) return;
  const elsewhere = orphans
    .map((o) => ({ o, hosts: (o.deployedOn ?? []).filter((h) => h !== hostId) }))
    .filter(({ hosts }) => hosts.length > 0);
  if (elsewhere.length === 0) return;
  const list = elsewhere.map(({ o, hosts }) => `${o.name} (store '${o.store}') on ${hosts.join(', ')}`);
  throw new UsageError(
    `not pruned: other hosts than this one (${hostId}) have deployed ${list.join('; ')}; another manifest sharing the store may still use ${elsewhere.length === 1 ? 'it' : 'them'}`,
    {
      hint: 'check that those hosts no longer need it, then prune --force (or name only the other orphans); give each manifest its own keyPrefix or path',
    },
  );
}

/**
 * `cert-renew prune --host HOST`: a retired host's deployment records, one per certificate the manifest
 * names, are removed from the stores, so `status` stops reporting that host behind (docs/hooks.md). The
 * certificates themselves are untouched. `--dry-run` lists them; otherwise `--yes` or a confirmation.
 * Exit 0 when every record was removed (or there were none), 1 when one could not be or a store could
 * not be read, 2 for a usage error.
 */
async function forgetHost(
  globals: GlobalOptions,
  names: string[],
  options: PruneCommandOptions,
  io: CliIO,
): Promise<number> {
  const host = options.host as string;
  if (names.length > 0 || options.revoke !== undefined) {
    throw new UsageError('--host forgets a host: it takes no certificate names and no --revoke', {
      hint: 'prune --host HOST alone; prune orphans in another call',
    });
  }
  if (!HOST_ID_PATTERN.test(host)) {
    throw new UsageError(`'${host}' is not a host id (letters, digits, '.', '_', '-'; at most 128)`);
  }
  const logger = commandLogger(globals, io);
  const session = await openSession(globals, io, logger, parseInterval(undefined));
  try {
    const { found, unread } = await findHostRecords(session, host);
    const dryRun = options.dryRun ?? false;
    if (!dryRun && found.length > 0) {
      const question = `Forget host ${host}: remove its deployment records of ${found.map((f) => f.name).join(', ')}?`;
      if (!(await confirmed(io, options.yes, question, 'nothing was removed'))) {
        logger.warn('nothing removed');
        return ExitCode.failure;
      }
    }
    const forgotten = await forgetHostRecords(session, host, found, dryRun);
    const report: ForgetHostReport = {
      version: 1,
      command: 'prune',
      at: io.clock.now().toISOString(),
      dryRun,
      host,
      exitCode:
        forgotten.some((f) => f.outcome === 'failed') || unread.length > 0 ? ExitCode.failure : ExitCode.ok,
      forgotten,
      ...(unread.length > 0 ? { unreadStores: unread } : {}),
    };
    io.stdout(forgetHostReporters[formatOf(options)](report, await reportOptions(io)));
    return report.exitCode;
  } finally {
    await session.close();
  }
}
