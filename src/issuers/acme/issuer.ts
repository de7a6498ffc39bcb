/**
 * The ACME issuer (RFC 8555) on acme-client's low-level API: account kept in the certificate's store,
 * one order per certificate with its challenges answered by the configured solver and cleaned up
 * whatever happens, pending authorizations of a failed order deactivated, transient failures retried
 * with backoff inside the certificate's deadline, and ARI (RFC 9773) when the directory offers it.
 *
 * acme-client talks through this issuer's own transport (transport.ts): per-issuer trust (`caBundle`),
 * the certificate's deadline on every request, and problem documents kept whole for error reporting.
 */

import { createPrivateKey, type KeyObject } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { isIP } from 'node:net';
import { resolve } from 'node:path';
import { createSecureContext, rootCertificates, type SecureContext } from 'node:tls';
import type { Authorization, Client, Order } from 'acme-client';
import { CertRenewError, describeError, ErrorCode, InternalError } from '../../errors.js';
import type { AcmeIssuerConfig, Challenge, ResolvedCertificate } from '../../manifest/types.js';
import type { RuntimeContext } from '../../runtime/context.js';
import type { Logger } from '../../runtime/logger.js';
import { accountBlobKey } from '../../stores/keys.js';
import type { Store, StoredCertificate } from '../../stores/types.js';
import { splitPemChain } from '../../x509/pem.js';
import type { IssueRequest, IssueResult, Issuer, IssuerCheckContext, RenewalInfoCapable } from '../types.js';
import { type AcmeAccount, ensureAccount, parseAccountBlob } from './account.js';
import { ariCertIdentifierFromPem } from './ari.js';
import { downloadCertificate } from './chain.js';
import { dnsRecordName } from './challenges/dns-exec.js';
import {
  type ChallengeSolver,
  type ChallengeTask,
  challengeKey,
  createSolver,
  type PropagationCheck,
} from './challenges/index.js';
import { type AcmeDirectory, parseDirectory, resolveDirectoryUrl } from './directory.js';
import { type AcmeErrorContext, acmeError, challengeError, deadlineError } from './errors.js';
import { RenewalInfoLookup } from './renewal-info.js';
import { DEFAULT_RETRY_POLICY, pause, type RetryPolicy, withRetry } from './retry.js';
import { AcmeProblemError, AcmeTransport, NoncePool, parseProblem } from './transport.js';

type AcmeModule = typeof import('acme-client');
type AcmeChallenge = Authorization['challenges'][number];

export interface PollPolicy {
  /** First wait before asking again for a pending authorization or a processing order. */
  initialMs: number;
  maxMs: number;
  /** Give up waiting (ISSUER_TIMEOUT) after this much waiting, deadline or not. */
  timeoutMs: number;
}

export const DEFAULT_POLL_POLICY: PollPolicy = { initialMs: 150, maxMs: 3000, timeoutMs: 5 * 60_000 };

/** Knobs for tests and the benchmark; the manifest does not set these. */
export interface AcmeIssuerOptions {
  retry?: RetryPolicy;
  poll?: PollPolicy;
  /** One HTTP request, connect to last byte. Default 30s. */
  requestTimeoutMs?: number;
  /** dns-01: checks that a TXT record is visible (default: none, the fixed propagationDelay only). */
  propagationCheck?: PropagationCheck;
  /** Called with every HTTP request's method and URL (tests count attempts with it). */
  onRequest?: (method: string, url: string) => void;
}

/** What `orderPayload` builds: RFC 8555 newOrder with `profile` (draft-aaron-acme-profiles) and `replaces`. */
export interface OrderPayload {
  identifiers: { type: 'dns' | 'ip'; value: string }[];
  profile?: string;
  replaces?: string;
}

export function orderPayload(
  domains: readonly string[],
  extra: { profile?: string; replaces?: string } = {},
): OrderPayload {
  return {
    identifiers: domains.map((value) => ({ type: isIP(value) ? 'ip' : 'dns', value })),
    ...(extra.profile ? { profile: extra.profile } : {}),
    ...(extra.replaces ? { replaces: extra.replaces } : {}),
  };
}

let acmeModule: Promise<AcmeModule> | undefined;

/** acme-client is loaded on first use (start-up cost); its logger is wired once, to debug. */
function loadAcme(logger: Logger): Promise<AcmeModule> {
  acmeModule ??= import('acme-client').then((acme) => {
    acme.setLogger((message: string) => logger.debug(`acme-client: ${message}`));
    return acme;
  });
  return acmeModule;
}

/** acme-client's HttpClient fields the issuer replaces (its transport) or seeds (the directory). */
interface AcmeHttpInternals {
  request: (
    url: string,
    method: string,
    opts?: { data?: unknown; headers?: Record<string, string> },
  ) => Promise<unknown>;
  directoryCache: unknown;
  directoryTimestamp: number;
  maxBadNonceRetries: number;
  /** The account key acme-client signs with (a PEM Buffer, or a KeyObject: node's sign takes either). */
  accountKey: unknown;
  /** The account key's JWK, computed on first use. */
  jwk: unknown;
}

interface Session {
  acme: AcmeModule;
  transport: AcmeTransport;
  directory: AcmeDirectory;
  certName: string | undefined;
  logger: Logger;
}

function problemType(error: unknown): string | undefined {
  const cause = error instanceof CertRenewError ? error.cause : error;
  return cause instanceof AcmeProblemError ? cause.type : undefined;
}

export class AcmeIssuer implements Issuer, RenewalInfoCapable {
  readonly type = 'acme' as const;
  readonly defaultReuseKey = false;
  readonly directoryUrl: string;
  private readonly retry: RetryPolicy;
  private readonly poll: PollPolicy;
  private agents: Promise<{ https: HttpsAgent; http: HttpAgent }> | undefined;
  private directory: Promise<AcmeDirectory> | undefined;
  private readonly accounts = new Map<string, Promise<AcmeAccount>>();
  /** Planning's renewal information: plain GETs, without loading acme-client (renewal-info.ts). */
  private readonly renewalInfo: RenewalInfoLookup;
  /** Replay-Nonces from earlier responses, used instead of a newNonce request each (transport.ts). */
  private readonly nonces = new NoncePool();
  /** Account keys parsed once per run, not on every signature (acme-client re-reads the PEM each time). */
  private readonly accountKeys = new Map<string, { key: KeyObject; jwk: unknown }>();

  constructor(
    readonly name: string,
    private readonly config: AcmeIssuerConfig,
    private readonly context: RuntimeContext,
    private readonly options: AcmeIssuerOptions = {},
  ) {
    this.directoryUrl = resolveDirectoryUrl(config.directory, name);
    this.retry = options.retry ?? DEFAULT_RETRY_POLICY;
    this.poll = options.poll ?? DEFAULT_POLL_POLICY;
    const caBundle = config.caBundle;
    this.renewalInfo = new RenewalInfoLookup({
      directoryUrl: this.directoryUrl,
      issuerName: name,
      caBundle: async () => (caBundle ? readFile(resolve(context.baseDir, caBundle), 'utf8') : undefined),
      logger: context.logger,
      userAgent: 'cert-renew',
      requestTimeoutMs: options.requestTimeoutMs ?? 30_000,
      ...(options.onRequest ? { onRequest: options.onRequest } : {}),
    });
  }

  // --- issuing

  async issue(request: IssueRequest): Promise<IssueResult> {
    try {
      return await this.order(request);
    } catch (error) {
      // Shared work (directory, account) reports issuer-wide; every error leaves here naming the certificate.
      throw this.tag(request.entry.name, error, 'issuing');
    }
  }

  private async order(request: IssueRequest): Promise<IssueResult> {
    const cert = request.entry;
    const challenge = this.challengeFor(cert);
    const session = await this.session(request.signal, cert.name, request.logger);
    this.checkProfile(session.directory, cert.name);
    let account = await this.account(request.store, session);
    let client = this.client(session, account.keyPem, account.url);
    const replaces = this.replacesFor(request.current, session.directory);

    let order: Order;
    try {
      order = await this.createOrder(session, client, cert, replaces);
    } catch (error) {
      if (problemType(error) !== 'accountDoesNotExist') throw error;
      // The CA forgot the account (a test CA restarted, an account deactivated): register the key again.
      session.logger.info(
        `issuer ${this.name}: the CA does not know the stored account; registering it again`,
      );
      account = await this.account(request.store, session, true);
      client = this.client(session, account.keyPem, account.url);
      order = await this.createOrder(session, client, cert, replaces);
    }
    session.logger.debug(
      `issuer ${this.name}: order ${order.url} for ${cert.domains.join(', ')} is ${order.status}`,
    );

    await this.authorize(session, client, order, challenge);
    const valid = await this.finalize(session, client, order, request.csrPem);
    const pem = await this.call(session, 'downloading the certificate', () =>
      downloadCertificate(client, valid, this.config.preferredChain),
    );
    const [leaf, ...chain] = splitPemChain(pem);
    if (!leaf) {
      throw new CertRenewError(
        ErrorCode.issuerRejected,
        `certificate ${cert.name}: ACME issuer ${this.name}: the CA returned no certificate from ${valid.certificate}`,
      );
    }
    session.logger.debug(`issuer ${this.name}: ${cert.name} issued (${session.transport.requests} requests)`);
    return { certPem: leaf, chainPem: chain.join(''), via: 'acme order' };
  }

  private challengeFor(cert: ResolvedCertificate): Challenge {
    const challenge = cert.challenge ?? this.config.challenge;
    const wildcard = cert.domains.find((d) => d.startsWith('*.'));
    if (wildcard && challenge.type !== 'dns-01') {
      throw new CertRenewError(
        ErrorCode.challengeFailed,
        `certificate ${cert.name}: ${wildcard} can only be validated by dns-01, not ${challenge.type}`,
        { hint: 'give this certificate a dns-01 challenge' },
      );
    }
    return challenge;
  }

  /** A configured profile must be one the directory lists (draft-aaron-acme-profiles). */
  private checkProfile(directory: AcmeDirectory, certName: string | undefined): void {
    const profile = this.config.profile;
    const offered = directory.meta?.profiles;
    if (!profile || (offered && Object.hasOwn(offered, profile))) return;
    throw new CertRenewError(
      ErrorCode.issuerRejected,
      `${certName ? `certificate ${certName}: ` : ''}ACME issuer ${this.name}: the CA does not offer profile ${JSON.stringify(profile)}`,
      {
        hint: offered
          ? `use one of: ${Object.keys(offered).join(', ')}`
          : 'the CA offers no profiles: remove profile',
      },
    );
  }

  private replacesFor(current: StoredCertificate | undefined, directory: AcmeDirectory): string | undefined {
    // Only a certificate this issuer gave can be replaced (RFC 9773 §5); without ARI there is no `replaces`.
    if (!directory.renewalInfo || !current || current.meta?.issuer !== this.name) return undefined;
    return ariCertIdentifierFromPem(current.certPem);
  }

  private async createOrder(
    session: Session,
    client: Client,
    cert: ResolvedCertificate,
    replaces: string | undefined,
  ) {
    const profile = this.config.profile;
    const send = (payload: OrderPayload) =>
      this.call(session, 'creating the order', () =>
        client.createOrder(payload as Parameters<Client['createOrder']>[0]),
      );
    try {
      return await send(
        orderPayload(cert.domains, { ...(profile ? { profile } : {}), ...(replaces ? { replaces } : {}) }),
      );
    } catch (error) {
      if (!replaces || problemType(error) !== 'alreadyReplaced') throw error;
      session.logger.debug(
        `issuer ${this.name}: ${cert.name}: ${describeError(error)}; ordering without replaces`,
      );
      return send(orderPayload(cert.domains, profile ? { profile } : {}));
    }
  }

  /** Answers every pending authorization of the order, cleaning up and deactivating on failure. */
  private async authorize(
    session: Session,
    client: Client,
    order: Order,
    challenge: Challenge,
  ): Promise<void> {
    const authorizations = await this.call(session, 'fetching the authorizations', () =>
      client.getAuthorizations(order),
    );
    const pending: Authorization[] = [];
    for (const authz of authorizations) {
      if (authz.status === 'valid') continue;
      if (authz.status !== 'pending') {
        throw new CertRenewError(
          ErrorCode.issuerRejected,
          `${this.who(session)}: the authorization for ${authz.identifier.value} is ${authz.status}`,
        );
      }
      pending.push(authz);
    }
    if (pending.length === 0) return;

    const solver = createSolver(challenge, {
      baseDir: this.context.baseDir,
      env: this.context.env,
      logger: session.logger,
      getStore: (name) => this.context.getStore(name),
      issuerName: this.name,
      ...(this.options.propagationCheck ? { propagationCheck: this.options.propagationCheck } : {}),
      ...(this.context.runProcess ? { runProcess: this.context.runProcess } : {}),
    });
    const work: { authz: Authorization; challenge: AcmeChallenge; task: ChallengeTask }[] = [];
    for (const authz of pending) {
      const offered = authz.challenges.find((c) => c.type === solver.type);
      if (!offered) {
        throw new CertRenewError(
          ErrorCode.challengeFailed,
          `${this.who(session)}: the CA offers no ${solver.type} challenge for ${authz.identifier.value} (only ${authz.challenges.map((c) => c.type).join(', ')})`,
        );
      }
      const identifier = authz.identifier.value;
      work.push({
        authz,
        challenge: offered,
        task: {
          identifier,
          wildcard: authz.wildcard === true,
          token: offered.token,
          value: await client.getChallengeKeyAuthorization(offered),
          ...(solver.type === 'dns-01' ? { recordName: dnsRecordName(identifier) } : {}),
        },
      });
    }

    const signal = session.transport.signal;
    const presented: ChallengeTask[] = [];
    try {
      await solver.open?.(signal);
      const results = await Promise.allSettled(
        work.map(async ({ task }) => {
          await solver.present(task, signal);
          presented.push(task);
        }),
      );
      const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed) throw this.tag(session.certName, failed.reason, 'answering the challenge');
      await solver.settle?.(presented, signal);
      if (signal.aborted) throw deadlineError(this.errorContext(session, 'waiting for DNS propagation'));
      await Promise.all(
        work.map(({ task, challenge: c }) =>
          this.call(session, `asking the CA to validate ${task.identifier}`, () =>
            client.completeChallenge(c),
          ),
        ),
      );
      await Promise.all(work.map((item) => this.awaitAuthorization(session, client, item.authz, solver)));
    } catch (error) {
      await this.deactivate(session, client, pending);
      throw this.tag(session.certName, error, 'answering the challenge');
    } finally {
      // Every task, not only those whose `present` finished: one killed half-way (a dns-01 command at its
      // timeout) may already have published its record. Cleanups are idempotent and never throw.
      await Promise.all(work.map(({ task }) => solver.cleanup(task)));
      await solver.close?.();
    }
  }

  private async awaitAuthorization(
    session: Session,
    client: Client,
    authz: Authorization,
    solver: ChallengeSolver,
  ): Promise<void> {
    const identifier = `${authz.wildcard ? '*.' : ''}${authz.identifier.value}`;
    const final = await this.pollUntilSettled(
      session,
      `waiting for the validation of ${identifier}`,
      async () => {
        const [current] = await client.getAuthorizations({ authorizations: [authz.url] } as Order);
        if (!current) throw new InternalError('acme-client returned no authorization');
        return current;
      },
    );
    if (final.status === 'valid') return;
    const failed = final.challenges.find((c) => c.status === 'invalid' && (c as { error?: unknown }).error);
    const problem = failed ? parseProblem((failed as { error?: unknown }).error) : undefined;
    throw challengeError(
      this.errorContext(session, 'validating'),
      identifier,
      solver.description,
      problem,
      solver.failureHint,
    );
  }

  /** Deactivates the order's authorizations that are still pending (best effort, own short deadline). */
  private async deactivate(session: Session, client: Client, authorizations: Authorization[]): Promise<void> {
    const transport = session.transport;
    const previous = transport.signal;
    transport.signal = AbortSignal.timeout(10_000);
    try {
      await Promise.all(
        authorizations.map(async (authz) => {
          try {
            const [current] = await client.getAuthorizations({ authorizations: [authz.url] } as Order);
            if (current?.status !== 'pending') return;
            await client.deactivateAuthorization(current);
            session.logger.debug(
              `issuer ${this.name}: deactivated authorization ${authz.url} (${authz.identifier.value})`,
            );
          } catch (error) {
            session.logger.debug(
              `issuer ${this.name}: could not deactivate ${authz.url}: ${describeError(error)}`,
            );
          }
        }),
      );
    } finally {
      transport.signal = previous;
    }
  }

  private async finalize(session: Session, client: Client, order: Order, csrPem: string): Promise<Order> {
    let current: Order;
    try {
      current = await this.call(session, 'finalizing the order', () => client.finalizeOrder(order, csrPem));
    } catch (error) {
      // A retried finalize whose first attempt went through answers orderNotReady: look at the order.
      if (problemType(error) !== 'orderNotReady') throw error;
      current = await this.call(session, 'fetching the order', () => client.getOrder(order));
      if (current.status !== 'processing' && current.status !== 'valid') throw error;
    }
    current = await this.pollUntilSettled(session, 'waiting for the certificate', () =>
      client.getOrder(current),
    );
    if (current.status !== 'valid') {
      const problem = current.error ? parseProblem(current.error) : undefined;
      throw new CertRenewError(
        ErrorCode.issuerRejected,
        `${this.who(session)}: the order became ${current.status}${problem ? `: ${problem.detail} (${problem.type})` : ''}`,
      );
    }
    return current;
  }

  /** Polls `fetch` while the item is pending/processing: short waits first, then up to maxMs. */
  private async pollUntilSettled<T extends { status: string }>(
    session: Session,
    step: string,
    fetch: () => Promise<T>,
  ): Promise<T> {
    let delay = this.poll.initialMs;
    let waited = 0;
    for (;;) {
      const item = await this.call(session, step, fetch);
      if (item.status !== 'pending' && item.status !== 'processing') return item;
      if (waited >= this.poll.timeoutMs || !(await pause(delay, session.transport.signal))) {
        throw deadlineError(this.errorContext(session, step));
      }
      waited += delay;
      delay = Math.min(this.poll.maxMs, delay * 2);
    }
  }

  // --- accounts

  private account(store: Store, session: Session, refresh = false): Promise<AcmeAccount> {
    const key = `${store.name}\n${accountBlobKey(this.name, this.config.email)}`;
    const cached = this.accounts.get(key);
    if (cached && !refresh) return cached;
    const pending = ensureAccount({
      store,
      issuerName: this.name,
      email: this.config.email,
      directoryUrl: this.directoryUrl,
      clock: this.context.clock,
      refresh,
      register: (keyPem) => this.register(session, keyPem),
    });
    this.accounts.set(key, pending);
    pending.catch(() => {
      if (this.accounts.get(key) === pending) this.accounts.delete(key);
    });
    return pending;
  }

  private async eab(): Promise<{ kid: string; hmacKey: string } | undefined> {
    const eab = this.config.eab;
    if (!eab) return undefined;
    return { kid: eab.kid, hmacKey: await this.context.readSecret(eab.hmacKey) };
  }

  /** newAccount for the key (idempotent: an existing account for the key is returned). */
  private async register(session: Session, keyPem: string): Promise<string> {
    const client = this.client(session, keyPem, undefined, await this.eab());
    const email = this.config.email;
    // Configuring an ACME issuer is agreeing to its CA's terms of service (docs/issuers.md says so).
    await this.call({ ...session, certName: undefined }, 'creating the account', () =>
      client.createAccount({
        termsOfServiceAgreed: true,
        ...(email ? { contact: [`mailto:${email}`] } : {}),
      }),
    );
    const url = client.getAccountUrl();
    session.logger.info(`issuer ${this.name}: using ACME account ${url}`);
    return url;
  }

  // --- plumbing

  private agentsFor(): Promise<{ https: HttpsAgent; http: HttpAgent }> {
    this.agents ??= (async () => {
      let secureContext: SecureContext | undefined;
      if (this.config.caBundle) {
        const path = resolve(this.context.baseDir, this.config.caBundle);
        let bundle: string;
        try {
          bundle = await readFile(path, 'utf8');
        } catch (error) {
          throw new CertRenewError(
            ErrorCode.issuerUnavailable,
            `ACME issuer ${this.name}: caBundle ${path} cannot be read (${(error as NodeJS.ErrnoException).code ?? 'error'})`,
            { cause: error, hint: 'caBundle is a PEM file, relative to the manifest' },
          );
        }
        if (!bundle.includes('-----BEGIN CERTIFICATE-----')) {
          throw new CertRenewError(
            ErrorCode.issuerUnavailable,
            `ACME issuer ${this.name}: caBundle ${path} holds no PEM certificate`,
          );
        }
        // The bundle is trusted beside (not instead of) the system roots, for this issuer only. Built once:
        // passing `ca` to the agent would rebuild trust from ~150 PEMs on every new connection.
        secureContext = createSecureContext({ ca: [...rootCertificates, bundle] });
      }
      return {
        https: new HttpsAgent({
          keepAlive: true,
          maxSockets: 16,
          ...(secureContext ? { secureContext } : {}),
        }),
        http: new HttpAgent({ keepAlive: true, maxSockets: 16 }),
      };
    })();
    this.agents.catch(() => {
      this.agents = undefined;
    });
    return this.agents;
  }

  private async session(
    signal: AbortSignal,
    certName: string | undefined,
    logger?: Logger,
    policy: RetryPolicy = this.retry,
  ): Promise<Session> {
    const [acme, agents] = await Promise.all([loadAcme(this.context.logger), this.agentsFor()]);
    const transport = new AcmeTransport(
      {
        agent: agents.https,
        httpAgent: agents.http,
        clock: this.context.clock,
        userAgent: 'cert-renew (acme-client)',
        requestTimeoutMs: this.options.requestTimeoutMs ?? 30_000,
        nonces: this.nonces,
        ...(this.options.onRequest ? { onRequest: this.options.onRequest } : {}),
      },
      signal,
    );
    const partial = { acme, transport, certName, logger: logger ?? this.context.logger };
    let directory = this.directory;
    if (!directory) {
      const fetch = () =>
        this.call(
          { ...partial, certName: undefined },
          'fetching the directory',
          async () => {
            const response = await transport.get(this.directoryUrl);
            const parsed = parseDirectory(response.data);
            if (!parsed) {
              throw new CertRenewError(
                ErrorCode.issuerUnavailable,
                `ACME issuer ${this.name}: ${this.directoryUrl} is not an ACME directory`,
                { hint: 'check the directory URL' },
              );
            }
            return parsed;
          },
          policy,
        );
      // The directory planning fetched for renewal information, when it did: one fetch per issuer and run.
      // Set before any await, so certificates issued at once share one fetch.
      const planned = this.renewalInfo.fetchedDirectory();
      directory = planned ? planned.then((d) => d ?? fetch()) : fetch();
      this.directory = directory;
      directory.catch(() => {
        if (this.directory === directory) this.directory = undefined;
      });
    }
    return { ...partial, directory: await directory };
  }

  private client(
    session: Session,
    keyPem: string,
    accountUrl: string | undefined,
    externalAccountBinding?: { kid: string; hmacKey: string },
  ): Client {
    const client = new session.acme.Client({
      directoryUrl: this.directoryUrl,
      accountKey: keyPem,
      ...(accountUrl ? { accountUrl } : {}),
      ...(externalAccountBinding ? { externalAccountBinding } : {}),
    });
    const http = (client as unknown as { http?: Partial<AcmeHttpInternals> }).http;
    if (!http || typeof http.request !== 'function') {
      throw new InternalError('acme-client has no replaceable HTTP client (its internals changed)');
    }
    http.request = (url, method, opts) => session.transport.request(url, method, opts);
    http.directoryCache = session.directory;
    http.directoryTimestamp = Math.floor(this.context.clock.now().getTime() / 1000);
    http.maxBadNonceRetries = 10;
    let parsed = this.accountKeys.get(keyPem);
    if (!parsed) {
      const key = createPrivateKey(keyPem);
      parsed = { key, jwk: session.acme.crypto.getJwk(key as unknown as string) };
      this.accountKeys.set(keyPem, parsed);
    }
    http.accountKey = parsed.key;
    http.jwk = parsed.jwk;
    return client;
  }

  private errorContext(session: Pick<Session, 'certName' | 'transport'>, step: string): AcmeErrorContext {
    return {
      ...(session.certName ? { certName: session.certName } : {}),
      issuerName: this.name,
      directoryUrl: this.directoryUrl,
      step,
      eabConfigured: this.config.eab !== undefined,
      badNonceDetails: session.transport.badNonceDetails,
    };
  }

  private who(session: Session): string {
    return `${session.certName ? `certificate ${session.certName}: ` : ''}ACME issuer ${this.name}`;
  }

  /** The error with the certificate's name in front (once), whatever produced it. */
  private tag(certName: string | undefined, error: unknown, step: string): CertRenewError {
    if (!(error instanceof CertRenewError)) {
      return acmeError(error, {
        ...(certName ? { certName } : {}),
        issuerName: this.name,
        directoryUrl: this.directoryUrl,
        step,
      });
    }
    if (!certName || error.message.startsWith(`certificate ${certName}: `)) return error;
    const issuerWide = error.message.startsWith(`ACME issuer ${this.name}`);
    return new CertRenewError(
      error.code,
      `certificate ${certName}: ${issuerWide ? '' : `ACME issuer ${this.name}: `}${error.message}`,
      {
        cause: error.cause ?? error,
        exitCode: error.exitCode,
        transient: error.transient,
        ...(error.retryAfter === undefined ? {} : { retryAfter: error.retryAfter }),
        ...(error.hint ? { hint: error.hint } : {}),
      },
    );
  }

  /** One ACME step, retried while its failures are transient and the deadline allows. */
  private call<T>(
    session: Pick<Session, 'certName' | 'transport' | 'logger'>,
    step: string,
    fn: () => Promise<T>,
    policy: RetryPolicy = this.retry,
  ): Promise<T> {
    const context = this.errorContext(session, step);
    return withRetry(() => fn(), {
      policy,
      signal: session.transport.signal,
      classify: (error) => acmeError(error, context),
      deadline: () => deadlineError(context),
      onRetry: (error, delayMs, attempt) =>
        session.logger.debug(
          `${error.message}; attempt ${attempt + 1}/${policy.maxAttempts} in ${delayMs} ms`,
        ),
    });
  }

  // --- ARI

  /** RFC 9773 suggested window, or undefined (no ARI, no AKI, any error: ARI never blocks a renewal). */
  renewalWindow(
    cert: StoredCertificate,
    signal: AbortSignal,
  ): Promise<{ start: Date; end: Date } | undefined> {
    return this.renewalInfo.window(cert, signal);
  }

  // --- dry run

  async check(context: IssuerCheckContext): Promise<string> {
    const once: RetryPolicy = { ...this.retry, maxAttempts: 1 };
    const session = await this.session(context.signal, undefined, undefined, once);
    const parts = [
      `directory ${this.directoryUrl} answers${session.directory.renewalInfo ? ' (with ARI)' : ''}`,
    ];
    this.checkProfile(session.directory, undefined);
    if (this.config.eab) await this.context.readSecret(this.config.eab.hmacKey);

    const blobKey = accountBlobKey(this.name, this.config.email);
    const raw = await context.store.getBlob(blobKey);
    if (raw === undefined) {
      parts.push('account would be created');
    } else {
      const blob = parseAccountBlob(raw, `account ${blobKey} in store ${context.store.name}`);
      const client = this.client(session, blob.keyPem, undefined);
      try {
        await this.call(
          session,
          'looking the account up',
          () => client.createAccount({ onlyReturnExisting: true }),
          once,
        );
        parts.push(`account ${client.getAccountUrl()} exists`);
      } catch (error) {
        if (problemType(error) !== 'accountDoesNotExist') throw error;
        parts.push('account key stored; the account would be registered');
      }
    }

    const challenges = new Map<string, Challenge>();
    for (const cert of context.certs) {
      const challenge = cert.challenge ?? this.config.challenge;
      challenges.set(challengeKey(challenge), challenge);
    }
    if (challenges.size === 0) challenges.set(challengeKey(this.config.challenge), this.config.challenge);
    for (const challenge of challenges.values()) {
      const solver = createSolver(challenge, {
        baseDir: this.context.baseDir,
        env: this.context.env,
        logger: this.context.logger,
        getStore: (name) => this.context.getStore(name),
        issuerName: this.name,
        ...(this.context.runProcess ? { runProcess: this.context.runProcess } : {}),
      });
      parts.push(await solver.check());
    }
    return parts.join('; ');
  }

  async close(): Promise<void> {
    await this.renewalInfo.close();
    const agents = this.agents;
    this.agents = undefined;
    if (agents) {
      try {
        const { https, http } = await agents;
        https.destroy();
        http.destroy();
      } catch {
        // never created
      }
    }
  }
}

export type { AcmeDirectory } from './directory.js';
