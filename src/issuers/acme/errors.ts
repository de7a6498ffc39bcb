/**
 * acme-client and the transport throw plain errors; this turns them into coded CertRenewErrors that keep
 * the CA's own `detail`. Transient (retried in the run): connection failures, 5xx, 429/rateLimited,
 * badNonce. Permanent (reported at once): everything the CA refused on purpose.
 */
import {
  AlreadyRevokedError,
  CertRenewError,
  describeError,
  ErrorCode,
  IssuerVerdict,
} from '../../errors.js';
import { clockBehindHint } from '../../policy/clock.js';
import type { Clock } from '../../runtime/clock.js';
import { TLS_TRUST_CODES } from '../../util/tls.js';
import { AcmeConnectionError, AcmeProblemError, type AcmeSubproblem } from './transport.js';

export interface AcmeErrorContext {
  /** The certificate being issued; absent for issuer-wide work (dry run, ARI). */
  certName?: string;
  issuerName: string;
  directoryUrl: string;
  /** What was being done: "creating the account", "creating the order" … */
  step: string;
  /** Whether EAB credentials were configured (a hint about which to check). */
  eabConfigured?: boolean;
  /** badNonce details acme-client was given back; a plain Error with one of them means it gave up. */
  badNonceDetails?: ReadonlySet<string>;
  /** This machine's clock: named in the hint when the server's TLS certificate is not valid yet. */
  clock?: Clock;
}

/** Problem types that describe a failed validation rather than a refusal. */
const VALIDATION_TYPES = new Set(['connection', 'dns', 'incorrectResponse', 'tls', 'unauthorized']);

const HINTS: Record<string, string> = {
  externalAccountRequired:
    'the CA requires External Account Binding: set eab (kid and hmacKey) on the issuer',
  rejectedIdentifier: 'the CA will not issue for this name',
  unsupportedIdentifier: 'the CA will not issue for this kind of name',
  caa: "check that the domain's CAA records allow this CA",
  badCSR: 'the CA refused the CSR (key type or names)',
  badPublicKey: 'the CA refused the key type',
  badSignatureAlgorithm: 'the CA refused the signature algorithm',
  userActionRequired: "accept the CA's new terms of service",
  accountDoesNotExist: 'the stored ACME account is unknown to this CA',
  invalidProfile: "use one of the profiles the CA's directory lists",
};

function prefix(context: AcmeErrorContext): string {
  const who = `ACME issuer ${context.issuerName}`;
  return context.certName ? `certificate ${context.certName}: ${who}` : who;
}

function subproblemText(subproblems: readonly AcmeSubproblem[]): string {
  const parts = subproblems
    .slice(0, 3)
    .map((s) => `${s.identifier ? `${s.identifier.value}: ` : ''}${s.detail || s.type}`);
  return parts.length ? ` [${parts.join('; ')}]` : '';
}

/** Wraps anything an ACME call threw. A CertRenewError passes through unchanged. */
export function acmeError(error: unknown, context: AcmeErrorContext): CertRenewError {
  if (error instanceof CertRenewError) return error;
  const where = `${prefix(context)}: ${context.step}`;
  if (error instanceof AcmeConnectionError) {
    const host = hostOf(error.url) ?? context.directoryUrl;
    if (error.code === 'CERT_NOT_YET_VALID') {
      // The CA bundle is not the problem: by this machine's clock the server's certificate is not valid yet.
      return new CertRenewError(
        ErrorCode.issuerUnavailable,
        `${where}: the TLS certificate of ${host} is not valid yet by this machine's clock (${error.code})`,
        { cause: error, hint: clockBehindHint(context.clock?.now()) },
      );
    }
    if (TLS_TRUST_CODES.has(error.code)) {
      return new CertRenewError(
        ErrorCode.issuerUnavailable,
        `${where}: ${host} is not trusted (${error.code})`,
        {
          cause: error,
          hint: 'set caBundle to the PEM file of the CA that signed the ACME server certificate',
        },
      );
    }
    return new CertRenewError(ErrorCode.issuerUnavailable, `${where}: cannot reach ${host} (${error.code})`, {
      cause: error,
      transient: true,
      hint: 'check that the ACME server is up and the directory URL is right',
    });
  }
  if (error instanceof AcmeProblemError) {
    const detail = `${error.detail || `HTTP ${error.status}`}${subproblemText(error.subproblems)}`;
    const typed = error.type ? ` (${error.type})` : '';
    const message = `${where}: ${detail}${typed}`;
    if (error.type === 'badNonce' || error.type === 'serverInternal' || error.status >= 500) {
      return new CertRenewError(ErrorCode.issuerUnavailable, message, {
        cause: error,
        transient: true,
        ...(error.retryAfter === undefined ? {} : { retryAfter: error.retryAfter }),
      });
    }
    if (error.type === 'rateLimited' || error.status === 429) {
      return new CertRenewError(ErrorCode.issuerUnavailable, message, {
        cause: error,
        transient: true,
        ...(error.retryAfter === undefined ? {} : { retryAfter: error.retryAfter }),
        hint:
          error.retryAfter === undefined
            ? 'rate limited by the CA'
            : `rate limited by the CA; it asks not to be asked again before ${(error.retryAt ?? new Date(Date.now() + error.retryAfter * 1000)).toISOString()} (Retry-After ${error.retryAfter}s); cert-renew holds this certificate back until then`,
      });
    }
    if (VALIDATION_TYPES.has(error.type) && !context.step.includes('account')) {
      return new CertRenewError(ErrorCode.challengeFailed, message, { cause: error });
    }
    let hint = HINTS[error.type];
    if (
      !hint &&
      context.step.includes('account') &&
      (error.type === 'unauthorized' || error.type === 'malformed')
    ) {
      hint = context.eabConfigured ? 'check the eab kid and hmacKey' : undefined;
    }
    return new CertRenewError(ErrorCode.issuerRejected, message, { cause: error, ...(hint ? { hint } : {}) });
  }
  const text = describeError(error);
  if (context.badNonceDetails?.has(text)) {
    return new CertRenewError(
      ErrorCode.issuerUnavailable,
      `${where}: the CA kept rejecting nonces: ${text}`,
      {
        cause: error,
        transient: true,
      },
    );
  }
  return new CertRenewError(ErrorCode.issuerRejected, `${where}: ${text}`, { cause: error });
}

/**
 * A failed validation, from the problem the CA put on the challenge (or authorization): the CA's verdict
 * (IssuerVerdict), which an interruption after it does not replace.
 */
export function challengeError(
  context: AcmeErrorContext,
  identifier: string,
  challengeType: string,
  problem: { type: string; detail: string; subproblems: AcmeSubproblem[] } | undefined,
  hint: string | undefined,
): CertRenewError {
  const detail = problem
    ? `${problem.detail || 'no detail'}${subproblemText(problem.subproblems)}${problem.type ? ` (${problem.type})` : ''}`
    : 'the authorization is invalid and the CA gave no reason';
  const code =
    problem && !VALIDATION_TYPES.has(problem.type) && problem.type !== ''
      ? ErrorCode.issuerRejected
      : ErrorCode.challengeFailed;
  return new IssuerVerdict(
    code,
    `${prefix(context)}: the CA could not validate ${identifier} by ${challengeType}: ${detail}`,
    hint ? { hint } : {},
  );
}

/** The certificate's deadline passed while waiting (not while retrying an error). */
export function deadlineError(context: AcmeErrorContext): CertRenewError {
  return new CertRenewError(
    ErrorCode.issuerTimeout,
    `${prefix(context)}: ${context.step} did not finish before the certificate's deadline`,
    { transient: true, hint: 'the CA is slow or validation is stuck; the next run tries again' },
  );
}

/** The ACME problem type behind an error (`accountDoesNotExist`, `alreadyReplaced` …), if the CA sent one. */
export function problemTypeOf(error: unknown): string | undefined {
  const cause = error instanceof CertRenewError ? error.cause : error;
  return cause instanceof AcmeProblemError ? cause.type : undefined;
}

/**
 * The error as it leaves `issue()`: anything not yet coded is wrapped (`acmeError`), and the certificate's
 * name is put in front once (issuer-wide work such as the directory or the account reports without it).
 */
export function forCertificate(error: unknown, context: AcmeErrorContext): CertRenewError {
  const { certName, issuerName } = context;
  if (!(error instanceof CertRenewError)) return acmeError(error, context);
  if (!certName || error.message.startsWith(`certificate ${certName}: `)) return error;
  const issuerWide = error.message.startsWith(`ACME issuer ${issuerName}`);
  const message = `certificate ${certName}: ${issuerWide ? '' : `ACME issuer ${issuerName}: `}${error.message}`;
  const options = {
    cause: error.cause ?? error,
    exitCode: error.exitCode,
    transient: error.transient,
    ...(error.retryAfter === undefined ? {} : { retryAfter: error.retryAfter }),
    ...(error.hint ? { hint: error.hint } : {}),
  };
  // Kept apart: `revoke` treats "already revoked" as revoked (execute/revoke.ts).
  if (error instanceof AlreadyRevokedError) return new AlreadyRevokedError(message, options);
  return new CertRenewError(error.code, message, options);
}

function hostOf(url: string): string | undefined {
  try {
    return new URL(url).host;
  } catch {
    return undefined;
  }
}
