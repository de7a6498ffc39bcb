/**
 * Errors with stable codes. Commands throw these; only `cli.ts` turns them into exit codes.
 * Third-party errors (acme-client throws plain strings, ioredis its own classes) are wrapped at the
 * adapter that calls them, so everything above the adapters sees a `CertRenewError`.
 */

import { safeText } from './util/text.js';
export const ExitCode = {
  ok: 0,
  /** At least one certificate failed (issue, store or hook). For `validate`: the manifest is invalid. */
  failure: 1,
  /** Usage error, unreadable or invalid manifest: nothing was attempted. */
  usage: 2,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

export const ErrorCode = {
  usage: 'USAGE',
  manifestUnreadable: 'MANIFEST_UNREADABLE',
  manifestInvalid: 'MANIFEST_INVALID',
  secretUnavailable: 'SECRET_UNAVAILABLE',
  storeUnavailable: 'STORE_UNAVAILABLE',
  storeCorrupt: 'STORE_CORRUPT',
  storeWrite: 'STORE_WRITE_FAILED',
  lockBusy: 'LOCK_BUSY',
  issuerUnavailable: 'ISSUER_UNAVAILABLE',
  issuerRejected: 'ISSUER_REJECTED',
  issuerTimeout: 'ISSUER_TIMEOUT',
  challengeFailed: 'CHALLENGE_FAILED',
  verifyFailed: 'VERIFY_FAILED',
  hookFailed: 'HOOK_FAILED',
  hookTimeout: 'HOOK_TIMEOUT',
  /** `verify`: an endpoint serves another certificate than the stored one after the hooks. */
  servedMismatch: 'SERVED_MISMATCH',
  /** `verify`: an endpoint could not be reached over TLS after the hooks. */
  servedUnreachable: 'SERVED_UNREACHABLE',
  notFound: 'NOT_FOUND',
  backoff: 'BACKOFF',
  interrupted: 'INTERRUPTED',
  internal: 'INTERNAL',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

const ERROR_CODES: ReadonlySet<string> = new Set(Object.values(ErrorCode));

/** Whether a string read back from a store is one of the codes (an unknown one is dropped, not trusted). */
export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && ERROR_CODES.has(value);
}

export interface CertRenewErrorOptions {
  cause?: unknown;
  exitCode?: ExitCode;
  /** Whether retrying soon may succeed (connection refused, 5xx, badNonce, 429). */
  transient?: boolean;
  /** Seconds the server asked us to wait (Retry-After). */
  retryAfter?: number;
  /** A short hint telling the operator what to do. */
  hint?: string;
}

export class CertRenewError extends Error {
  readonly code: ErrorCode;
  readonly exitCode: ExitCode;
  readonly transient: boolean;
  readonly retryAfter: number | undefined;
  readonly hint: string | undefined;

  constructor(code: ErrorCode, message: string, options: CertRenewErrorOptions = {}) {
    // Messages echo what CAs, child processes and manifests said: shown without URL userinfo or control
    // characters, whatever the caller passed.
    super(safeText(message), options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'CertRenewError';
    this.code = code;
    this.exitCode = options.exitCode ?? ExitCode.failure;
    this.transient = options.transient ?? false;
    this.retryAfter = options.retryAfter;
    this.hint = options.hint === undefined ? undefined : safeText(options.hint);
  }

  /** One line for the operator: the message, then what to do. */
  get oneLine(): string {
    return this.hint ? `${this.message} (${this.hint})` : this.message;
  }
}

export class UsageError extends CertRenewError {
  constructor(message: string, options: Omit<CertRenewErrorOptions, 'exitCode'> = {}) {
    super(ErrorCode.usage, message, { ...options, exitCode: ExitCode.usage });
    this.name = 'UsageError';
  }
}

/**
 * The issuer says the certificate is already revoked (ACME `alreadyRevoked`, a serial already in the local
 * CA's list, step-ca's "already revoked"). Not a failure of `revoke`: the certificate is out of service
 * either way, so `revoke` records it and replaces it like one it revoked itself (execute/revoke.ts).
 */
export class AlreadyRevokedError extends CertRenewError {
  constructor(message: string, options: Omit<CertRenewErrorOptions, 'exitCode'> = {}) {
    super(ErrorCode.issuerRejected, message, options);
    this.name = 'AlreadyRevokedError';
  }
}

/**
 * The first error of class `kind` in `error` and its `cause` chain (at most 8 deep: a chain that loops
 * ends), or undefined.
 */
export function inCauses<T>(error: unknown, kind: abstract new (...args: never[]) => T): T | undefined {
  for (let e = error, depth = 0; e !== undefined && e !== null && depth < 8; depth++) {
    if (e instanceof kind) return e;
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}

/**
 * The issuer's own verdict on a certificate's request, given before anything stopped the run: the CA could
 * not validate a challenge, or found an authorization invalid (RFC 8555 §7.1.6). It stands when the run is
 * interrupted after it (during the dns-01 cleanup that follows it): the engine (execute/renew.ts) reports
 * and records it instead of INTERRUPTED (docs/operations.md "Interrupted runs"). Found in the error's
 * `cause` chain (`IssuerVerdict.within`); it has no `cause` of its own, so wrappers that keep
 * `error.cause ?? error` keep it.
 */
export class IssuerVerdict extends CertRenewError {
  constructor(code: ErrorCode, message: string, options: Pick<CertRenewErrorOptions, 'hint'> = {}) {
    super(code, message, options);
    this.name = 'IssuerVerdict';
  }

  /** The IssuerVerdict in `error` or its `cause` chain, if any. */
  static within(error: unknown): IssuerVerdict | undefined {
    return inCauses(error, IssuerVerdict);
  }
}

/** What the certificate's deadline is, for a step that explains being stopped by it. */
export interface Deadline {
  ms: number;
  /** How messages show it: `15s` (it is set by `--timeout`). */
  text: string;
}

/**
 * The certificate's deadline (or an interruption) stopped a step that can say what it was doing and what
 * to change: a dns-01 propagation delay or check, a dns-01 provider still writing its record. `step` is
 * the part of the message after "in" ("the dns-01 propagation delay (propagationDelay 1h)"); `explain`
 * turns the deadline into the hint and whether a later run can succeed (`transient: false` when the
 * settings themselves cannot fit in the deadline). The engine (execute/renew.ts) finds it in the error's
 * `cause` chain and words the ISSUER_TIMEOUT line with it. It has no `cause` of its own, so wrappers that
 * keep `error.cause ?? error` keep it.
 */
export class StoppedAtDeadline extends CertRenewError {
  readonly step: string;
  readonly explain: (deadline: Deadline) => { hint: string; transient: boolean };

  /**
   * `options`: the issuer-level message (default "stopped at the certificate's deadline in <step>") and
   * hint (default none), for callers that do not go through the engine.
   */
  constructor(
    step: string,
    explain: (deadline: Deadline) => { hint: string; transient: boolean },
    options: { message?: string; hint?: string } = {},
  ) {
    super(ErrorCode.issuerTimeout, options.message ?? `stopped at the certificate's deadline in ${step}`, {
      transient: true,
      ...(options.hint === undefined ? {} : { hint: options.hint }),
    });
    this.name = 'StoppedAtDeadline';
    this.step = safeText(step);
    this.explain = explain;
  }

  /** The StoppedAtDeadline in `error` or its `cause` chain, if any. */
  static within(error: unknown): StoppedAtDeadline | undefined {
    return inCauses(error, StoppedAtDeadline);
  }
}

/** A bug in cert-renew, not something the operator caused. */
export class InternalError extends CertRenewError {
  constructor(message: string, options: Omit<CertRenewErrorOptions, 'exitCode'> = {}) {
    super(ErrorCode.internal, message, { ...options, exitCode: ExitCode.failure });
    this.name = 'InternalError';
  }
}

/** Anything thrown (strings included) as one readable line, without a stack. */
export function describeError(error: unknown): string {
  if (error instanceof CertRenewError) return error.oneLine;
  if (error instanceof Error) return safeText(error.message.split('\n')[0] ?? error.name);
  if (typeof error === 'string') return safeText(error.split('\n')[0] ?? error);
  try {
    return safeText(JSON.stringify(error) ?? String(error));
  } catch {
    return safeText(String(error));
  }
}

/** Wraps any thrown value into a CertRenewError with the given code (keeps an existing one as it is). */
export function toCertRenewError(error: unknown, code: ErrorCode, prefix?: string): CertRenewError {
  if (error instanceof CertRenewError) return error;
  const message = describeError(error);
  return new CertRenewError(code, prefix ? `${prefix}: ${message}` : message, { cause: error });
}
