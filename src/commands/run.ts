import { describeError, ExitCode } from '../errors.js';
import { executeRun } from '../execute/run.js';
import { runMetrics, writeAtomically } from '../report/metrics.js';
import { formatOf } from '../report/reporter.js';
import { runReporters } from '../report/run.js';
import {
  commandLogger,
  hostIdOf,
  openAndPlan,
  parseDurationOption,
  type SelectionOptions,
} from './common.js';
import { type CliIO, type GlobalOptions, reportOptions, writeReport } from './io.js';

export interface RunCommandOptions extends SelectionOptions {
  dryRun?: boolean;
  force?: boolean;
  concurrency?: number;
  json?: boolean;
  metricsFile?: string;
  timeout?: string;
  lockWait?: string;
  /** `--new-local-ca`: create a new local CA where one is gone (docs/issuers.md). */
  newLocalCa?: boolean;
}

/** `cert-renew run`: the cron job. Exit 0 when everything is fine, 1 when any certificate or hook failed. */
export async function runCommand(
  globals: GlobalOptions,
  options: RunCommandOptions,
  io: CliIO,
): Promise<number> {
  const startedAt = io.clock.now();
  const logger = commandLogger(globals, io);
  const lockWaitMs = parseDurationOption('--lock-wait', options.lockWait ?? '5m');
  const deadlineMs = parseDurationOption('--timeout', options.timeout ?? '10m');
  const force = options.force ?? false;
  // A real run keeps the CA's renewal information in the stores until its Retry-After; a dry run writes
  // nothing.
  const keepRenewalInfo = !(options.dryRun ?? false);
  const { session, run, intervalMs } = await openAndPlan(
    globals,
    { ...options, force, keepRenewalInfo },
    io,
    logger,
  );
  let hostId: string;
  try {
    hostId = hostIdOf(options.hostId, session);
  } catch (error) {
    await session.close();
    throw error;
  }
  try {
    const report = await executeRun(
      run,
      {
        dryRun: options.dryRun ?? false,
        force,
        concurrency: options.concurrency ?? 4,
        runIntervalMs: intervalMs,
        lockWaitMs,
        deadlineMs,
        hostId,
        startedAt,
        ...(io.interrupt ? { interrupt: io.interrupt } : {}),
      },
      { session, clock: io.clock, logger, env: io.env },
    );
    // The report first: what was renewed must be said even if the metrics file cannot be written.
    writeReport(io, runReporters[formatOf(options)](report, await reportOptions(io)));
    if (options.metricsFile && !report.dryRun) {
      try {
        await writeAtomically(options.metricsFile, runMetrics(report, run.plan.items, hostId));
      } catch (error) {
        logger.error(describeError(error));
        return ExitCode.failure;
      }
    }
    return report.exitCode;
  } finally {
    await session.close();
  }
}
