import { type CliIO, type GlobalOptions, useColour } from '../cli.js';
import { describeError, ExitCode } from '../errors.js';
import { executeRun } from '../execute/run.js';
import { runMetrics, writeAtomically } from '../report/metrics.js';
import type { RunReport } from '../report/model.js';
import { painter, renderTable, shortDate } from '../report/table.js';
import { commandLogger, openAndPlan, parseDurationOption, type SelectionOptions } from './common.js';

export interface RunCommandOptions extends SelectionOptions {
  dryRun?: boolean;
  force?: boolean;
  concurrency?: number;
  json?: boolean;
  metricsFile?: string;
  timeout?: string;
  lockWait?: string;
}

export function renderRunReport(report: RunReport, colour: boolean): string {
  const c = painter(colour);
  const paint = (outcome: string) => {
    switch (outcome) {
      case 'renewed':
      case 'would-renew':
        return c.cyan(outcome);
      case 'ok':
      case 'fresh':
      case 'renewed-elsewhere':
        return c.green(outcome);
      default:
        return c.red(outcome);
    }
  };
  const rows = report.certificates.map((r) => [
    r.name,
    paint(r.outcome),
    r.reason ?? '-',
    shortDate(r.notAfter),
    r.error ? `${r.error.code}: ${r.error.message}` : r.message,
  ]);
  let out = renderTable(['NAME', 'OUTCOME', 'REASON', 'NOT AFTER', 'DETAIL'], rows);
  if (report.hooks.length > 0) {
    out += '\n';
    out += renderTable(
      ['HOOK', 'EVENT', 'RESULT', 'FOR'],
      report.hooks.map((h) => [
        h.name,
        h.event,
        h.ok ? c.green('ok') : c.red(h.error ?? 'failed'),
        h.certificates.join(' '),
      ]),
    );
  }
  if (report.checks) {
    out += '\n';
    out += renderTable(
      ['CHECK', 'NAME', 'RESULT', 'DETAIL'],
      report.checks.map((k) => [k.kind, k.name, k.ok ? c.green('ok') : c.red('failed'), k.message]),
    );
  }
  const s = report.summary;
  const parts = [
    report.dryRun ? `${s['would-renew']} would be renewed` : `${s.renewed} renewed`,
    `${s.ok + s.fresh} fine`,
    s['renewed-elsewhere'] ? `${s['renewed-elsewhere']} renewed elsewhere` : '',
    s.backoff ? `${s.backoff} backing off` : '',
    s['rolled-back'] ? `${s['rolled-back']} rolled back` : '',
    `${s.failed} failed`,
  ].filter(Boolean);
  out += `\n${report.dryRun ? 'dry run (nothing was changed): ' : ''}${s.total} certificate(s): ${parts.join(', ')}\n`;
  return out;
}

/** `cert-renew run`: the cron job. Exit 0 when everything is fine, 1 when any certificate or hook failed. */
export async function runCommand(
  globals: GlobalOptions,
  options: RunCommandOptions,
  io: CliIO,
): Promise<number> {
  const logger = commandLogger(globals, io);
  const lockWaitMs = parseDurationOption('--lock-wait', options.lockWait ?? '5m');
  const deadlineMs = parseDurationOption('--timeout', options.timeout ?? '10m');
  const force = options.force ?? false;
  const { session, plan, seen, intervalMs } = await openAndPlan(globals, { ...options, force }, io, logger);
  try {
    const report = await executeRun(
      plan,
      seen,
      {
        dryRun: options.dryRun ?? false,
        force,
        concurrency: options.concurrency ?? 4,
        runIntervalMs: intervalMs,
        lockWaitMs,
        deadlineMs,
        ...(io.interrupt ? { interrupt: io.interrupt } : {}),
      },
      { session, clock: io.clock, logger, env: io.env },
    );
    // The report first: what was renewed must be said even if the metrics file cannot be written.
    io.stdout(options.json ? `${JSON.stringify(report, null, 2)}\n` : renderRunReport(report, useColour(io)));
    if (options.metricsFile && !report.dryRun) {
      try {
        await writeAtomically(options.metricsFile, runMetrics(report, plan.items));
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
