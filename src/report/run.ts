/** `cert-renew run`: the run report as tables, or as the public JSON (docs/operations.md). */
import type { Outcome, RunReport } from './model.js';
import { type ChunkedReporter, type Format, jsonPieces, type ReportOptions } from './reporter.js';
import { renderTable, shortDate, tablePieces } from './table.js';

function* runTable(report: RunReport, { paint: c }: ReportOptions): Generator<string> {
  const paint = (outcome: Outcome) => {
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
  const certificates = report.certificates;
  yield* tablePieces(['NAME', 'OUTCOME', 'REASON', 'NOT AFTER', 'DETAIL'], certificates.length, (n) => {
    const r = certificates[n] as RunReport['certificates'][number];
    return [
      r.name,
      paint(r.outcome),
      r.reason ?? '-',
      shortDate(r.notAfter),
      r.error ? `${r.error.code}: ${r.error.message}` : r.message,
    ];
  });
  let out = '';
  if (report.hooks.length > 0) {
    out += '\n';
    out += renderTable(
      ['HOOK', 'EVENT', 'RESULT', 'FOR'],
      report.hooks.map((h) => [
        h.name,
        h.event,
        h.ok ? c.green('ok') : c.red(h.error ?? 'failed'),
        h.certificates.length > 10
          ? `${h.certificates.slice(0, 10).join(' ')} and ${h.certificates.length - 10} more`
          : h.certificates.join(' '),
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
  // A failed check fails the rehearsal even when no certificate is due (a hook that is not found today
  // fails at the next renewal): said in the summary, which otherwise reads "0 failed" for exit code 1.
  const failedChecks = (report.checks ?? []).filter((k) => !k.ok).length;
  if (failedChecks > 0) parts.push(`${failedChecks} check(s) failed`);
  out += `\n${report.dryRun ? 'dry run (nothing was changed): ' : ''}${s.total} certificate(s): ${parts.join(', ')}\n`;
  if (report.interrupted) out += `${c.red('INTERRUPTED')}: ${report.interrupted}\n`;
  if (report.error) out += `${c.red(report.error.code)}: ${report.error.message}\n`;
  yield out;
}

export const runReporters: Readonly<Record<Format, ChunkedReporter<RunReport>>> = {
  human: runTable,
  json: (report) => jsonPieces(report),
};
