/**
 * `cert-renew status`: each planned certificate with its health (policy/readiness.ts), as a table or as
 * the public JSON (docs/operations.md), and the `--check` exit code.
 */
import type { OrphanItem, Plan, PlanItem } from '../plan/model.js';
import type { FleetHost } from '../policy/deployment.js';
import { checkExitCode, type Health, healthOf } from '../policy/readiness.js';
import { type ChunkedReporter, type Format, jsonPieces, type ReportOptions } from './reporter.js';
import { domainsCell, orphansSection, shortDate, shortLeft, tablePieces } from './table.js';

/** What `status --json` prints. */
export interface StatusReport {
  version: 1;
  command: 'status';
  /** When the plan was made (ISO 8601). */
  at: string;
  /** The `--check` exit code: 0 all valid, 1 some warning, 2 some critical. */
  exitCode: number;
  certificates: (PlanItem & { health: Health; served?: ServedLine[] })[];
  /** Certificates the stores hold that the manifest no longer names (never part of the exit code). */
  orphans?: OrphanItem[];
}

/** `status --probe`: what one `verify` endpoint serves, against the stored certificate. */
export interface ServedLine {
  endpoint: string;
  /** The served leaf is the stored one. */
  ok: boolean;
  serial?: string;
  fingerprint?: string;
  error?: string;
}

/** The status of a plan (made without `--force`), with `--probe`'s findings by name. Pure. */
export function statusReport(plan: Plan, served?: ReadonlyMap<string, ServedLine[]>): StatusReport {
  const certificates = plan.items.map((item) => {
    const lines = served?.get(item.name);
    const withServed = lines ? { ...item, served: lines } : item;
    return { ...withServed, health: healthOf(withServed) };
  });
  const report: StatusReport = {
    version: 1,
    command: 'status',
    at: new Date(plan.generatedAt).toISOString(),
    exitCode: checkExitCode(certificates.map((c) => c.health)),
    certificates,
  };
  if (plan.orphans) report.orphans = plan.orphans;
  return report;
}

function* statusTable(status: StatusReport, { paint: c }: ReportOptions): Generator<string> {
  const paint = (h: Health) => (h === 'valid' ? c.green(h) : h === 'warning' ? c.yellow(h) : c.red(h));
  const items = status.certificates;
  const row = (n: number): string[] => {
    const i = items[n] as StatusReport['certificates'][number];
    // A backing-off item's message already says how many attempts failed and until when; the last error
    // is added. "next attempt not before" only when an attempt would come at all: the certificate is due
    // and the failures were renewals (a failed reload of a stored certificate holds nothing back).
    let detail = i.message;
    if (i.failures) {
      detail +=
        i.action === 'backoff'
          ? `; last: ${i.failures.lastError ?? '?'}`
          : `; ${i.failures.count} failed attempt(s), last: ${i.failures.lastError ?? '?'}${i.failures.retryAt && i.action === 'renew' && !i.hooksPending ? `; next attempt not before ${i.failures.retryAt}` : ''}`;
    } else if (i.hooksPending) {
      // Recorded without a failure: the run that stored it was interrupted before its hooks finished.
      detail += '; post-renew hooks pending (the run that stored it was interrupted; the next run runs them)';
    }
    const last = i.revocations?.[0];
    if (last && i.reason !== 'revoked') {
      detail += `; previous certificate ${last.serial} revoked (${last.reason}) at ${last.revokedAt}`;
    }
    // Not twice: a renewal refused for the same reason recorded it as the last error already.
    if (i.issuerProblem && !(i.failures?.lastError ?? '').includes(i.issuerProblem.slice(0, 80)))
      detail += `; ${i.issuerProblem}`;
    if (i.hosts && i.hosts.length > 0) detail += `; hosts: ${hostsCell(i.hosts)}`;
    for (const l of i.served ?? []) {
      detail += l.ok
        ? `; ${l.endpoint} serves the stored certificate`
        : `; ${l.error ?? `${l.endpoint}: not served`}`; // the error names the endpoint itself
    }
    return [
      i.name,
      domainsCell(i.domains),
      shortDate(i.notAfter),
      shortLeft(i.remainingSeconds),
      paint(i.health),
      detail,
    ];
  };
  yield* tablePieces(['NAME', 'DOMAINS', 'NOT AFTER', 'LEFT', 'HEALTH', 'DETAIL'], items.length, row);
  const count = (h: Health) => items.filter((i) => i.health === h).length;
  yield `\n${items.length} certificate(s): ${count('valid')} valid, ${count('warning')} warning, ${count('critical')} critical\n${orphansSection(status.orphans ?? [])}`;
}

/** `a current, b behind since 2030-01-02 03:04 (overdue)`. */
/** Why a host that is not current matters: what it still serves, or that it is overdue. */
function hostNote(h: FleetHost): string {
  const serves = `serves serial ${h.serial ?? '?'}`;
  if (h.revoked) return ` (${serves}, revoked: ${h.revoked.reason})`;
  if (h.expired) return ` (${serves}, expired ${h.expired.notAfter.slice(0, 16).replace('T', ' ')}Z)`;
  return h.overdue ? ' (overdue)' : '';
}

function hostsCell(hosts: FleetHost[]): string {
  return hosts
    .map((h) =>
      h.state === 'current'
        ? `${h.host} current`
        : `${h.host} ${h.state} since ${h.behindSince?.slice(0, 16).replace('T', ' ') ?? '?'}${hostNote(h)}`,
    )
    .join(', ');
}

export const statusReporters: Readonly<Record<Format, ChunkedReporter<StatusReport>>> = {
  human: statusTable,
  json: (status) => jsonPieces(status),
};
