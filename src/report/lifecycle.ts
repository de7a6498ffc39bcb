/**
 * `cert-renew revoke` and `cert-renew prune`: their reports (public JSON, docs/operations.md) and their
 * reporters (a table, or the JSON). Pure.
 */
import type { ErrorCode } from '../errors.js';
import type { RevocationReason } from '../x509/revocation.js';
import type { RunReport } from './model.js';
import { type Format, jsonText, type Reporter, type ReportOptions } from './reporter.js';
import { runReporters } from './run.js';
import { renderTable, shortDate } from './table.js';

/** One certificate's line in the revoke (and prune) report. */
export interface RevokeLine {
  name: string;
  store: string;
  /** The issuer asked to revoke (the one that issued the stored certificate, by its metadata). */
  issuer?: string;
  serial?: string;
  notAfter?: string;
  outcome: 'revoked' | 'failed';
  reason: RevocationReason;
  via?: string;
  revokedAt?: string;
  error?: { code: ErrorCode; message: string };
}

/** One orphan's line in the prune report. */
export interface PruneLine {
  name: string;
  store: string;
  notAfter?: string;
  /** pruned: removed (archived on a filesystem store); would-prune: `--dry-run`; failed: nothing removed. */
  outcome: 'pruned' | 'would-prune' | 'failed';
  /** Filesystem: where the directory was kept (restore with `mv`, docs/operations.md). */
  archivedTo?: string;
  /** Paths or keys removed (with `--dry-run`: that would be). */
  removed?: string[];
  /** With `--revoke`: the revocation. */
  revocation?: RevokeLine;
  /** Hosts that had a deployment record for it (they may still serve it). */
  deployedOn?: string[];
  error?: { code: ErrorCode; message: string };
}

/** What `revoke --json` prints. */
export interface RevokeReport {
  version: 1;
  command: 'revoke';
  at: string;
  reason: RevocationReason;
  /** Whether the revoked certificates were renewed at once (not with `--no-renew`). */
  renew: boolean;
  /** 0 everything revoked (and renewed, hooks included); 1 something failed. */
  exitCode: number;
  certificates: RevokeLine[];
  /** The run that replaced them (absent with `--no-renew`, or when nothing was revoked). */
  run?: RunReport;
}

/** What `prune --json` prints. */
export interface PruneReport {
  version: 1;
  command: 'prune';
  at: string;
  dryRun: boolean;
  /** 0 every orphan asked for was removed (or would be); 1 something failed, or a store could not be listed. */
  exitCode: number;
  orphans: PruneLine[];
  /** Stores that could not be listed: their orphans, if any, are unknown (present only when some were). */
  unlistedStores?: { store: string; error: string }[];
}

/** What `prune --host HOST --json` prints: the retired host's deployment records, per certificate. */
export interface ForgetHostReport {
  version: 1;
  command: 'prune';
  at: string;
  dryRun: boolean;
  host: string;
  /** 0 every record was removed (or would be); 1 one could not be, or a store could not be read. */
  exitCode: number;
  /** Certificates the manifest names that had a record of `host`, manifest order. */
  forgotten: {
    name: string;
    store: string;
    outcome: 'forgotten' | 'would-forget' | 'failed';
    error?: { code: ErrorCode; message: string };
  }[];
  /** Stores whose records could not be read (present only when some could not). */
  unreadStores?: { store: string; error: string }[];
}

export function revokeFailed(line: RevokeLine): boolean {
  return line.outcome !== 'revoked' || line.error !== undefined;
}

function revokeTable(report: RevokeReport, options: ReportOptions): string {
  const c = options.paint;
  const rows = report.certificates.map((l) => [
    l.name,
    l.serial ?? '-',
    shortDate(l.notAfter),
    revokeFailed(l) ? c.red(l.outcome) : c.yellow(l.outcome),
    l.error ? l.error.message : `${l.reason} via ${l.via ?? '?'}`,
  ]);
  const revoked = report.certificates.filter((l) => l.outcome === 'revoked').length;
  let text =
    renderTable(['NAME', 'SERIAL', 'NOT AFTER', 'OUTCOME', 'DETAIL'], rows) +
    `\n${revoked} of ${report.certificates.length} certificate(s) revoked (${report.reason})\n`;
  if (report.run) text += `\nreplacement:\n${[...runReporters.human(report.run, options)].join('')}`;
  else if (!report.renew && revoked > 0) {
    text += `not renewed (--no-renew): the next run renews ${revoked === 1 ? 'it' : 'the revoked ones'} (reason revoked)\n`;
  } else if (!report.renew) {
    // Not "nothing is due": a certificate revoked earlier (--no-renew) is still due, whatever this did.
    text += 'nothing was revoked by this command; cert-renew plan says what the next run renews\n';
  }
  return text;
}

function pruneTable(report: PruneReport, { paint: c }: ReportOptions): string {
  const rows = report.orphans.map((l) => [
    l.name,
    l.store,
    shortDate(l.notAfter),
    l.outcome === 'failed' ? c.red(l.outcome) : c.yellow(l.outcome),
    l.error?.message ??
      [
        l.revocation ? `revoked (${l.revocation.reason})` : '',
        l.archivedTo ? `kept in ${l.archivedTo}` : '',
        l.deployedOn ? `was deployed on ${l.deployedOn.join(', ')}` : '',
      ]
        .filter(Boolean)
        .join('; '),
  ]);
  const done = report.orphans.filter((l) => l.outcome !== 'failed').length;
  const verb = report.dryRun ? 'would be removed (dry run: nothing changed)' : 'removed';
  const unlisted = (report.unlistedStores ?? [])
    .map((u) => `store '${u.store}' could not be listed (${u.error}): its orphans are unknown\n`)
    .join('');
  // A store that could not be listed comes first: "no orphans" is only true of the others.
  return report.orphans.length === 0
    ? unlisted
      ? `${unlisted}no orphaned certificates in the stores that could be listed\n`
      : 'no orphaned certificates\n'
    : `${renderTable(['NAME', 'STORE', 'NOT AFTER', 'OUTCOME', 'DETAIL'], rows)}\n${done} of ${report.orphans.length} orphaned certificate(s) ${verb}\n${unlisted}`;
}

export const revokeReporters: Readonly<Record<Format, Reporter<RevokeReport>>> = {
  human: revokeTable,
  json: (report) => jsonText(report),
};

export const pruneReporters: Readonly<Record<Format, Reporter<PruneReport>>> = {
  human: pruneTable,
  json: (report) => jsonText(report),
};

function forgetTable(report: ForgetHostReport, { paint: c }: ReportOptions): string {
  const rows = report.forgotten.map((l) => [
    l.name,
    l.store,
    l.outcome === 'failed' ? c.red(l.outcome) : c.yellow(l.outcome),
    l.error?.message ?? '',
  ]);
  const unread = (report.unreadStores ?? [])
    .map(
      (u) => `store '${u.store}' could not be read (${u.error}): its records of ${report.host} are unknown\n`,
    )
    .join('');
  if (report.forgotten.length === 0) return `no deployment records of host ${report.host}\n${unread}`;
  const done = report.forgotten.filter((l) => l.outcome !== 'failed').length;
  const verb = report.dryRun ? 'would be removed (dry run: nothing changed)' : 'removed';
  return `${renderTable(['NAME', 'STORE', 'OUTCOME', 'DETAIL'], rows)}\n${done} of ${report.forgotten.length} deployment record(s) of host ${report.host} ${verb}\n${unread}`;
}

export const forgetHostReporters: Readonly<Record<Format, Reporter<ForgetHostReport>>> = {
  human: forgetTable,
  json: (report) => jsonText(report),
};
