/**
 * What flows from gather to report, one record per certificate:
 *
 *   gather  creates a `GatheredRecord`  (the manifest entry + what its store and its CA's ARI said)
 *   plan    extends it to `PlannedRecord` (+ `item`, the decision; the PEMs are dropped)
 *   execute reads the planned record and returns the run report, certificate by certificate.
 *
 * `Plan` and `PlanItem` are the public JSON of `cert-renew plan --json` (docs/operations.md); `plan.items[i]`
 * is `records[i].item`, the same object. Fields are only ever added within a version.
 */
import type { CertRenewError, ErrorCode } from '../errors.js';
import type { SuggestedWindow } from '../issuers/types.js';
import type { ResolvedCertificate } from '../manifest/types.js';
import type { FleetHost } from '../policy/deployment.js';
import type { Reason } from '../policy/reasons.js';
import type { Deployments, LoadResult, RevocationRecord, StoredMeta } from '../stores/types.js';

export const PLAN_VERSION = 1;

/** renew: due now; keep: nothing to do; backoff: due but failed recently; error: the store could not be read. */
export type PlanAction = 'renew' | 'keep' | 'backoff' | 'error';

/** One certificate in `plan --json`. */
export interface PlanItem {
  name: string;
  domains: string[];
  issuer: string;
  store: string;
  action: PlanAction;
  /** The policy's reason code (docs/design.md "Policy"); absent only for `error`. */
  reason?: Reason;
  message: string;
  notBefore?: string;
  notAfter?: string;
  /** Remaining lifetime at plan time, in seconds (negative when expired). */
  remainingSeconds?: number;
  /** When the certificate becomes due, if it is not yet. */
  renewAt?: string;
  /** Failed attempts since the last success (from the store); `retryAt` is when backoff ends. */
  failures?: { count: number; lastAttempt: string; lastError?: string; retryAt?: string };
  /** The stored certificate's post-renew hooks have not succeeded yet: `run` runs them again. */
  hooksPending?: boolean;
  /**
   * The fleet view: every host that deployed this certificate, current or behind the stored version
   * (stores with deployment state only; absent when no host recorded one).
   */
  hosts?: FleetHost[];
  /** Set with action `error`: why the store could not be read. */
  error?: { code: ErrorCode; message: string };
  /** Revocations the store recorded for this name (`cert-renew revoke`), newest first; absent when none. */
  revocations?: { serial: string; reason: string; revokedAt: string; notAfter: string }[];
  /**
   * `status` only: why renewing the stored certificate would fail now, found in its issuer's own state
   * (the local CA it was issued by gone from the store, corrupt or expired), one line with what to do.
   */
  issuerProblem?: string;
}

/**
 * A certificate a store holds that the manifest no longer names (for that store): listed by `plan` and
 * `status`, removed by `prune`. Never a failure.
 */
export interface OrphanItem {
  name: string;
  store: string;
  /** What the store holds under the name (`missing`: only a failure record or a revocation log). */
  state: 'present' | 'unreadable' | 'missing';
  /** The issuer that issued it (from the stored metadata), when known. */
  issuer?: string;
  domains?: string[];
  notAfter?: string;
  /** Remaining lifetime at plan time, in seconds (negative when expired). */
  remainingSeconds?: number;
  /**
   * Hosts with a deployment record for it (stores/types.ts DeploymentStore), sorted: hosts that may still
   * serve it, from the store, so that `prune` (one host's decision, for the whole store) shows them.
   */
  deployedOn?: string[];
}

/** The whole plan: exactly what `cert-renew plan --json` prints. */
export interface Plan {
  version: typeof PLAN_VERSION;
  generatedAt: string;
  runIntervalSeconds: number;
  forced: boolean;
  summary: { total: number; renew: number; keep: number; backoff: number; error: number };
  items: PlanItem[];
  /**
   * Certificates the stores hold that the manifest no longer names; present (possibly empty) when they were
   * looked for: `plan` and `status` without `--only`/`--shard`.
   */
  orphans?: OrphanItem[];
}

export interface PlanOptions {
  now: Date;
  /** The timer's period in ms (for the safety floor and ARI); 24 h by default. */
  runIntervalMs: number;
  force?: boolean;
  /** How long a host may stay behind before it is overdue, ms; default two run intervals. */
  deployGraceMs?: number;
}

/** A window the CA suggests for renewing (ARI, RFC 9773 `suggestedWindow`); defined with the issuers. */
export type { SuggestedWindow };

/** What gather learned about revocations of one certificate (plan/revocations.ts). */
export interface RevocationFacts {
  /** The store's log, newest first (may be of earlier certificates of the name). */
  log: RevocationRecord[];
  /** Set when the CURRENT stored certificate is revoked. */
  current?: { reason: string; revokedAt: string };
}

/** What gather learned about one certificate. */
export interface GatheredRecord {
  readonly entry: ResolvedCertificate;
  /** What the store holds, PEMs included; undefined when the store itself could not be read. */
  readonly stored: LoadResult | undefined;
  /** Why the store could not be read (with `stored` undefined). */
  readonly storeError?: CertRenewError;
  /** The CA's suggested window for the stored certificate, when its issuer offers ARI and answered. */
  readonly ari?: SuggestedWindow;
  /** The store's revocation log for the name and whether the stored certificate is revoked. */
  readonly revocation?: RevocationFacts;
  /** What each host last deployed, when the store keeps deployment state (stores/types.ts). */
  readonly deployments?: Deployments;
}

/**
 * A gathered record once decided: the PEMs are gone (memory stays flat over thousands of certificates),
 * the stored metadata and the ARI window stay so the re-check under the lock decides as the plan did.
 */
export interface PlannedRecord {
  readonly entry: ResolvedCertificate;
  /**
   * The stored version at gather time, when a servable one was there: the store's metadata, or what the
   * certificate itself says when no metadata names it (build-plan.ts `storedVersion`).
   */
  readonly meta?: StoredMeta;
  readonly ari?: SuggestedWindow;
  /** The stored certificate is revoked (the re-check under the lock decides with it, as the plan did). */
  readonly revoked?: { reason: string; revokedAt: string };
  readonly deployments?: Deployments;
  /** The decision, as printed in `plan --json`. */
  readonly item: PlanItem;
}

/** A plan and the records it was made from, in manifest (selection) order: `plan.items[i] === records[i].item`. */
export interface PlannedRun {
  plan: Plan;
  records: PlannedRecord[];
}
