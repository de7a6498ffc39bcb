/**
 * The issuing half of the ACME issuer: connection, account, order flow, revocation and dry run. issuer.ts imports this
 * module on the first `issue` or `check`, so a run that only plans (renewal information through
 * renewal-info.ts) loads none of it, nor acme-client behind it.
 */
import { type CertRenewError, ErrorCode, inCauses } from '../../errors.js';
import type { AcmeIssuerConfig, ResolvedCertificate } from '../../manifest/types.js';
import type { RuntimeContext } from '../../runtime/context.js';
import type { Logger } from '../../runtime/logger.js';
import { IssuerBreaker } from '../breaker.js';
import type { IssueRequest, IssueResult, IssuerCheckContext, RevokeRequest } from '../types.js';
import { AcmeAccounts } from './account.js';
import type { IssuerAgents } from './agents.js';
import { validationGateOf } from './challenges/dns-ca-cache.js';
import type { PropagationCheck, SolverContext } from './challenges/index.js';
import { AcmeConnector } from './connection.js';
import type { AcmeDirectory } from './directory.js';
import { dryRunCertificate, dryRunCheck } from './dry-run.js';
import { forCertificate } from './errors.js';
import { orderCertificate } from './order.js';
import { DEFAULT_POLL_POLICY, DEFAULT_RETRY_POLICY, type PollPolicy, type RetryPolicy } from './retry.js';
import { revokeAtAcme } from './revoke.js';
import { AcmeConnectionError } from './transport.js';

/** The CA could not be reached at all (no HTTP answer), after the retries: what opens the breaker. */
function isUnreachable(error: CertRenewError): boolean {
  if (error.code !== ErrorCode.issuerUnavailable || !error.transient) return false;
  return inCauses(error.cause, AcmeConnectionError) !== undefined;
}

/** What AcmeIssuer hands over: its name, configuration and options (see AcmeIssuerOptions). */
export interface AcmeOrderingOptions {
  issuerName: string;
  directoryUrl: string;
  config: AcmeIssuerConfig;
  context: RuntimeContext;
  retry?: RetryPolicy;
  poll?: PollPolicy;
  requestTimeoutMs?: number;
  propagationCheck?: PropagationCheck;
  onRequest?: (method: string, url: string) => void;
  /** The issuer's HTTP agents, shared with planning (agents.ts). */
  agents: IssuerAgents;
  /** The directory planning fetched for renewal information, when it did: one fetch per issuer and run. */
  plannedDirectory: () => Promise<AcmeDirectory | undefined> | undefined;
}

/** `issue`, `revoke`, `check` and `close` of AcmeIssuer (see there and `Issuer` in ../types.ts for the contract). */
export class AcmeOrdering {
  readonly #options: AcmeOrderingOptions;
  readonly #retry: RetryPolicy;
  readonly #poll: PollPolicy;
  readonly #connector: AcmeConnector;
  readonly #accounts: AcmeAccounts;
  /** Opened by the first certificate that used up its retries against an unreachable CA (breaker.ts). */
  readonly #breaker = new IssuerBreaker('already used up its retries against this CA in this run');

  constructor(options: AcmeOrderingOptions) {
    this.#options = options;
    const { issuerName, config, context } = options;
    this.#retry = options.retry ?? DEFAULT_RETRY_POLICY;
    this.#poll = options.poll ?? DEFAULT_POLL_POLICY;
    this.#connector = new AcmeConnector({
      issuerName,
      directoryUrl: options.directoryUrl,
      agents: options.agents,
      eabConfigured: config.eab !== undefined,
      clock: context.clock,
      logger: context.logger,
      retry: this.#retry,
      plannedDirectory: options.plannedDirectory,
      ...(options.requestTimeoutMs === undefined ? {} : { requestTimeoutMs: options.requestTimeoutMs }),
      ...(options.onRequest ? { onRequest: options.onRequest } : {}),
    });
    this.#accounts = new AcmeAccounts(issuerName, config, context);
  }

  async issue(request: IssueRequest): Promise<IssueResult> {
    const { issuerName, config, directoryUrl } = this.#options;
    this.#breaker.throwIfOpen(request.entry.name);
    try {
      return await orderCertificate(
        {
          issuerName,
          config,
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
        issuerName,
        directoryUrl,
        step: 'issuing',
      });
      if (isUnreachable(coded) && this.#breaker.trip(coded, request.entry.name)) {
        this.#options.context.logger.warn(
          `ACME issuer ${issuerName}: unreachable after every retry for certificate ${request.entry.name}; its other certificates fail at once for the rest of this run`,
        );
      }
      throw coded;
    }
  }

  async revoke(request: RevokeRequest): Promise<{ via: string }> {
    const { issuerName, directoryUrl } = this.#options;
    try {
      return await revokeAtAcme(
        { issuerName, connector: this.#connector, accounts: this.#accounts },
        request,
      );
    } catch (error) {
      throw forCertificate(error, { certName: request.name, issuerName, directoryUrl, step: 'revoking' });
    }
  }

  check(context: IssuerCheckContext): Promise<string> {
    return dryRunCheck(
      {
        issuerName: this.#options.issuerName,
        config: this.#options.config,
        connector: this.#connector,
        accounts: this.#accounts,
        retry: this.#retry,
        solverContext: (logger) => this.solverContext(logger),
        logger: this.#options.context.logger,
      },
      context,
    );
  }

  checkCertificate(entry: ResolvedCertificate, signal: AbortSignal): Promise<string | undefined> {
    const challenge = entry.challenge ?? this.#options.config.challenge;
    const solverContext = {
      ...this.solverContext(this.#options.context.logger),
      certificateName: entry.name,
    };
    return dryRunCertificate(challenge, entry, solverContext, signal);
  }

  private solverContext(logger: Logger): SolverContext {
    const { context, issuerName, propagationCheck } = this.#options;
    return {
      baseDir: context.baseDir,
      env: context.env,
      logger,
      getStore: (name) => context.getStore(name),
      issuerName,
      // One per run (the context lives as long as the run), shared by every ACME issuer of it.
      validationGate: validationGateOf(context, context.clock),
      ...(propagationCheck ? { propagationCheck } : {}),
      ...(context.runProcess ? { runProcess: context.runProcess } : {}),
    };
  }
}
