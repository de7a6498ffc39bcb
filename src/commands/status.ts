import { type CliIO, type GlobalOptions, useColour } from '../cli.js';
import { describeError, ExitCode } from '../errors.js';
import type { PlanItem } from '../plan/build-plan.js';
import { Reason } from '../policy/reasons.js';
import { statusMetrics, writeAtomically } from '../report/metrics.js';
import { domainsCell, painter, renderTable, shortDate, shortLeft } from '../report/table.js';
import { commandLogger, openAndPlan, type SelectionOptions } from './common.js';

export interface StatusOptions extends SelectionOptions {
  check?: boolean;
  json?: boolean;
  metricsFile?: string;
}

/**
 * valid: not due, no recorded failures. warning: due, or renewal failures recorded, or a change the next
 * run applies (domains, key type, issuer) while the certificate still works. critical: expired, missing,
 * unreadable, key mismatch, or the store cannot be read.
 */
export type Health = 'valid' | 'warning' | 'critical';

const CRITICAL_REASONS = new Set<string>([
  Reason.missing,
  Reason.unreadable,
  Reason.keyMismatch,
  Reason.expired,
]);

export function healthOf(item: PlanItem): Health {
  if (item.action === 'error' || (item.reason && CRITICAL_REASONS.has(item.reason))) return 'critical';
  if (item.action !== 'keep' || (item.failures?.count ?? 0) > 0) return 'warning';
  return 'valid';
}

/** `status --check` exit codes: 0 all valid, 1 some warning, 2 some critical. */
export function checkExitCode(items: PlanItem[]): number {
  const health = items.map(healthOf);
  if (health.includes('critical')) return 2;
  if (health.includes('warning')) return 1;
  return 0;
}

export async function statusCommand(
  globals: GlobalOptions,
  options: StatusOptions,
  io: CliIO,
): Promise<number> {
  const logger = commandLogger(globals, io);
  const { session, plan } = await openAndPlan(globals, { ...options, force: false }, io, logger);
  try {
    const now = new Date(plan.generatedAt);
    const items = plan.items.map((item) => ({ ...item, health: healthOf(item) }));
    const code = checkExitCode(plan.items);
    if (options.json) {
      io.stdout(
        `${JSON.stringify({ version: 1, command: 'status', at: now.toISOString(), exitCode: code, certificates: items }, null, 2)}\n`,
      );
    } else {
      const c = painter(useColour(io));
      const paint = (h: Health) => (h === 'valid' ? c.green(h) : h === 'warning' ? c.yellow(h) : c.red(h));
      const rows = items.map((i) => [
        i.name,
        domainsCell(i.domains),
        shortDate(i.notAfter),
        shortLeft(i.remainingSeconds),
        paint(i.health),
        i.failures
          ? `${i.message}; ${i.failures.count} failed attempt(s), last: ${i.failures.lastError ?? '?'}`
          : i.message,
      ]);
      io.stdout(renderTable(['NAME', 'DOMAINS', 'NOT AFTER', 'LEFT', 'HEALTH', 'DETAIL'], rows));
      const count = (h: Health) => items.filter((i) => i.health === h).length;
      io.stdout(
        `\n${items.length} certificate(s): ${count('valid')} valid, ${count('warning')} warning, ${count('critical')} critical\n`,
      );
    }
    if (options.metricsFile) {
      try {
        await writeAtomically(options.metricsFile, statusMetrics(plan.items, now));
      } catch (error) {
        logger.error(describeError(error));
        return options.check ? Math.max(code, ExitCode.failure) : ExitCode.failure;
      }
    }
    return options.check ? code : ExitCode.ok;
  } finally {
    await session.close();
  }
}
