import type { ResolvedCertificate } from '../manifest/types.js';
import type { Logger } from '../runtime/logger.js';
import type { Store, StoredCertificate } from '../stores/types.js';

export interface IssueRequest {
  /** The manifest entry being issued (resolved: issuer, store, key type, domains). */
  entry: ResolvedCertificate;
  /** The private key the certificate is for (PKCS#8 PEM), and a CSR signed with it. */
  keyPem: string;
  csrPem: string;
  /** What the store holds now, when it is usable (step-ca renews with it; ACME sends `replaces`). */
  current: StoredCertificate | undefined;
  /** The certificate's store: issuers keep account keys / their CA there. */
  store: Store;
  now: Date;
  /** Aborted at the per-certificate deadline. */
  signal: AbortSignal;
  logger: Logger;
}

export interface IssueResult {
  certPem: string;
  /** Intermediates, PEM, may be empty. */
  chainPem: string;
  /** How it was obtained, for the report ("local-ca", "acme order", "step-ca renew"). */
  via: string;
}

export interface IssuerCheckContext {
  store: Store;
  certs: ResolvedCertificate[];
  signal: AbortSignal;
}

export interface Issuer {
  readonly name: string;
  readonly type: 'acme' | 'step-ca' | 'local-ca';
  /** Default for `reuseKey` when the manifest does not say (step-ca: true, so it can use /1.0/renew). */
  readonly defaultReuseKey: boolean;
  issue(request: IssueRequest): Promise<IssueResult>;
  /** Dry run: proves the issuer answers (and is who it should be) without ordering anything. */
  check(context: IssuerCheckContext): Promise<string>;
  /** Trust anchors (PEM) the issued chain must verify against, when known. */
  trustAnchors?(store: Store): Promise<string[]>;
  close?(): Promise<void>;
}

/** Optional ability: ACME Renewal Information (RFC 9773). */
export interface RenewalInfoCapable {
  renewalWindow(
    cert: StoredCertificate,
    signal: AbortSignal,
  ): Promise<{ start: Date; end: Date } | undefined>;
}

export function isRenewalInfoCapable(issuer: Issuer): issuer is Issuer & RenewalInfoCapable {
  return typeof (issuer as Partial<RenewalInfoCapable>).renewalWindow === 'function';
}
