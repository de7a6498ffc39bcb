/**
 * How an ACME issuer reaches its CA.
 *
 * `AcmeConnector` (one per issuer) owns what every certificate shares: the RFC 8555 §7.1.1 directory,
 * fetched once, sent for through the issuer's agents (agents.ts: keep-alive, the `caBundle`).
 * `open()` gives an `AcmeConnection`: one certificate's (or one dry run's) view of the CA — a transport
 * carrying that certificate's deadline, the directory, and the names its errors carry — and `call()`,
 * which runs one ACME step with the retry policy and turns whatever it throws into a coded error.
 */
import type { KeyObject } from 'node:crypto';
import { CertRenewError, ErrorCode } from '../../errors.js';
import type { Clock } from '../../runtime/clock.js';
import type { Logger } from '../../runtime/logger.js';
import type { IssuerAgents } from './agents.js';
import { type AcmeDirectory, parseDirectory } from './directory.js';
import { type AcmeErrorContext, acmeError, deadlineError } from './errors.js';
import { type RetryPolicy, withRetry } from './retry.js';
import { AcmeTransport, NoncePool } from './transport.js';

/** Default for one HTTP request, connect to last byte (ms). */
export const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;

export interface ConnectorOptions {
  issuerName: string;
  directoryUrl: string;
  /** The issuer's HTTP agents (agents.ts), shared with planning. */
  agents: IssuerAgents;
  /** Whether EAB credentials are configured (it changes the hint of an account error). */
  eabConfigured: boolean;
  clock: Clock;
  /** The run's logger: issuer-wide messages and acme-client's own debug lines go there. */
  logger: Logger;
  /** Policy of every retried step. */
  retry: RetryPolicy;
  /** One HTTP request, connect to last byte (ms). Default DEFAULT_REQUEST_TIMEOUT_MS. */
  requestTimeoutMs?: number;
  /** Sees every HTTP request's method and URL (tests count attempts with it). */
  onRequest?: (method: string, url: string) => void;
  /**
   * The directory planning already fetched (renewal-info.ts), if it did: reused so a run fetches the
   * directory once per issuer. Undefined, or a promise of undefined, means fetch it here.
   */
  plannedDirectory?: () => Promise<AcmeDirectory | undefined> | undefined;
}

export interface OpenOptions {
  /** The certificate this connection works for; absent for issuer-wide work (dry run, ARI). */
  certName?: string;
  /** The certificate's logger (default: the run's). */
  logger?: Logger;
  /** Policy for fetching the directory when it is not cached yet (default: the connector's). */
  directoryPolicy?: RetryPolicy;
}

/** Account keys parsed once per issuer and run (acme-client would re-read the PEM on every signature). */
export type AccountKeyCache = Map<string, { key: KeyObject; jwk: unknown }>;

export class AcmeConnector {
  #directory: Promise<AcmeDirectory> | undefined;
  /** Replay-Nonces from earlier responses, used instead of a newNonce request each (transport.ts). */
  readonly #nonces = new NoncePool();
  readonly #accountKeys: AccountKeyCache = new Map();

  constructor(private readonly options: ConnectorOptions) {}

  get directoryUrl(): string {
    return this.options.directoryUrl;
  }

  /**
   * A connection under `signal` (the certificate's deadline). Throws CertRenewError: ISSUER_UNAVAILABLE
   * when the caBundle cannot be read, the CA cannot be reached or its directory is not one; ISSUER_TIMEOUT
   * when the deadline passes first.
   */
  async open(signal: AbortSignal, options: OpenOptions = {}): Promise<AcmeConnection> {
    // An unreadable caBundle fails here, before any request.
    await this.options.agents.ready();
    const transport = new AcmeTransport(
      {
        agents: this.options.agents,
        clock: this.options.clock,
        userAgent: 'cert-renew (acme-client)',
        requestTimeoutMs: this.options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS,
        nonces: this.#nonces,
        ...(this.options.onRequest ? { onRequest: this.options.onRequest } : {}),
      },
      signal,
    );
    const logger = options.logger ?? this.options.logger;
    const directory = await this.directory(transport, logger, options.directoryPolicy ?? this.options.retry);
    const { issuerName, directoryUrl, eabConfigured, clock, retry } = this.options;
    return new AcmeConnection({
      issuerName,
      directoryUrl,
      eabConfigured,
      clock,
      retry,
      transport,
      directory,
      certName: options.certName,
      logger,
      runLogger: this.options.logger,
      accountKeys: this.#accountKeys,
    });
  }

  /**
   * The directory, fetched once per issuer (or taken from planning's fetch); a failed fetch is not
   * remembered. Set before any await, so certificates that start at once share one fetch.
   */
  private directory(transport: AcmeTransport, logger: Logger, policy: RetryPolicy): Promise<AcmeDirectory> {
    let directory = this.#directory;
    if (directory) return directory;
    const { issuerName, directoryUrl } = this.options;
    const context: AcmeErrorContext = {
      issuerName,
      directoryUrl,
      step: 'fetching the directory',
      eabConfigured: this.options.eabConfigured,
      badNonceDetails: transport.badNonceDetails,
      clock: this.options.clock,
    };
    const fetch = () =>
      retried(transport, logger, context, policy, async () => {
        const response = await transport.get(directoryUrl);
        const parsed = parseDirectory(response.data);
        if (!parsed) {
          throw new CertRenewError(
            ErrorCode.issuerUnavailable,
            `ACME issuer ${issuerName}: ${directoryUrl} is not an ACME directory`,
            { hint: 'check the directory URL' },
          );
        }
        return parsed;
      });
    const planned = this.options.plannedDirectory?.();
    directory = planned ? planned.then((d) => d ?? fetch()) : fetch();
    this.#directory = directory;
    directory.catch(() => {
      if (this.#directory === directory) this.#directory = undefined;
    });
    return directory;
  }
}

interface ConnectionInit {
  issuerName: string;
  directoryUrl: string;
  eabConfigured: boolean;
  clock: Clock;
  retry: RetryPolicy;
  transport: AcmeTransport;
  directory: AcmeDirectory;
  certName: string | undefined;
  logger: Logger;
  runLogger: Logger;
  accountKeys: AccountKeyCache;
}

/**
 * One certificate's (or one dry run's) connection to the CA (not to be confused with runtime/session's
 * `Session`, which is one command's open stores and issuers).
 */
export class AcmeConnection {
  readonly issuerName: string;
  readonly directoryUrl: string;
  readonly directory: AcmeDirectory;
  readonly transport: AcmeTransport;
  /** The certificate this connection works for; absent for issuer-wide work. */
  readonly certName: string | undefined;
  /** The certificate's logger. */
  readonly logger: Logger;
  /** The run's logger (acme-client's own debug lines). */
  readonly runLogger: Logger;
  readonly clock: Clock;
  readonly retry: RetryPolicy;
  /** The issuer's parsed account keys (client.ts). */
  readonly accountKeys: AccountKeyCache;
  readonly #init: ConnectionInit;

  constructor(init: ConnectionInit) {
    this.#init = init;
    this.issuerName = init.issuerName;
    this.directoryUrl = init.directoryUrl;
    this.directory = init.directory;
    this.transport = init.transport;
    this.certName = init.certName;
    this.logger = init.logger;
    this.runLogger = init.runLogger;
    this.clock = init.clock;
    this.retry = init.retry;
    this.accountKeys = init.accountKeys;
  }

  /** The certificate's deadline (or, while `withSignal` runs, that one). */
  get signal(): AbortSignal {
    return this.transport.signal;
  }

  /** The same connection reporting issuer-wide (no certificate name): account work is shared. */
  issuerWide(): AcmeConnection {
    return new AcmeConnection({ ...this.#init, certName: undefined });
  }

  /** "certificate web: ACME issuer le" or "ACME issuer le", the front of messages. */
  who(): string {
    return `${this.certName ? `certificate ${this.certName}: ` : ''}ACME issuer ${this.issuerName}`;
  }

  errorContext(step: string): AcmeErrorContext {
    return {
      ...(this.certName ? { certName: this.certName } : {}),
      issuerName: this.issuerName,
      directoryUrl: this.directoryUrl,
      step,
      eabConfigured: this.#init.eabConfigured,
      badNonceDetails: this.transport.badNonceDetails,
      clock: this.clock,
    };
  }

  /**
   * One ACME step, retried while its failures are transient and the deadline allows. Throws only
   * CertRenewError (acmeError's mapping; ISSUER_TIMEOUT when the deadline passes with no transient error).
   */
  call<T>(step: string, fn: () => Promise<T>, policy: RetryPolicy = this.retry): Promise<T> {
    return retried(this.transport, this.logger, this.errorContext(step), policy, fn);
  }

  /** Runs `fn` with requests under `signal` instead of the deadline (cleanup after the deadline passed). */
  async withSignal<T>(signal: AbortSignal, fn: () => Promise<T>): Promise<T> {
    const previous = this.transport.signal;
    this.transport.signal = signal;
    try {
      return await fn();
    } finally {
      this.transport.signal = previous;
    }
  }
}

function retried<T>(
  transport: AcmeTransport,
  logger: Logger,
  context: AcmeErrorContext,
  policy: RetryPolicy,
  fn: () => Promise<T>,
): Promise<T> {
  return withRetry(() => fn(), {
    policy,
    signal: transport.signal,
    classify: (error) => acmeError(error, context),
    deadline: () => deadlineError(context),
    onRetry: (error, delayMs, attempt) =>
      logger.debug(`${error.message}; attempt ${attempt + 1}/${policy.maxAttempts} in ${delayMs} ms`),
  });
}
