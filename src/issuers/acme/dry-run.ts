/**
 * The ACME issuer's dry run: proves the CA answers and everything an order would need is in place, without
 * ordering, registering or writing anything. One attempt per request: a dry run reports, it does not wait.
 */
import { CertRenewError, ErrorCode } from '../../errors.js';
import type { AcmeIssuerConfig, Challenge, ResolvedCertificate } from '../../manifest/types.js';
import type { Logger } from '../../runtime/logger.js';
import { accountBlobKey } from '../../stores/keys.js';
import type { IssuerCheckContext } from '../types.js';
import { type AcmeAccounts, parseAccountBlob } from './account.js';
import { Dns01Solver } from './challenges/dns01.js';
import { challengeKey, createSolver, type SolverContext } from './challenges/index.js';
import { AcmeClient } from './client.js';
import type { AcmeConnector } from './connection.js';
import { assertProfileOffered } from './directory.js';
import { problemTypeOf } from './errors.js';
import { once, type RetryPolicy } from './retry.js';

export interface DryRunContext {
  issuerName: string;
  config: AcmeIssuerConfig;
  connector: AcmeConnector;
  accounts: AcmeAccounts;
  retry: RetryPolicy;
  solverContext(logger: Logger): SolverContext;
  logger: Logger;
}

/**
 * One line (parts joined by "; "): the directory answers (and offers ARI), the profile is offered, the
 * EAB secret reads, the stored account exists at the CA (or would be created / registered, with `eab` when
 * the directory says externalAccountRequired), and each
 * distinct challenge of `check.certs` can be answered. Throws CertRenewError when any of it fails.
 */
export async function dryRunCheck(context: DryRunContext, check: IssuerCheckContext): Promise<string> {
  const single = once(context.retry);
  const { config, issuerName } = context;
  const connection = await context.connector.open(check.signal, { directoryPolicy: single });
  const parts = [
    `directory ${connection.directoryUrl} answers${connection.directory.renewalInfo ? ' (with ARI)' : ''}`,
  ];
  assertProfileOffered(connection.directory, config.profile, connection.who());
  await context.accounts.eab();

  const blobKey = accountBlobKey(issuerName, config.email);
  const raw = await check.store.getBlob(blobKey);
  // A new account at a CA that requires External Account Binding (RFC 8555 §7.3.4) needs `eab`: without
  // it the first renewal would fail at newAccount, however long from now that is.
  const assertCanRegister = () => {
    if (!connection.directory.meta?.externalAccountRequired || config.eab) return;
    throw new CertRenewError(
      ErrorCode.issuerRejected,
      `${connection.who()}: the CA requires External Account Binding to create an account (its directory says externalAccountRequired), and the issuer has no "eab"`,
      {
        hint: 'set "eab": {"kid": …, "hmacKey": {"env": …}} on the issuer, with the key id and HMAC key from the CA (docs/issuers.md)',
      },
    );
  };
  if (raw === undefined) {
    assertCanRegister();
    parts.push('account would be created');
  } else {
    const blob = parseAccountBlob(raw, `account ${blobKey} in store ${check.store.name}`);
    const client = await AcmeClient.create(connection, { keyPem: blob.keyPem });
    try {
      await client.createAccount({ onlyReturnExisting: true }, 'looking the account up', single);
      parts.push(`account ${client.accountUrl} exists`);
    } catch (error) {
      if (problemTypeOf(error) !== 'accountDoesNotExist') throw error;
      assertCanRegister();
      parts.push('account key stored; the account would be registered');
    }
  }

  const challenges = new Map<string, Challenge>();
  for (const cert of check.certs) {
    const challenge = cert.challenge ?? config.challenge;
    challenges.set(challengeKey(challenge), challenge);
  }
  if (challenges.size === 0) challenges.set(challengeKey(config.challenge), config.challenge);
  for (const challenge of challenges.values()) {
    const solver = createSolver(challenge, context.solverContext(context.logger));
    parts.push(await solver.check());
  }
  return parts.join('; ');
}

/**
 * The dry run of one certificate's challenge: for dns-01, what `Dns01Solver.rehearse` checks of its
 * `_acme-challenge` names (see there); undefined for other challenges (the issuer-wide check covers them).
 * Throws CertRenewError (CHALLENGE_FAILED, SECRET_UNAVAILABLE …); the caller names the certificate.
 */
export async function dryRunCertificate(
  challenge: Challenge,
  entry: ResolvedCertificate,
  solverContext: SolverContext,
  signal: AbortSignal,
): Promise<string | undefined> {
  if (challenge.type !== 'dns-01') return undefined;
  return new Dns01Solver(challenge, solverContext).rehearse(entry.domains, signal);
}
