/**
 * The step-ca issuer: smallstep's native API.
 *
 * Trust: the CA's root is fetched once from `/root/<fingerprint>` WITHOUT verifying the server (nothing
 * else is trusted yet), its SHA-256 must equal the manifest's `rootFingerprint`, and from then on every
 * call trusts that root and nothing else. A mismatch fails before any secret is read or sent.
 *
 * Issuing:
 * - the current certificate is still valid and the key is kept → `POST /1.0/renew` over mutual TLS with
 *   that certificate and key (no provisioner secret involved);
 * - otherwise (first issuance, a new key, an expired certificate, or the CA refusing the renewal) →
 *   `POST /1.0/sign` with the CSR and a one-time token signed by the JWK provisioner's key.
 */
import { X509Certificate } from 'node:crypto';
import { CertRenewError, ErrorCode } from '../../errors.js';
import type { ResolvedCertificate, StepCaIssuerConfig } from '../../manifest/types.js';
import { Reason } from '../../policy/reasons.js';
import type { RuntimeContext } from '../../runtime/context.js';
import { durationMs, formatDuration } from '../../util/duration.js';
import { ipVersion } from '../../util/ip.js';
import { canonicalIp, inspectCertificate } from '../../x509/inspect.js';
import { keyMatchesCertificate } from '../../x509/keys.js';
import { joinPem, splitPemChain } from '../../x509/pem.js';
import { IssuerBreaker } from '../breaker.js';
import type {
  IssueRequest,
  IssueResult,
  Issuer,
  IssuerCheckContext,
  PlannedCertificate,
  RevokeRequest,
  Revoker,
} from '../types.js';
import {
  isClientCertificateRefused,
  StepCaApi,
  type StepCaResponse,
  StepCaTransportError,
  stepCaMessage,
} from './http.js';
import { findProvisioner, unlockProvisionerKey } from './provisioner.js';
import { revokeAtStepCa } from './revoke.js';
import { fetchPinnedRoot, normalizeFingerprint } from './root.js';
import { type ProvisionerKey, type StepCaProvisioner, signToken } from './token.js';

/** step-ca's lifetime when the client asks for none (and the provisioner does not change it). */
export const STEP_CA_DEFAULT_LIFETIME_MS = 24 * 3_600_000;
/**
 * How far the current certificate's lifetime may be from the requested one and still be renewed as it is
 * (step-ca back-dates notBefore by a minute; 5 minutes also absorbs other CAs' back-dating).
 */
const LIFETIME_TOLERANCE_MS = 5 * 60_000;

/**
 * `the names change (…)` when the certificate's subjectAltName (DNS names and IP addresses) is not exactly
 * `domains` (compared without regard to case or order), else undefined.
 */
function namesChange(certPem: string, domains: readonly string[]): string | undefined {
  const info = inspectCertificate(certPem);
  const have = new Set([...info.dnsNames, ...info.ipAddresses].map((n) => n.toLowerCase()));
  const want = new Set(domains.map((d) => canonicalName(d)));
  const same = have.size === want.size && [...want].every((n) => have.has(n));
  return same ? undefined : `the names change (${[...have].join(' ')} → ${[...want].join(' ')})`;
}

/** A requested name as the certificate's SAN holds it: lower case, an IP address in canonical form. */
function canonicalName(name: string): string {
  return ipVersion(name) !== 0 ? canonicalIp(name) : name.toLowerCase();
}

/** Plan reasons after which nothing stored can be renewed over mutual TLS: `/1.0/sign` is needed. */
const NEW_CERTIFICATE_REASONS: ReadonlySet<string> = new Set<Reason>([
  Reason.missing,
  Reason.unreadable,
  Reason.revoked,
  Reason.keyMismatch,
  Reason.domainsChanged,
  Reason.keyTypeChanged,
  Reason.issuerChanged,
  Reason.expired,
  Reason.notYetValid,
]);

/** The lifetime the issuer asks step-ca for, or `undefined` for the CA's default. */
export function requestedLifetimeMs(
  certLifetimeMs: number | undefined,
  config: StepCaIssuerConfig,
): number | undefined {
  if (certLifetimeMs !== undefined) return certLifetimeMs;
  return config.lifetime === undefined ? undefined : durationMs(config.lifetime);
}

/** Knobs for tests; the manifest does not set these. */
export interface StepCaIssuerOptions {
  /** Called with every call's method and URL before it is sent. */
  onRequest?: (method: string, url: string) => void;
}

interface SignResponseBody {
  crt?: unknown;
  ca?: unknown;
  certChain?: unknown;
}

/** Failures that mean the CA cannot be reached at all, for any certificate (not TLS trust, not refusals). */
const UNREACHABLE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ETIMEDOUT',
]);

function isUnreachable(error: unknown): error is StepCaTransportError {
  return (
    error instanceof StepCaTransportError &&
    error.code === ErrorCode.issuerUnavailable &&
    error.nodeCode !== undefined &&
    UNREACHABLE_CODES.has(error.nodeCode)
  );
}

/**
 * See `Issuer` (types.ts) for the contract. step-ca specifics: `issue` sends one renew or one sign per
 * call (a sign token is single-use, so a retried call signs with a fresh one; nothing is retried inside a
 * call); `trustAnchors` is the pinned root; `check` reads no secret.
 */
export class StepCaIssuer implements Issuer, Revoker {
  readonly type = 'step-ca' as const;
  /** Keeping the key lets renewals use `/1.0/renew`, which needs no provisioner secret. */
  readonly defaultReuseKey = true;
  readonly #api: StepCaApi;
  readonly #fingerprint: string | undefined;
  #root: Promise<string> | undefined;
  #provisioner: Promise<StepCaProvisioner> | undefined;
  #signingKey: Promise<ProvisionerKey> | undefined;
  /**
   * Opened by the first certificate that finds the CA unreachable (no connection, or no answer within the
   * call timeout: 30 s per call when packets are dropped), see breaker.ts.
   */
  readonly #breaker = new IssuerBreaker('found this CA unreachable in this run');

  constructor(
    readonly name: string,
    private readonly config: StepCaIssuerConfig,
    private readonly context: RuntimeContext,
    options: StepCaIssuerOptions = {},
  ) {
    this.#api = new StepCaApi(config.url, name, options.onRequest, context.clock);
    this.#fingerprint = normalizeFingerprint(config.rootFingerprint);
  }

  async issue(request: IssueRequest): Promise<IssueResult> {
    this.#breaker.throwIfOpen(request.entry.name);
    try {
      return await this.issueOnce(request);
    } catch (error) {
      if (isUnreachable(error) && this.#breaker.trip(error, request.entry.name)) {
        request.logger.warn(
          `step-ca issuer '${this.name}' is unreachable for certificate ${request.entry.name} (${error.reason}); its other certificates fail at once in this run`,
        );
      }
      throw error;
    }
  }

  private async issueOnce(request: IssueRequest): Promise<IssueResult> {
    const { entry: cert, signal, logger } = request;
    const root = await this.pinnedRoot(signal);
    const refusal = this.renewable(request);
    if (refusal === undefined) {
      const renewed = await this.renew(request, root);
      if (renewed) return renewed;
    } else if (request.current) {
      logger.info(`${cert.name}: step-ca issuer '${this.name}' signs anew: ${refusal}`);
    }
    return this.sign(request, root);
  }

  /** `POST /1.0/revoke` with a provisioner token, or over mutual TLS with the certificate (revoke.ts). */
  async revoke(request: RevokeRequest): Promise<{ via: string }> {
    const root = await this.pinnedRoot(request.signal);
    return revokeAtStepCa(
      {
        api: this.#api,
        root,
        token: async (audience, subject) => {
          const provisioner = await this.provisioner(root, request.signal);
          const key = await this.signingKey(provisioner);
          return signToken(key, {
            provisioner: provisioner.name,
            audience,
            subject,
            sans: [],
            now: this.context.clock.now(),
          });
        },
      },
      request,
    );
  }

  async check(context: IssuerCheckContext): Promise<string> {
    const root = await this.pinnedRoot(context.signal);
    const health = await this.#api.call({
      method: 'GET',
      path: '/health',
      trust: { ca: root },
      signal: context.signal,
    });
    const status = (health.json as { status?: unknown } | undefined)?.status;
    if (health.status !== 200 || status !== 'ok') {
      throw new CertRenewError(
        ErrorCode.issuerUnavailable,
        `step-ca issuer '${this.name}': ${this.#api.url}/health is not ok (${stepCaMessage(health)})`,
        { transient: true },
      );
    }
    const provisioner = await this.provisioner(root, context.signal);
    // The provisioner key is decrypted here, sending nothing: a wrong password fails the rehearsal, not the
    // first new certificate. A host without the password is fine (renewing over mutual TLS needs none).
    let key: string;
    try {
      await this.signingKey(provisioner);
      key = 'its key unlocks';
    } catch (error) {
      if (!(error instanceof CertRenewError) || error.code !== ErrorCode.secretUnavailable) throw error;
      // Each due certificate that needs /1.0/sign is failed on its own (checkCertificate).
      key = `no password here (${error.message}): renewals over mutual TLS need none, a new certificate would`;
    }
    return `step-ca ${this.#api.url}: root pinned (sha256 ${this.#fingerprint?.slice(0, 16)}…), healthy, JWK provisioner '${this.config.provisioner}' present, ${key}`;
  }

  /**
   * Dry run, one due certificate: when its renewal would need `/1.0/sign` (`signNeeded`), that the
   * provisioner password unlocks the provisioner's key here — a host without it renews over mutual TLS
   * only. Rejects with SECRET_UNAVAILABLE naming why a new certificate is needed; undefined otherwise.
   */
  async checkCertificate(
    entry: ResolvedCertificate,
    signal: AbortSignal,
    planned?: PlannedCertificate,
  ): Promise<string | undefined> {
    const why = this.signNeeded(entry, planned);
    if (why === undefined) return undefined;
    try {
      await this.signingKey(await this.provisioner(await this.pinnedRoot(signal), signal));
    } catch (error) {
      if (!(error instanceof CertRenewError) || error.code !== ErrorCode.secretUnavailable) throw error;
      throw new CertRenewError(
        ErrorCode.secretUnavailable,
        `${entry.name} needs a new certificate from step-ca issuer '${this.name}' (/1.0/sign: ${why}), which needs the provisioner password: ${error.message}`,
        { ...(error.hint ? { hint: error.hint } : {}) },
      );
    }
    return `needs a new certificate (/1.0/sign: ${why}); the provisioner's key unlocks`;
  }

  /**
   * Why the renewal the plan expects would go through `/1.0/sign`, as `issue` decides it (`renewable`):
   * nothing usable stored (the plan's reason), a new key (reuseKey false), or another lifetime; undefined
   * when it would renew over mutual TLS.
   */
  private signNeeded(
    entry: ResolvedCertificate,
    planned: PlannedCertificate | undefined,
  ): string | undefined {
    if (planned?.reason !== undefined && NEW_CERTIFICATE_REASONS.has(planned.reason)) return planned.reason;
    if (!(entry.reuseKey ?? this.defaultReuseKey)) return 'reuseKey is false: a new key';
    const wanted = requestedLifetimeMs(entry.lifetimeMs, this.config);
    if (wanted !== undefined && planned?.notBefore !== undefined && planned.notAfter !== undefined) {
      const lifetime = Date.parse(planned.notAfter) - Date.parse(planned.notBefore);
      if (Math.abs(lifetime - wanted) > LIFETIME_TOLERANCE_MS) {
        return `the requested lifetime changes (${formatDuration(lifetime)} → ${formatDuration(wanted)})`;
      }
    }
    return undefined;
  }

  async trustAnchors(): Promise<string[]> {
    return [await this.pinnedRoot(new AbortController().signal)];
  }

  /** Why the current certificate cannot be renewed over mutual TLS, or `undefined` when it can. */
  private renewable(request: IssueRequest): string | undefined {
    const current = request.current;
    if (!current) return 'no current certificate';
    let x509: X509Certificate;
    try {
      x509 = new X509Certificate(current.certPem);
    } catch {
      return 'the current certificate does not parse';
    }
    if (new Date(x509.validTo).getTime() <= request.now.getTime()) {
      return `the current certificate expired ${new Date(x509.validTo).toISOString()}`;
    }
    if (!keyMatchesCertificate(request.keyPem, current.certPem)) return 'the key changes';
    // /1.0/renew keeps the current names: added or removed ones need /1.0/sign (a renewal would come back
    // without the new name, or still serving the removed one).
    const names = namesChange(current.certPem, request.entry.domains);
    if (names !== undefined) return names;
    // /1.0/renew keeps the current lifetime; a different requested lifetime needs /1.0/sign.
    const wanted = requestedLifetimeMs(request.entry.lifetimeMs, this.config);
    const lifetime = new Date(x509.validTo).getTime() - new Date(x509.validFrom).getTime();
    if (wanted !== undefined && Math.abs(lifetime - wanted) > LIFETIME_TOLERANCE_MS) {
      return `the requested lifetime changes (${formatDuration(lifetime)} → ${formatDuration(wanted)})`;
    }
    return undefined;
  }

  /** `POST /1.0/renew` over mutual TLS; `undefined` when the CA refuses the certificate (then: sign). */
  private async renew(request: IssueRequest, root: string): Promise<IssueResult | undefined> {
    const { entry: cert, signal, logger } = request;
    const current = request.current;
    if (!current) return undefined;
    let response: StepCaResponse;
    try {
      response = await this.#api.call({
        method: 'POST',
        path: '/1.0/renew',
        trust: { ca: root },
        clientCert: {
          certPem: joinPem(splitPemChain(current.certPem + current.chainPem)),
          keyPem: request.keyPem,
        },
        signal,
      });
    } catch (error) {
      if (!isClientCertificateRefused(error)) throw error;
      logger.warn(
        `${cert.name}: step-ca issuer '${this.name}' refused to renew the current certificate (${error.reason}); signing a new one`,
      );
      return undefined;
    }
    if (response.status === 201 || response.status === 200) {
      logger.info(`${cert.name}: renewed by step-ca issuer '${this.name}' (/1.0/renew)`);
      return this.result(response, 'step-ca renew', cert.name);
    }
    if (response.status >= 400 && response.status < 500 && response.status !== 429) {
      logger.warn(
        `${cert.name}: step-ca issuer '${this.name}' refused to renew the current certificate (${stepCaMessage(response)}); signing a new one`,
      );
      return undefined;
    }
    throw this.#api.answerError(response, cert.name, 'renew');
  }

  /** `POST /1.0/sign` with the CSR and a one-time token from the JWK provisioner. */
  private async sign(request: IssueRequest, root: string): Promise<IssueResult> {
    const { entry: cert, signal } = request;
    const provisioner = await this.provisioner(root, signal);
    const key = await this.signingKey(provisioner);
    const domains = cert.domains;
    const subject = domains[0];
    if (subject === undefined) {
      throw new CertRenewError(ErrorCode.manifestInvalid, `${cert.name}: no domains to ask step-ca for`);
    }
    const ott = await signToken(key, {
      provisioner: provisioner.name,
      audience: `${this.#api.url}/1.0/sign`,
      subject,
      sans: domains,
      now: this.context.clock.now(),
    });
    const lifetimeMs = requestedLifetimeMs(cert.lifetimeMs, this.config);
    const body: Record<string, string> = { csr: request.csrPem, ott };
    // A duration is relative to the CA's clock, so a skewed local clock cannot shorten the certificate.
    if (lifetimeMs !== undefined) body.notAfter = `${Math.max(1, Math.round(lifetimeMs / 1000))}s`;
    const response = await this.#api.call({
      method: 'POST',
      path: '/1.0/sign',
      trust: { ca: root },
      body,
      signal,
    });
    if (response.status !== 201 && response.status !== 200)
      throw this.#api.answerError(response, cert.name, 'sign');
    request.logger.info(
      `${cert.name}: signed by step-ca issuer '${this.name}' (/1.0/sign${lifetimeMs === undefined ? '' : `, ${formatDuration(lifetimeMs)}`})`,
    );
    return this.result(response, 'step-ca sign', cert.name);
  }

  private result(response: StepCaResponse, via: string, certName: string): IssueResult {
    const body = (response.json ?? {}) as SignResponseBody;
    const leaf = typeof body.crt === 'string' ? splitPemChain(body.crt)[0] : undefined;
    if (leaf === undefined) {
      throw new CertRenewError(
        ErrorCode.issuerRejected,
        `${certName}: step-ca issuer '${this.name}' answered without a certificate`,
      );
    }
    let chain: string[] = [];
    if (Array.isArray(body.certChain)) {
      chain = body.certChain
        .filter((pem): pem is string => typeof pem === 'string')
        .flatMap((pem) => splitPemChain(pem));
      if (chain[0] !== undefined && sameCertificate(chain[0], leaf)) chain = chain.slice(1);
    } else if (typeof body.ca === 'string') {
      chain = splitPemChain(body.ca);
    }
    return { certPem: leaf, chainPem: joinPem(chain), via };
  }

  /** The root, fetched once and checked against `rootFingerprint`; every later call trusts only it. */
  private pinnedRoot(signal: AbortSignal): Promise<string> {
    this.#root ??= forgetOnFailure(fetchPinnedRoot(this.#api, this.#fingerprint, signal), () => {
      this.#root = undefined;
    });
    return this.#root;
  }

  /** The JWK provisioner named in the manifest, from `/1.0/provisioners` (all pages). */
  private provisioner(root: string, signal: AbortSignal): Promise<StepCaProvisioner> {
    this.#provisioner ??= forgetOnFailure(
      findProvisioner(this.#api, this.config.provisioner, root, signal),
      () => {
        this.#provisioner = undefined;
      },
    );
    return this.#provisioner;
  }

  /** The provisioner key, decrypted once per run. */
  private signingKey(provisioner: StepCaProvisioner): Promise<ProvisionerKey> {
    this.#signingKey ??= forgetOnFailure(
      unlockProvisionerKey(this.name, provisioner, this.config.password, (ref) =>
        this.context.readSecret(ref),
      ),
      () => {
        this.#signingKey = undefined;
      },
    );
    return this.#signingKey;
  }
}

/** Caches a promise until it fails: `forget` runs then, so the next caller tries again. */
function forgetOnFailure<T>(promise: Promise<T>, forget: () => void): Promise<T> {
  promise.catch(forget);
  return promise;
}

function sameCertificate(a: string, b: string): boolean {
  try {
    return new X509Certificate(a).raw.equals(new X509Certificate(b).raw);
  } catch {
    return false;
  }
}
