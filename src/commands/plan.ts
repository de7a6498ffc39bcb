import { ExitCode } from '../errors.js';
import { planReporters } from '../report/plan.js';
import { formatOf } from '../report/reporter.js';
import { commandLogger, openAndPlan, type SelectionOptions } from './common.js';
import { type CliIO, type GlobalOptions, reportOptions, writeReport } from './io.js';

export interface PlanOptions extends SelectionOptions {
  json?: boolean;
  force?: boolean;
}

/** `cert-renew plan`: gather → decide → print. Changes nothing. Exit 0, or 1 when a store cannot be read. */
export async function planCommand(globals: GlobalOptions, options: PlanOptions, io: CliIO): Promise<number> {
  const logger = commandLogger(globals, io);
  // Only the plan is kept: the planned records (each certificate's metadata, deployments and ARI window) are
  // garbage before the report is written, which is when a large plan's heap peaks.
  const {
    session,
    run: { plan },
  } = await openAndPlan(globals, { ...options, orphans: true }, io, logger);
  try {
    writeReport(io, planReporters[formatOf(options)](plan, await reportOptions(io)));
    return plan.summary.error > 0 ? ExitCode.failure : ExitCode.ok;
  } finally {
    await session.close();
  }
}
