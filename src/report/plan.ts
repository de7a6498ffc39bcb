/** `cert-renew plan`: the plan as a table, or as the public JSON (docs/operations.md). */
import type { Plan, PlanAction, PlanItem } from '../plan/model.js';
import { type ChunkedReporter, type Format, jsonPieces, type ReportOptions } from './reporter.js';
import { domainsCell, orphansSection, shortDate, shortLeft, tablePieces } from './table.js';

function* planTable(plan: Plan, { paint: c }: ReportOptions): Generator<string> {
  const action = (a: PlanAction) =>
    a === 'renew' ? c.yellow(a) : a === 'keep' ? c.green(a) : a === 'error' ? c.red(a) : c.magenta(a);
  const items = plan.items;
  yield* tablePieces(
    ['NAME', 'DOMAINS', 'NOT AFTER', 'LEFT', 'ACTION', 'REASON', 'WHY'],
    items.length,
    (n) => {
      const i = items[n] as PlanItem;
      return [
        i.name,
        domainsCell(i.domains),
        shortDate(i.notAfter),
        shortLeft(i.remainingSeconds),
        action(i.action),
        i.reason ?? '-',
        i.message,
      ];
    },
  );
  const s = plan.summary;
  yield `\n${s.total} certificate(s): ${s.renew} to renew, ${s.keep} fine, ${s.backoff} backing off, ${s.error} unreadable store\n${orphansSection(plan.orphans ?? [])}`;
}

export const planReporters: Readonly<Record<Format, ChunkedReporter<Plan>>> = {
  human: planTable,
  json: (plan) => jsonPieces(plan),
};
