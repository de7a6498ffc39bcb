import { ExitCode } from '../errors.js';
import { revokeStored } from '../execute/revoke.js';
import { executeRun } from '../execute/run.js';
import { makePlan } from '../plan/plan.js';
import { selectCertificates } from '../plan/select.js';
import { type RevokeLine, type RevokeReport, revokeFailed, revokeReporters } from '../report/lifecycle.js';
import { formatOf } from '../report/reporter.js';
import type { RevocationReason } from '../x509/revocation.js';
import { commandLogger, hostIdOf, openSession, parseDurationOption, parseInterval } from './common.js';
import { confirmed } from './confirm.js';
import { type CliIO, type GlobalOptions, reportOptions } from './io.js';

export interface RevokeCommandOptions {
  reason: RevocationReason;
  /** false with `--no-renew`. */
  renew?: boolean;
  yes?: boolean;
  json?: boolean;
  timeout?: string;
  lockWait?: string;
  interval?: string;
  /** `--host-id`: this host's id in the deployment state the replacement records (as `run --host-id`). */
  hostId?: string;
}

/**
 * `cert-renew revoke NAME… --reason R`: revokes each stored certificate at the issuer that issued it
 * (execute/revoke.ts) and records it in the store; then, unless `--no-renew`, renews them at once as a
 * forced run (new key after keyCompromise; post-renew hooks run). Exit 0 when everything succeeded, 1 when
 * a revocation, renewal or hook failed, 2 for a usage error (unknown name, no confirmation).
 */
export async function revokeCommand(
  globals: GlobalOptions,
  names: string[],
  options: RevokeCommandOptions,
  io: CliIO,
): Promise<number> {
  const logger = commandLogger(globals, io);
  const lockWaitMs = parseDurationOption('--lock-wait', options.lockWait ?? '5m');
  const deadlineMs = parseDurationOption('--timeout', options.timeout ?? '10m');
  const intervalMs = parseInterval(options.interval);
  const renew = options.renew !== false;
  const session = await openSession(globals, io, logger, intervalMs);
  try {
    const entries = selectCertificates(session.certificates, { only: names, what: 'revoke names' });
    // Checked before anything is revoked: the replacement's hooks record this host's deployment under it.
    const hostId = hostIdOf(options.hostId, session);
    const question = `Revoke ${entries.length} certificate(s) (${entries.map((e) => e.name).join(', ')}) for ${options.reason}${renew ? ' and replace them' : ''}?`;
    if (!(await confirmed(io, options.yes, question, 'nothing was revoked'))) {
      logger.warn('nothing revoked');
      return ExitCode.failure;
    }
    const certificates: RevokeLine[] = [];
    for (const entry of entries) {
      const store = await session.store(entry.storeName);
      certificates.push(
        await revokeStored(session, store, entry.name, {
          reason: options.reason,
          lockWaitMs,
          deadlineMs,
          clock: io.clock,
          logger,
          fallbackIssuer: entry.issuerName,
          ...(io.interrupt ? { interrupt: io.interrupt } : {}),
        }),
      );
    }
    const report: RevokeReport = {
      version: 1,
      command: 'revoke',
      at: io.clock.now().toISOString(),
      reason: options.reason,
      renew,
      exitCode: ExitCode.ok,
      certificates,
    };
    const revoked = new Set(certificates.filter((l) => l.outcome === 'revoked').map((l) => l.name));
    if (renew && revoked.size > 0) {
      const plan = { now: io.clock.now(), runIntervalMs: intervalMs, force: true };
      const run = await makePlan(
        session,
        entries.filter((e) => revoked.has(e.name)),
        { logger, plan },
      );
      report.run = await executeRun(
        run,
        {
          dryRun: false,
          force: true,
          concurrency: 4,
          runIntervalMs: intervalMs,
          lockWaitMs,
          deadlineMs,
          hostId,
          ...(io.interrupt ? { interrupt: io.interrupt } : {}),
        },
        { session, clock: io.clock, logger, env: io.env },
      );
    }
    const failed = certificates.some(revokeFailed) || (report.run?.exitCode ?? ExitCode.ok) !== ExitCode.ok;
    report.exitCode = failed ? ExitCode.failure : ExitCode.ok;
    io.stdout(revokeReporters[formatOf(options)](report, await reportOptions(io)));
    return report.exitCode;
  } finally {
    await session.close();
  }
}
