/**
 * The run report: what `cert-renew run --json` prints (documented in docs/operations.md). Versioned: fields
 * are only ever added within a version.
 */
import type { ErrorCode } from '../errors.js';
import type { HookResult } from '../hooks/run.js';
import type { PlanItem } from '../plan/model.js';

export const REPORT_VERSION = 1;

/**
 * What happened to one certificate in a run (a public JSON value; never rename one):
 *
 * - renewed: issued and stored (hooks may still have failed: see `error`);
 * - fresh: the plan said due, but the re-check under the certificate's lock (not with `--force`) found the
 *   stored certificate not due, and nothing was issued. Either it is the very certificate the plan saw and
 *   the second look decided otherwise, or the store's certificate carries no recorded fingerprint (put there
 *   by another tool), so a replacement cannot be told from the original. Not a failure; nothing to do;
 * - renewed-elsewhere: the re-check under the lock found a different certificate than the plan saw: another
 *   host (or run) renewed it during this run;
 * - ok: not due; would-renew: dry run; backoff: due but held back after recent failures;
 * - rolled-back: renewed, a post-renew hook failed, the previous certificate was restored;
 * - failed: not renewed (or stored but its post-renew hook failed).
 */
export type Outcome =
  | 'renewed'
  | 'fresh'
  | 'renewed-elsewhere'
  | 'ok'
  | 'would-renew'
  | 'backoff'
  | 'rolled-back'
  | 'failed';

export const FAILING_OUTCOMES: ReadonlySet<Outcome> = new Set<Outcome>(['failed', 'rolled-back', 'backoff']);

/** A hook run, as the run report lists it. */
export interface HookRunReport extends HookResult {
  event: 'post-renew' | 'rollback' | 'on-failure';
  /** The certificates this hook ran for. */
  certificates: string[];
}

/** One certificate's line of the run report: its plan item's identity and decision, then what happened. */
export interface CertificateReport
  extends Pick<PlanItem, 'name' | 'domains' | 'issuer' | 'store' | 'action' | 'reason'> {
  message: string;
  outcome: Outcome;
  error?: { code: ErrorCode; message: string };
  /** The certificate in the store after the run. */
  notAfter?: string;
  serial?: string;
  fingerprint?: string;
  /** How a renewed certificate was obtained. */
  via?: string;
  previousNotAfter?: string;
  /** Names of the hooks that ran for it (details in `hooks`). */
  hooks: string[];
  /** `verify`: what each endpoint served after the hooks. */
  served?: { endpoint: string; ok: boolean; serial?: string; fingerprint?: string; error?: string }[];
  /**
   * Set when this run's failure could not be recorded in the store (so `status` cannot see it): why. The
   * metrics carry it as `cert_renew_last_run_unrecorded_failures`.
   */
  attemptNotRecorded?: string;
  /**
   * The run was interrupted before this certificate's post-renew hooks (or `verify`) finished: what is stored
   * stays, the hooks are recorded pending (no failure) and the next run runs them.
   */
  hooksPending?: true;
  durationMs: number;
}

export interface CheckReport {
  /** `certificate`: a check of one certificate alone (dns-01 names, zones, nameservers). */
  kind: 'issuer' | 'store' | 'certificate' | 'hook';
  name: string;
  ok: boolean;
  message: string;
}

export interface RunReport {
  version: typeof REPORT_VERSION;
  command: 'run';
  dryRun: boolean;
  forced: boolean;
  startedAt: string;
  finishedAt: string;
  durationMs: number;
  exitCode: number;
  summary: Record<Outcome, number> & { total: number };
  certificates: CertificateReport[];
  hooks: HookRunReport[];
  /** Dry run only: what was checked. */
  checks?: CheckReport[];
  /** Something unexpected failed after the renewals (a bug): the certificates above are still true. */
  error?: { code: ErrorCode; message: string };
  /**
   * The run was interrupted (SIGINT, SIGTERM, SIGHUP): one line saying by what and what it left (hooks
   * pending, certificates not attempted). The exit code is then 1.
   */
  interrupted?: string;
}

export function summarize(certificates: CertificateReport[]): RunReport['summary'] {
  const summary = {
    total: certificates.length,
    renewed: 0,
    fresh: 0,
    'renewed-elsewhere': 0,
    ok: 0,
    'would-renew': 0,
    backoff: 0,
    'rolled-back': 0,
    failed: 0,
  };
  for (const c of certificates) summary[c.outcome] += 1;
  return summary;
}
