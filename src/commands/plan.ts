import { type CliIO, type GlobalOptions, useColour } from '../cli.js';
import { ExitCode } from '../errors.js';
import type { Plan } from '../plan/build-plan.js';
import { domainsCell, painter, renderTable, shortDate, shortLeft } from '../report/table.js';
import { commandLogger, openAndPlan, type SelectionOptions } from './common.js';

export interface PlanOptions extends SelectionOptions {
  json?: boolean;
  force?: boolean;
}

export function renderPlan(plan: Plan, colour: boolean): string {
  const c = painter(colour);
  const action = (a: string) =>
    a === 'renew' ? c.yellow(a) : a === 'keep' ? c.green(a) : a === 'error' ? c.red(a) : c.magenta(a);
  const rows = plan.items.map((i) => [
    i.name,
    domainsCell(i.domains),
    shortDate(i.notAfter),
    shortLeft(i.remainingSeconds),
    action(i.action),
    i.reason ?? '-',
    i.message,
  ]);
  const s = plan.summary;
  return (
    renderTable(['NAME', 'DOMAINS', 'NOT AFTER', 'LEFT', 'ACTION', 'REASON', 'WHY'], rows) +
    `\n${s.total} certificate(s): ${s.renew} to renew, ${s.keep} fine, ${s.backoff} backing off, ${s.error} unreadable store\n`
  );
}

/** `cert-renew plan`: gather → decide → print. Changes nothing. Exit 0, or 1 when a store cannot be read. */
export async function planCommand(globals: GlobalOptions, options: PlanOptions, io: CliIO): Promise<number> {
  const logger = commandLogger(globals, io);
  const { session, plan } = await openAndPlan(globals, options, io, logger);
  try {
    io.stdout(options.json ? `${JSON.stringify(plan, null, 2)}\n` : renderPlan(plan, useColour(io)));
    return plan.summary.error > 0 ? ExitCode.failure : ExitCode.ok;
  } finally {
    await session.close();
  }
}
