/**
 * The ACME issuer (RFC 8555): the composition of the acme folder, one file per job. This module loads only
 * what planning needs (renewal-info.ts); ordering.ts, which composes everything below for `issue`,
 * `revoke` and `check`, is imported on first use.
 *
 * - agents.ts: the issuer's HTTP agents (`caBundle`), shared by planning and issuing.
 * - connection.ts: the directory, one connection per certificate
 *   carrying its deadline; transport.ts: the HTTP under acme-client; client.ts: the adapter that alone
 *   touches acme-client and turns what it throws into coded errors (errors.ts).
 * - account.ts: the account, kept in the certificate's store and registered once.
 * - order.ts + authorize.ts: the order flow (account → order → authorizations → challenges → finalize →
 *   download); challenges/: the solvers; retry.ts: backoff and polling inside the deadline.
 * - dry-run.ts: `check`; ari.ts: the RFC 9773 identifier and window; renewal-info.ts: planning's
 *   renewal-information lookups with plain HTTPS GETs (no acme-client), whose directory issuing reuses.
 */
import type { AcmeIssuerConfig, ResolvedCertificate } from '../../manifest/types.js';
import type { RuntimeContext } from '../../runtime/context.js';
import type { StoredCertificate } from '../../stores/types.js';
import type {
  IssueRequest,
  IssueResult,
  Issuer,
  IssuerCheckContext,
  RenewalInfoCache,
  RenewalInfoCapable,
  RevokeRequest,
  Revoker,
  SuggestedWindow,
} from '../types.js';
import { IssuerAgents } from './agents.js';
import type { PropagationCheck } from './challenges/index.js';
import { resolveDirectoryUrl } from './directory.js';
import type { AcmeOrdering } from './ordering.js';
import { RenewalInfoLookup } from './renewal-info.js';
import type { PollPolicy, RetryPolicy } from './retry.js';

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
  /** Planning's renewal information: plain GETs, without loading acme-client (renewal-info.ts). */
  readonly #renewalInfo: RenewalInfoLookup;
  /** The keep-alive agents of planning's lookups and of issuing (agents.ts). */
  readonly #agents: IssuerAgents;
  /** Issuing and the dry run (ordering.ts), imported and built on first use: planning never needs them. */
  #ordering: Promise<AcmeOrdering> | undefined;

  constructor(
    readonly name: string,
    private readonly config: AcmeIssuerConfig,
    private readonly context: RuntimeContext,
    private readonly options: AcmeIssuerOptions = {},
  ) {
    this.directoryUrl = resolveDirectoryUrl(config.directory, name);
    this.#agents = new IssuerAgents({
      issuerName: name,
      caBundle: config.caBundle,
      baseDir: context.baseDir,
    });
    this.#renewalInfo = new RenewalInfoLookup({
      directoryUrl: this.directoryUrl,
      issuerName: name,
      agents: this.#agents,
      logger: context.logger,
      clock: context.clock,
      userAgent: 'cert-renew',
      requestTimeoutMs: options.requestTimeoutMs ?? 30_000,
      ...(options.onRequest ? { onRequest: options.onRequest } : {}),
    });
  }

  async issue(request: IssueRequest): Promise<IssueResult> {
    return (await this.ordering()).issue(request);
  }

  /** revokeCert (RFC 8555 §7.6): with the account key, or the certificate's own key (revoke.ts). */
  async revoke(request: RevokeRequest): Promise<{ via: string }> {
    return (await this.ordering()).revoke(request);
  }

  async check(context: IssuerCheckContext): Promise<string> {
    return (await this.ordering()).check(context);
  }

  /** Dry run of one certificate's challenge (dns-01 names, zones, permission, nameservers): dry-run.ts. */
  async checkCertificate(entry: ResolvedCertificate, signal: AbortSignal): Promise<string | undefined> {
    return (await this.ordering()).checkCertificate(entry, signal);
  }

  /** RFC 9773 suggestedWindow, or undefined (no ARI, no AKI, any error: ARI never blocks a renewal). */
  suggestedWindow(
    cert: StoredCertificate,
    signal: AbortSignal,
    cache?: RenewalInfoCache,
  ): Promise<SuggestedWindow | undefined> {
    return this.#renewalInfo.window(cert, signal, cache);
  }

  /** Closes the keep-alive connections to the CA. */
  async close(): Promise<void> {
    await this.#agents.close();
  }

  private ordering(): Promise<AcmeOrdering> {
    this.#ordering ??= import('./ordering.js').then(
      ({ AcmeOrdering }) =>
        new AcmeOrdering({
          issuerName: this.name,
          directoryUrl: this.directoryUrl,
          config: this.config,
          context: this.context,
          agents: this.#agents,
          // The directory planning fetched for renewal information, when it did: one fetch per issuer and run.
          plannedDirectory: () => this.#renewalInfo.fetchedDirectory(),
          ...this.options,
        }),
    );
    return this.#ordering;
  }
}
