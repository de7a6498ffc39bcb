import type { Logger } from '../../../runtime/logger.js';
import type { ProcessRunner } from '../../../runtime/process.js';
import type { Store } from '../../../stores/types.js';
import type { ValidationNameGate } from './dns-ca-cache.js';

/** One challenge to answer: what the CA asks for one identifier. */
export interface ChallengeTask {
  /** The identifier being validated (for a wildcard: the base name, without `*.`). */
  identifier: string;
  wildcard: boolean;
  token: string;
  /** http-01: the key authorization; dns-01: the TXT value (its SHA-256, base64url). */
  value: string;
  /** dns-01: `_acme-challenge.<identifier>.` */
  recordName?: string;
}

export interface ChallengeSolver {
  readonly type: 'http-01' | 'dns-01';
  /** For messages: "http-01 webroot /var/www/acme". */
  readonly description: string;
  /** A hint for the operator when validation fails. */
  readonly failureHint: string;
  /** Before the first task of an order (standalone starts listening). */
  open?(signal: AbortSignal): Promise<void>;
  present(task: ChallengeTask, signal: AbortSignal): Promise<void>;
  /** After every task was presented, before the CA is told to validate (DNS propagation). */
  settle?(tasks: readonly ChallengeTask[], signal: AbortSignal): Promise<void>;
  /**
   * After `settle`, just before the CA is told (dns-01: waits for the turn at the names and for the CA's
   * cached answer of an earlier order to expire; dns-ca-cache.ts). `validated` follows once the CA was asked.
   */
  awaitTurn?(tasks: readonly ChallengeTask[], signal: AbortSignal): Promise<void>;
  /** The CA was asked to validate and its answer settled (valid or not), or asking it failed. Never throws. */
  validated?(): void;
  /** The hint for a failed validation whose CA detail is `detail`, when it depends on it (else `failureHint`). */
  failureHintFor?(detail: string): string;
  /** Removes what `present` made. Never throws (failures are logged). */
  cleanup(task: ChallengeTask): Promise<void>;
  /** After the last cleanup of an order. Never throws. */
  close?(): Promise<void>;
  /** Dry run: proves the target is usable without answering anything. */
  check(): Promise<string>;
}

/**
 * Whether `recordName` carries `value` yet. The default is none (a fixed propagationDelay): resolving
 * through the system resolver proves little (caches, split horizon, the CA's own resolvers differ).
 */
export type PropagationCheck = (recordName: string, value: string, signal: AbortSignal) => Promise<boolean>;

/**
 * A dns-01 provider (exec, rfc2136, powerdns) as Dns01Solver drives it: `remove` throws when the record
 * could not be removed, so the wrapper can say which record of which certificate is left behind.
 */
export interface DnsProvider extends ChallengeSolver {
  /** Removes the TXT value `task.value` at `task.recordName`. Throws CertRenewError when it could not. */
  remove(task: ChallengeTask): Promise<void>;
  /**
   * At most how long one `remove` takes (ms): an interrupted run waits for it and says so
   * (docs/operations.md "Interrupted runs").
   */
  readonly removeTimeoutMs?: number;
  /** The zone (canonical) the record `name` was written in, when the provider knows it. */
  zoneOf?(name: string): string | undefined;
  /**
   * Dry run of one dns-01 record (optional; rfc2136 and powerdns): `recordName` (canonical, after CNAME
   * following) is checked as `present` would write it — its zone found at the provider and, where that
   * is possible without a change, the permission to update it — changing nothing. Resolves with the zone
   * and a note for the report; throws CertRenewError like `present`.
   */
  rehearseRecord?(recordName: string, signal: AbortSignal): Promise<{ zone: string; note: string }>;
}

export interface SolverContext {
  /** The certificate the order is for (messages name it); absent for issuer-wide work (dry runs). */
  certificateName?: string;
  baseDir: string;
  env: Readonly<Record<string, string | undefined>>;
  logger: Logger;
  getStore(name: string): Promise<Store>;
  issuerName: string;
  propagationCheck?: PropagationCheck;
  /** dns-01: the run's gate for names several orders validate (dns-ca-cache.ts); none: no waiting. */
  validationGate?: ValidationNameGate;
  /** Runs the dns-01 `exec` command; the real runner (src/runtime/process.ts) when absent. */
  runProcess?: ProcessRunner;
}
