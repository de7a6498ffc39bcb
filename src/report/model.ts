/**
 * The run report: what `cert-renew run --json` prints (documented in docs/operations.md). Versioned: fields
 * are only ever added within a version.
 */
import type { HookRunReport } from '../execute/hooks.js';
import type { PlanAction } from '../plan/build-plan.js';

export const REPORT_VERSION = 1;

/**
 * renewed: issued and stored (hooks may still have failed: see `error`); fresh: due at plan time but fine
 * on the re-check under the lock; renewed-elsewhere: another host renewed it during this run; ok: not due;
 * would-renew: dry run; backoff: due but held back after recent failures; rolled-back: renewed, a hook
 * failed, the previous certificate was restored; failed: not renewed (or its hook failed).
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

export interface CertificateReport {
  name: string;
  domains: string[];
  issuer: string;
  store: string;
  action: PlanAction;
  reason?: string;
  message: string;
  outcome: Outcome;
  error?: { code: string; message: string };
  /** The certificate in the store after the run. */
  notAfter?: string;
  serial?: string;
  fingerprint?: string;
  /** How a renewed certificate was obtained. */
  via?: string;
  previousNotAfter?: string;
  /** Names of the hooks that ran for it (details in `hooks`). */
  hooks: string[];
  durationMs: number;
}

export interface CheckReport {
  kind: 'issuer' | 'store' | 'hook';
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
