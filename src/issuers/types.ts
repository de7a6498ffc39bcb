import type { ResolvedCertificate } from '../manifest/types.js';
import type { Logger } from '../runtime/logger.js';
import type { Store, StoredCertificate } from '../stores/types.js';
import type { RevocationReason } from '../x509/revocation.js';

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
  /** Aborted at the per-certificate deadline or when the run is interrupted (see `Issuer.issue`). */
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

/**
 * What the plan says of a due certificate, for `checkCertificate`: why it is due (the plan's reason) and
 * the stored certificate's validity (ISO 8601), when one is stored.
 */
export interface PlannedCertificate {
  reason?: string;
  notBefore?: string;
  notAfter?: string;
}

/**
 * An issuer: turns a CSR into a certificate. Implementations: acme (RFC 8555), step-ca (its native API),
 * local-ca. The contract below is what `execute/` relies on, and what tests/contract/issuer-contract.ts
 * checks against every implementation.
 */
export interface Issuer {
  readonly name: string;
  readonly type: 'acme' | 'step-ca' | 'local-ca';
  /** Default for `reuseKey` when the manifest does not say (step-ca: true, so it can use /1.0/renew). */
  readonly defaultReuseKey: boolean;
  /**
   * Obtains a certificate for `request.csrPem` (its key is `request.keyPem`; the names are
   * `request.entry.domains`). Resolves with the leaf and its intermediates; the caller verifies them (key,
   * names, chain up to `trustAnchors`, validity) before storing anything.
   *
   * Cancellation: `request.signal` is the certificate's deadline (and the run's interruption). Once it
   * has aborted, no new step is started and the call rejects promptly; only cleanup still talks to the
   * CA (ACME: deactivating pending authorizations, on a short deadline of its own). An already-aborted
   * signal rejects with ISSUER_TIMEOUT before the CA is contacted. An abort in the middle rejects with
   * ISSUER_TIMEOUT or with the failure it cut short (the transient error being retried, such as
   * ISSUER_UNAVAILABLE; a dns-01 command killed: CHALLENGE_FAILED). Whatever the signal's reason is, the
   * rejection is a CertRenewError, never that reason itself: the caller (execute/renew.ts) reports the
   * deadline or the interruption when the signal fired.
   *
   * Idempotence: `issue` writes no certificate anywhere (storing is the caller's job), so calling it again
   * after any failure — including a timeout in the middle — is safe, and is what the next run does. Each
   * call obtains a NEW certificate: nothing of an earlier, failed call is resumed or returned. What a
   * cut-off call may leave is issuer-side only and harmless: an ACME order left to expire (its pending
   * authorizations deactivated, its challenge answers removed) or even a certificate issued but never
   * downloaded; a step-ca certificate signed but never received. Shared state is created once and reused
   * (the ACME account in the store, the local CA): concurrent and repeated calls agree on it.
   *
   * Errors: only CertRenewError. Codes:
   * - ISSUER_UNAVAILABLE: the CA cannot be reached or answers 5xx / 429 (transient), its TLS certificate
   *   is not trusted, or (local-ca) the CA has expired;
   * - ISSUER_REJECTED: the CA refused on purpose (names, key, lifetime, account, profile, provisioner or
   *   its password, a root that is not the pinned one);
   * - ISSUER_TIMEOUT: the signal aborted, or (acme) polling the CA ran out of its budget (transient);
   * - CHALLENGE_FAILED (acme): the challenge answer could not be put in place or did not validate;
   * - SECRET_UNAVAILABLE: a secret reference (EAB key, provisioner password) cannot be read;
   * - STORE_UNAVAILABLE / STORE_WRITE_FAILED / STORE_CORRUPT: the store that keeps the issuer's own state
   *   (ACME account, local CA) failed or holds a corrupt record;
   * - MANIFEST_INVALID (step-ca): `rootFingerprint` is not a SHA-256 fingerprint (exit code 2);
   * - INTERNAL: a bug (e.g. acme-client's internals changed).
   * `transient` on the error says whether trying again soon may succeed.
   */
  issue(request: IssueRequest): Promise<IssueResult>;
  /**
   * Dry run: proves the issuer answers (and is who it should be) and that what `issue` would need is in
   * place, WITHOUT ordering, signing, registering or writing anything (a local CA that does not exist yet
   * is not created; an ACME account is looked up, not registered). One attempt per request: it reports,
   * it does not wait. Resolves with one line saying what was checked; rejects with the codes of `issue`.
   */
  check(context: IssuerCheckContext): Promise<string>;
  /**
   * Dry run, one certificate (optional): what its own order would hit before the CA is asked, changing
   * nothing (ACME dns-01: each `_acme-challenge` name resolved as `issue` would, its zone found at the
   * provider, the update permission where it can be tried without a change, every nameserver the
   * propagation check would ask). Resolves with one line, or undefined when there is nothing to check
   * for this certificate; rejects with a CertRenewError (CHALLENGE_FAILED …) saying what to fix.
   */
  checkCertificate?(
    entry: ResolvedCertificate,
    signal: AbortSignal,
    planned?: PlannedCertificate,
  ): Promise<string | undefined>;
  /**
   * Trust anchors (PEM roots) the issued chain must verify against, when the issuer knows them: step-ca
   * its pinned root (fetched once), local-ca its root once it exists in `store` (an empty list before;
   * nothing is created). ACME has none: its roots are the system's. Rejects like `issue` when they
   * cannot be fetched.
   */
  trustAnchors?(store: Store): Promise<string[]>;
  /**
   * `status` (optional): why renewing the certificates `names` this issuer issued into `store` would fail
   * now, found in the issuer's own state without contacting anyone (local-ca: its CA gone from the store,
   * unreadable, corrupt, expired, or not the CA that issued them): name → one line saying what to do, for
   * those it concerns. Never creates anything.
   */
  renewalBlocker?(store: Store, names: readonly string[]): Promise<ReadonlyMap<string, string>>;
  /** Releases connections (keep-alive sockets); the issuer is not used afterwards. */
  close?(): Promise<void>;
}

/**
 * The renewal information (RFC 9773) a CA gave for one certificate, as kept between runs: `identifier` is
 * the certificate's RFC 9773 identifier and `directory` the ACME directory URL asked, so an answer is only
 * ever used for the certificate and CA it was given for. Times are ISO 8601 strings; `retryAfter` is when
 * the CA may be asked again (its Retry-After, clamped to one minute … one day, RFC 9773 §4.3). `none`: the
 * directory offered no renewalInfo at `fetchedAt`, and is not looked at again for that before `retryAfter`
 * (a day later); such an entry has no `suggestedWindow`.
 */
export interface KeptRenewalInfo {
  identifier: string;
  directory: string;
  suggestedWindow?: { start: string; end: string };
  none?: true;
  explanationURL?: string;
  fetchedAt: string;
  retryAfter: string;
}

/**
 * A window the CA suggests for renewing a certificate (RFC 9773 `suggestedWindow`), as the policy uses it.
 * `lastAnswerAt` is set when the CA could not be asked this run and this is the answer it gave then (kept in
 * the store past its Retry-After): messages say so.
 */
export interface SuggestedWindow {
  start: Date;
  end: Date;
  lastAnswerAt?: Date;
}

/**
 * Where a certificate's renewal information is kept between runs (plan/renewal-info-cache.ts: a blob in the
 * certificate's store). Neither method rejects: a cache that cannot be read reads as empty, one that cannot
 * be written is logged at debug level, and a read-only cache (plan, status, the dry run) ignores `put`.
 */
export interface RenewalInfoCache {
  get(): Promise<KeptRenewalInfo | undefined>;
  put(info: KeptRenewalInfo): Promise<void>;
}

/** Optional ability: ACME Renewal Information (RFC 9773). */
export interface RenewalInfoCapable {
  /**
   * The CA's suggestedWindow (RFC 9773 §4.2) for a certificate it issued, or undefined when there is none
   * to be had (no renewalInfo, no AKI, any error: ARI never blocks a renewal). Never rejects. With `cache`,
   * an answer kept there for this certificate and CA is used until its Retry-After without asking the CA,
   * and a new answer that carries a Retry-After is put there (one without replaces a different kept answer).
   */
  suggestedWindow(
    cert: StoredCertificate,
    signal: AbortSignal,
    cache?: RenewalInfoCache,
  ): Promise<SuggestedWindow | undefined>;
}

export function isRenewalInfoCapable(issuer: Issuer): issuer is Issuer & RenewalInfoCapable {
  return typeof (issuer as Partial<RenewalInfoCapable>).suggestedWindow === 'function';
}

export interface RevokeRequest {
  /** The manifest name of the certificate (for messages). */
  name: string;
  /** The certificate to revoke and its private key (ACME may sign the request with it). */
  cert: StoredCertificate;
  reason: RevocationReason;
  /** The certificate's store (ACME account keys, the local CA and its CRL live there). */
  store: Store;
  now: Date;
  signal: AbortSignal;
  logger: Logger;
}

/**
 * Optional ability: revoke a certificate at the issuer (ACME `revokeCert`, RFC 8555 §7.6; step-ca
 * `POST /1.0/revoke`; the local CA's CRL). Resolves with how it was done ("acme revokeCert (account key)");
 * rejects with ISSUER_REJECTED (the CA refused: already revoked, not its certificate) or
 * ISSUER_UNAVAILABLE. Checked at runtime with `isRevoker`.
 */
export interface Revoker {
  revoke(request: RevokeRequest): Promise<{ via: string }>;
}

export function isRevoker(issuer: Issuer): issuer is Issuer & Revoker {
  return typeof (issuer as Partial<Revoker>).revoke === 'function';
}

/** Optional ability: the issuer itself can tell which certificates it revoked (the local CA's CRL). */
export interface RevocationStatusCapable {
  /**
   * The serials (hex, upper case) the issuer lists as revoked for certificates kept in `store`. Never
   * throws: an empty map when the list cannot be read (status must not fail on it).
   */
  revokedSerials(store: Store): Promise<Map<string, { reason: RevocationReason; revokedAt: string }>>;
}

export function isRevocationStatusCapable(issuer: Issuer): issuer is Issuer & RevocationStatusCapable {
  return typeof (issuer as Partial<RevocationStatusCapable>).revokedSerials === 'function';
}
