/**
 * The ACME issuer (RFC 8555): the composition of the acme folder, one file per job.
 *
 * - connection.ts: the issuer's HTTP agents (`caBundle`), the directory, one connection per certificate
 *   carrying its deadline; transport.ts: the HTTP under acme-client; client.ts: the adapter that alone
 *   touches acme-client and turns what it throws into coded errors (errors.ts).
 * - account.ts: the account, kept in the certificate's store and registered once.
 * - order.ts + authorize.ts: the order flow (account → order → authorizations → challenges → finalize →
 *   download); challenges/: the solvers; retry.ts: backoff and polling inside the deadline.
 * - dry-run.ts: `check`; ari.ts: the RFC 9773 identifier and window; renewal-info.ts: planning's
 *   renewal-information lookups with plain HTTPS GETs (no acme-client), whose directory issuing reuses.
 */
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { CertRenewError, ErrorCode } from '../../errors.js';
import type { AcmeIssuerConfig } from '../../manifest/types.js';
import type { RuntimeContext } from '../../runtime/context.js';
import type { Logger } from '../../runtime/logger.js';
import type { StoredCertificate } from '../../stores/types.js';
import type {
  IssueRequest,
  IssueResult,
  Issuer,
  IssuerCheckContext,
  RenewalInfoCapable,
  RevokeRequest,
  Revoker,
} from '../types.js';
import { AcmeAccounts } from './account.js';
import type { PropagationCheck, SolverContext } from './challenges/index.js';
import { AcmeConnector } from './connection.js';
import { resolveDirectoryUrl } from './directory.js';
import { dryRunCheck } from './dry-run.js';
import { forCertificate } from './errors.js';
import { orderCertificate } from './order.js';
import { RenewalInfoLookup } from './renewal-info.js';
import { DEFAULT_POLL_POLICY, DEFAULT_RETRY_POLICY, type PollPolicy, type RetryPolicy } from './retry.js';
import { revokeAtAcme } from './revoke.js';
import { AcmeConnectionError } from './transport.js';

/** Knobs for tests and the benchmark; the manifest does not set these. */
export interface AcmeIssuerOptions {
  retry?: RetryPolicy;
  poll?: PollPolicy;
  /** One HTTP request, connect to last byte (ms). Default 30 s. */
  requestTimeoutMs?: number;
  /** dns-01: checks that a TXT record is visible (default: none, the fixed propagationDelay only). */
  propagationCheck?: PropagationCheck;
  /** Called with every HTTP request's method and URL (tests count attempts with it). */
  onRequest?: (method: string, url: string) => void;
}

/** The CA could not be reached at all (no HTTP answer), after the retries: what opens the breaker. */
function isUnreachable(error: CertRenewError): boolean {
  if (error.code !== ErrorCode.issuerUnavailable || !error.transient) return false;
  for (let cause: unknown = error.cause, depth = 0; cause && depth < 8; depth++) {
    if (cause instanceof AcmeConnectionError) return true;
    cause = (cause as { cause?: unknown }).cause;
  }
  return false;
}

/** The open breaker's error, for another certificate: the same code and message, naming that certificate. */
function breakerError(open: { error: CertRenewError; certName: string }, certName: string): CertRenewError {
  const { error } = open;
  const own = `certificate ${open.certName}: `;
  const rest = error.message.startsWith(own) ? error.message.slice(own.length) : error.message;
  return new CertRenewError(error.code, `certificate ${certName}: ${rest}`, {
    cause: error,
    transient: true,
    hint: `not tried: certificate ${open.certName} already used up its retries against this CA in this run${error.hint ? `; ${error.hint}` : ''}`,
  });
}

/**
 * See `Issuer` (types.ts) for the contract. ACME specifics: `issue` places one new order per call (an
 * order of a failed or cut-off call is never resumed; its pending authorizations are deactivated, and the
 * CA may reuse valid ones); it throws ISSUER_UNAVAILABLE (CA unreachable, 5xx, rate limited, untrusted
 * server), ISSUER_REJECTED (the CA refused: account, profile, CSR, order), CHALLENGE_FAILED (the answer
 * could not be put in place or did not validate; a wildcard without dns-01), ISSUER_TIMEOUT (the deadline
 * passed while waiting), SECRET_UNAVAILABLE (EAB key), STORE_* (the account record). No trust anchors:
 * an ACME CA's roots are the system's (or caBundle's), so the chain is checked for consistency only.
 */
export class AcmeIssuer implements Issuer, RenewalInfoCapable, Revoker {
  readonly type = 'acme' as const;
  readonly defaultReuseKey = false;
  readonly directoryUrl: string;
  readonly #retry: RetryPolicy;
  readonly #poll: PollPolicy;
  readonly #connector: AcmeConnector;
  readonly #accounts: AcmeAccounts;
  /** Planning's renewal information: plain GETs, without loading acme-client (renewal-info.ts). */
  readonly #renewalInfo: RenewalInfoLookup;
  /**
   * The breaker: once one certificate has used up its retries against an unreachable CA, the rest of this
   * run's certificates of this issuer fail at once with the same error (an outage costs seconds per run,
   * not minutes per certificate, and the CA is not hammered). Open for the life of the issuer (one run).
   */
  #breaker: { error: CertRenewError; certName: string } | undefined;

  constructor(
    readonly name: string,
    private readonly config: AcmeIssuerConfig,
    private readonly context: RuntimeContext,
    private readonly options: AcmeIssuerOptions = {},
  ) {
    this.directoryUrl = resolveDirectoryUrl(config.directory, name);
    this.#retry = options.retry ?? DEFAULT_RETRY_POLICY;
    this.#poll = options.poll ?? DEFAULT_POLL_POLICY;
    const caBundle = config.caBundle;
    this.#renewalInfo = new RenewalInfoLookup({
      directoryUrl: this.directoryUrl,
      issuerName: name,
      caBundle: async () => (caBundle ? readFile(resolve(context.baseDir, caBundle), 'utf8') : undefined),
      logger: context.logger,
      userAgent: 'cert-renew',
      requestTimeoutMs: options.requestTimeoutMs ?? 30_000,
      ...(options.onRequest ? { onRequest: options.onRequest } : {}),
    });
    this.#connector = new AcmeConnector({
      issuerName: name,
      directoryUrl: this.directoryUrl,
      caBundle: config.caBundle,
      eabConfigured: config.eab !== undefined,
      baseDir: context.baseDir,
      clock: context.clock,
      logger: context.logger,
      retry: this.#retry,
      // The directory planning fetched for renewal information, when it did: one fetch per issuer and run.
      plannedDirectory: () => this.#renewalInfo.fetchedDirectory(),
      ...(options.requestTimeoutMs === undefined ? {} : { requestTimeoutMs: options.requestTimeoutMs }),
      ...(options.onRequest ? { onRequest: options.onRequest } : {}),
    });
    this.#accounts = new AcmeAccounts(name, config, context);
  }

  async issue(request: IssueRequest): Promise<IssueResult> {
    const open = this.#breaker;
    if (open) throw breakerError(open, request.entry.name);
    try {
      return await orderCertificate(
        {
          issuerName: this.name,
          config: this.config,
          connector: this.#connector,
          accounts: this.#accounts,
          poll: this.#poll,
          solverContext: (logger) => this.solverContext(logger),
        },
        request,
      );
    } catch (error) {
      // Shared work (directory, account) reports issuer-wide; every error leaves here naming the certificate.
      const coded = forCertificate(error, {
        certName: request.entry.name,
        issuerName: this.name,
        directoryUrl: this.directoryUrl,
        step: 'issuing',
      });
      if (!this.#breaker && isUnreachable(coded)) {
        this.#breaker = { error: coded, certName: request.entry.name };
        this.context.logger.warn(
          `ACME issuer ${this.name}: unreachable after every retry for certificate ${request.entry.name}; its other certificates fail at once for the rest of this run`,
        );
      }
      throw coded;
    }
  }

  /** revokeCert (RFC 8555 §7.6): with the account key, or the certificate's own key (revoke.ts). */
  async revoke(request: RevokeRequest): Promise<{ via: string }> {
    try {
      return await revokeAtAcme(
        { issuerName: this.name, connector: this.#connector, accounts: this.#accounts },
        request,
      );
    } catch (error) {
      throw forCertificate(error, {
        certName: request.name,
        issuerName: this.name,
        directoryUrl: this.directoryUrl,
        step: 'revoking',
      });
    }
  }

  check(context: IssuerCheckContext): Promise<string> {
    return dryRunCheck(
      {
        issuerName: this.name,
        config: this.config,
        connector: this.#connector,
        accounts: this.#accounts,
        retry: this.#retry,
        solverContext: (logger) => this.solverContext(logger),
        logger: this.context.logger,
      },
      context,
    );
  }

  /** RFC 9773 suggestedWindow, or undefined (no ARI, no AKI, any error: ARI never blocks a renewal). */
  suggestedWindow(
    cert: StoredCertificate,
    signal: AbortSignal,
  ): Promise<{ start: Date; end: Date } | undefined> {
    return this.#renewalInfo.window(cert, signal);
  }

  /** Closes the keep-alive connections to the CA. */
  async close(): Promise<void> {
    await this.#renewalInfo.close();
    await this.#connector.close();
  }

  private solverContext(logger: Logger): SolverContext {
    return {
      baseDir: this.context.baseDir,
      env: this.context.env,
      logger,
      getStore: (name) => this.context.getStore(name),
      issuerName: this.name,
      ...(this.options.propagationCheck ? { propagationCheck: this.options.propagationCheck } : {}),
      ...(this.context.runProcess ? { runProcess: this.context.runProcess } : {}),
    };
  }
}
