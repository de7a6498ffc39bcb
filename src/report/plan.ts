/** `cert-renew plan`: the plan as a table, or as the public JSON (docs/operations.md). */
import type { Plan, PlanAction } from '../plan/model.js';
import { type Format, jsonText, type Reporter, type ReportOptions } from './reporter.js';
import { domainsCell, orphansSection, renderTable, shortDate, shortLeft } from './table.js';

function planTable(plan: Plan, { paint: c }: ReportOptions): string {
  const action = (a: PlanAction) =>
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
    `\n${s.total} certificate(s): ${s.renew} to renew, ${s.keep} fine, ${s.backoff} backing off, ${s.error} unreadable store\n` +
    orphansSection(plan.orphans ?? [])
  );
}

export const planReporters: Readonly<Record<Format, Reporter<Plan>>> = {
  human: planTable,
  json: (plan) => jsonText(plan),
};
