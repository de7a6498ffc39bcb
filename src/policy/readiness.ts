/**
 * Readiness: how healthy a certificate is now, for `status` and its `--check` exit code. The same named
 * checks as the renewal decision feed it (cert-manager keeps a trigger chain and a readiness chain over one
 * set of policies): the decision's reason carries a severity, and the readiness chain adds what the
 * decision does not say (an unreadable store, failed attempts, hooks still pending).
 */
import { Reason } from './reasons.js';

/**
 * valid: not due, no recorded failures. warning: due, or renewal failures recorded, or a change the next
 * run applies (domains, key type, issuer) while the certificate still works. critical: expired, missing,
 * not yet valid, unreadable, revoked, key mismatch, or the store cannot be read.
 */
export type Health = 'valid' | 'warning' | 'critical';

/** How bad each reason is for a certificate in service now. */
export const REASON_SEVERITY: Readonly<Record<Reason, Health>> = {
  [Reason.missing]: 'critical',
  [Reason.unreadable]: 'critical',
  [Reason.revoked]: 'critical',
  [Reason.keyMismatch]: 'critical',
  [Reason.expired]: 'critical',
  [Reason.notYetValid]: 'critical',
  [Reason.linksReplaced]: 'warning',
  [Reason.domainsChanged]: 'warning',
  [Reason.keyTypeChanged]: 'warning',
  [Reason.issuerChanged]: 'warning',
  [Reason.ariWindow]: 'warning',
  [Reason.withinRenewWindow]: 'warning',
  [Reason.safetyFloor]: 'warning',
  [Reason.forced]: 'warning',
  [Reason.ok]: 'valid',
};

/** What readiness looks at: a plan item (structurally, so policy does not depend on the plan module). */
export interface ReadinessInput {
  /** `error` when the store could not be read. */
  action: string;
  reason?: Reason;
  failures?: { count: number };
  hooksPending?: boolean;
  /**
   * The fleet view (policy/deployment.ts): a host overdue or failed warns; one still serving a certificate
   * revoked for keyCompromise, or one that has expired, is critical.
   */
  hosts?: { overdue?: boolean; revoked?: { reason: string }; expired?: { notAfter: string } }[];
  /** `status --probe`: an endpoint that does not serve the stored certificate warns. */
  served?: { ok: boolean }[];
  /** Renewing it would fail now (its issuer's state: the local CA gone): warns. */
  issuerProblem?: string;
}

export type ReadinessCheck = (input: ReadinessInput) => Health | null;

/** The store could not be read: nothing is known, assume the worst. */
export const storeUnreadable: ReadinessCheck = (input) => (input.action === 'error' ? 'critical' : null);
/** A host still serves a certificate revoked for keyCompromise: its key is in other hands. */
export const hostServesCompromised: ReadinessCheck = (input) =>
  input.hosts?.some((h) => h.revoked?.reason === 'keyCompromise') ? 'critical' : null;
/** A host has not deployed the stored version and what it did deploy has expired: clients refuse it. */
export const hostServesExpired: ReadinessCheck = (input) =>
  input.hosts?.some((h) => h.expired) ? 'critical' : null;
/** The decision's reason, by its severity (ok says nothing, so later checks may still warn). */
export const reasonSeverity: ReadinessCheck = (input) => {
  const severity = input.reason === undefined ? null : REASON_SEVERITY[input.reason];
  return severity === 'valid' ? null : severity;
};
/** Failed attempts since the last success (a failed reload counts: hooksPending records it). */
export const failuresRecorded: ReadinessCheck = (input) =>
  (input.failures?.count ?? 0) > 0 || input.hooksPending ? 'warning' : null;

/** A host has not deployed the stored version within the grace period, or its hooks failed for it. */
export const hostBehind: ReadinessCheck = (input) => (input.hosts?.some((h) => h.overdue) ? 'warning' : null);

/** `status --probe`: some `verify` endpoint serves another certificate, or cannot be reached. */
export const notServed: ReadinessCheck = (input) => (input.served?.some((s) => !s.ok) ? 'warning' : null);

/** Renewing would fail now, whatever the time left (the local CA that issued it is gone): warns. */
export const issuerBlocked: ReadinessCheck = (input) => (input.issuerProblem ? 'warning' : null);

/** The readiness chain, first that fires wins; none firing means valid. */
export const readinessChecks: readonly ReadinessCheck[] = [
  storeUnreadable,
  hostServesCompromised,
  hostServesExpired,
  reasonSeverity,
  failuresRecorded,
  issuerBlocked,
  hostBehind,
  notServed,
];

export function healthOf(input: ReadinessInput): Health {
  for (const check of readinessChecks) {
    const health = check(input);
    if (health) return health;
  }
  return 'valid';
}

/** `status --check` exit codes by health (documented in docs/operations.md): the worst certificate wins. */
export const CHECK_EXIT_CODE: Readonly<Record<Health, number>> = { valid: 0, warning: 1, critical: 2 };

/** `status --check`: 0 all valid, 1 some warning, 2 some critical. */
export function checkExitCode(health: readonly Health[]): number {
  return health.reduce((worst, h) => Math.max(worst, CHECK_EXIT_CODE[h]), CHECK_EXIT_CODE.valid);
}
