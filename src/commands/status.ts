import { describeError, ExitCode } from '../errors.js';
import { statusMetrics, writeAtomically } from '../report/metrics.js';
import { formatOf } from '../report/reporter.js';
import { statusReport, statusReporters } from '../report/status.js';
import { commandLogger, openAndPlan, type SelectionOptions } from './common.js';
import { type CliIO, type GlobalOptions, useColour } from './io.js';

export interface StatusOptions extends SelectionOptions {
  check?: boolean;
  json?: boolean;
  metricsFile?: string;
}

/**
 * `cert-renew status`: plans without `--force` and prints each certificate's health (policy/readiness.ts).
 * Exit 0, or with `--check` the health code (0 valid, 1 warning, 2 critical); a metrics file that cannot
 * be written makes it at least 1.
 */
export async function statusCommand(
  globals: GlobalOptions,
  options: StatusOptions,
  io: CliIO,
): Promise<number> {
  const logger = commandLogger(globals, io);
  const { session, run } = await openAndPlan(
    globals,
    { ...options, force: false, orphans: true },
    io,
    logger,
  );
  try {
    const status = statusReport(run.plan);
    io.stdout(statusReporters[formatOf(options)](status, { colour: useColour(io) }));
    if (options.metricsFile) {
      try {
        await writeAtomically(options.metricsFile, statusMetrics(run.plan.items, new Date(status.at)));
      } catch (error) {
        logger.error(describeError(error));
        return options.check ? Math.max(status.exitCode, ExitCode.failure) : ExitCode.failure;
      }
    }
    return options.check ? status.exitCode : ExitCode.ok;
  } finally {
    await session.close();
  }
}
