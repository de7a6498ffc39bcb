/**
 * The `CERT_RENEW_*` environment a hook receives. Everything about the certificate arrives here, in
 * variables, and never inside a command line: a domain name is data, not shell text.
 */
import type { ErrorCode } from '../errors.js';
import type { Reason } from '../policy/reasons.js';
import type { CertificatePaths } from '../stores/types.js';

export type HookEvent = 'post-renew' | 'on-failure' | 'rollback';

export interface HookCertificateInfo {
  name: string;
  domains: string[];
  storeName: string;
  storeType: string;
  issuerName: string;
  notAfter?: Date;
  serial?: string;
  fingerprint?: string;
  /** Filesystem stores only. */
  paths?: CertificatePaths;
  /** Why it was renewed (the policy's reason code, CERT_RENEW_REASON). */
  reason?: Reason;
}

export interface FailureInfo {
  name: string;
  /** The error code, e.g. ISSUER_REJECTED. */
  code: ErrorCode;
  message: string;
}

/** Values are one line each; CR/LF and other control characters become spaces. */
function oneLine(text: string): string {
  return text.replace(/[\u0000-\u001f\u007f]+/g, ' ').trim();
}

/**
 * Variables describing the certificates a hook runs for. When one shared hook covers several
 * certificates, the single-certificate variables describe the FIRST of them; `CERT_RENEW_NAMES` lists all
 * and `CERT_RENEW_COUNT` counts them. Variables without a value (no paths in a Redis store, no serial) are
 * left out rather than set empty.
 */
export function certificateHookEnv(certs: HookCertificateInfo[], event: HookEvent): Record<string, string> {
  const env: Record<string, string> = {
    CERT_RENEW_EVENT: event,
    CERT_RENEW_NAMES: certs.map((cert) => cert.name).join(' '),
    CERT_RENEW_COUNT: String(certs.length),
  };
  const first = certs[0];
  if (!first) return env;
  env.CERT_RENEW_NAME = first.name;
  env.CERT_RENEW_DOMAINS = first.domains.join(' ');
  env.CERT_RENEW_STORE = first.storeName;
  env.CERT_RENEW_STORE_TYPE = first.storeType;
  env.CERT_RENEW_ISSUER = first.issuerName;
  if (first.paths) {
    env.CERT_RENEW_DIR = first.paths.dir;
    env.CERT_RENEW_CERT_PATH = first.paths.cert;
    env.CERT_RENEW_KEY_PATH = first.paths.privkey;
    env.CERT_RENEW_CHAIN_PATH = first.paths.chain;
    env.CERT_RENEW_FULLCHAIN_PATH = first.paths.fullchain;
  }
  if (first.notAfter) env.CERT_RENEW_NOT_AFTER = first.notAfter.toISOString();
  if (first.serial !== undefined) env.CERT_RENEW_SERIAL = first.serial;
  if (first.fingerprint !== undefined) env.CERT_RENEW_FINGERPRINT = first.fingerprint;
  if (first.reason !== undefined) env.CERT_RENEW_REASON = oneLine(first.reason);
  return env;
}

/**
 * Variables for an `onFailure` hook: the failed names, how many, and one `name: code: message` line per
 * failure. For a certificate's own onFailure hook, merge it over `certificateHookEnv([cert], 'on-failure')`.
 */
export function failureHookEnv(failures: FailureInfo[]): Record<string, string> {
  return {
    CERT_RENEW_EVENT: 'on-failure',
    CERT_RENEW_FAILED_NAMES: failures.map((failure) => failure.name).join(' '),
    CERT_RENEW_FAILED_COUNT: String(failures.length),
    CERT_RENEW_FAILURES: failures
      .map((failure) => `${failure.name}: ${failure.code}: ${oneLine(failure.message)}`)
      .join('\n'),
  };
}
