/**
 * One certificate's ACME order, RFC 8555 §7.4 from end to end: account → newOrder (with the configured
 * `profile` and RFC 9773 `replaces`) → authorizations and their challenges (authorize.ts) → finalize with
 * the CSR → download the chain. Every step goes through the client adapter (client.ts), so every failure
 * here is already a coded error.
 */
import { CertRenewError, describeError, ErrorCode } from '../../errors.js';
import type { AcmeIssuerConfig, Challenge, ResolvedCertificate } from '../../manifest/types.js';
import type { StoredCertificate } from '../../stores/types.js';
import { splitPemChain } from '../../x509/pem.js';
import type { IssueRequest, IssueResult } from '../types.js';
import type { AcmeAccounts } from './account.js';
import { ariCertIdentifierFromPem } from './ari.js';
import { type AuthorizeContext, authorize } from './authorize.js';
import { AcmeClient, type Order, orderPayload } from './client.js';
import type { AcmeConnection, AcmeConnector } from './connection.js';
import { type AcmeDirectory, assertProfileOffered } from './directory.js';
import { deadlineError, problemTypeOf } from './errors.js';
import { pollUntilSettled } from './retry.js';
import { parseProblem } from './transport.js';

export interface OrderContext extends AuthorizeContext {
  issuerName: string;
  config: AcmeIssuerConfig;
  connector: AcmeConnector;
  accounts: AcmeAccounts;
}

/**
 * Orders, validates and downloads the certificate for `request.csrPem`. Errors are CertRenewErrors that
 * may not name the certificate yet (the issuer's `issue` adds it).
 */
export async function orderCertificate(context: OrderContext, request: IssueRequest): Promise<IssueResult> {
  const { entry } = request;
  const challenge = challengeFor(entry, context.config);
  const connection = await context.connector.open(request.signal, {
    certName: entry.name,
    logger: request.logger,
  });
  const profile = context.config.profile;
  assertProfileOffered(connection.directory, profile, connection.who());
  let account = await context.accounts.get(request.store, connection);
  let client = await AcmeClient.create(connection, { keyPem: account.keyPem, accountUrl: account.url });
  const replaces = replacesFor(request.current, connection.directory, context.issuerName);

  let order: Order;
  try {
    order = await createOrder(connection, client, entry, profile, replaces);
  } catch (error) {
    if (problemTypeOf(error) !== 'accountDoesNotExist') throw error;
    // The CA forgot the account (a test CA restarted, an account deactivated): register the key again.
    connection.logger.info(
      `issuer ${context.issuerName}: the CA does not know the stored account; registering it again`,
    );
    account = await context.accounts.get(request.store, connection, true);
    client = await AcmeClient.create(connection, { keyPem: account.keyPem, accountUrl: account.url });
    order = await createOrder(connection, client, entry, profile, replaces);
  }
  connection.logger.debug(
    `issuer ${context.issuerName}: order ${order.url} for ${entry.domains.join(', ')} is ${order.status}`,
  );

  await authorize(context, connection, client, order, challenge);
  const valid = await finalize(context, connection, client, order, request.csrPem);
  const pem = await client.certificate(valid, context.config.preferredChain);
  const [leaf, ...chain] = splitPemChain(pem);
  if (!leaf) {
    throw new CertRenewError(
      ErrorCode.issuerRejected,
      `${connection.who()}: the CA returned no certificate from ${valid.certificate}`,
    );
  }
  connection.logger.debug(
    `issuer ${context.issuerName}: ${entry.name} issued (${connection.transport.requests} requests)`,
  );
  return { certPem: leaf, chainPem: chain.join(''), via: 'acme order' };
}

/** The certificate's challenge (or the issuer's); a wildcard needs dns-01 (CHALLENGE_FAILED otherwise). */
function challengeFor(entry: ResolvedCertificate, config: AcmeIssuerConfig): Challenge {
  const challenge = entry.challenge ?? config.challenge;
  const wildcard = entry.domains.find((d) => d.startsWith('*.'));
  if (wildcard && challenge.type !== 'dns-01') {
    throw new CertRenewError(
      ErrorCode.challengeFailed,
      `certificate ${entry.name}: ${wildcard} can only be validated by dns-01, not ${challenge.type}`,
      { hint: 'give this certificate a dns-01 challenge' },
    );
  }
  return challenge;
}

function replacesFor(
  current: StoredCertificate | undefined,
  directory: AcmeDirectory,
  issuerName: string,
): string | undefined {
  // Only a certificate this issuer gave can be replaced (RFC 9773 §5); without ARI there is no `replaces`.
  if (!directory.renewalInfo || !current || current.meta?.issuer !== issuerName) return undefined;
  return ariCertIdentifierFromPem(current.certPem);
}

/** newOrder; a CA that says the certificate was already replaced gets the order again without `replaces`. */
async function createOrder(
  connection: AcmeConnection,
  client: AcmeClient,
  entry: ResolvedCertificate,
  profile: string | undefined,
  replaces: string | undefined,
): Promise<Order> {
  const withProfile = profile ? { profile } : {};
  try {
    return await client.createOrder(
      orderPayload(entry.domains, { ...withProfile, ...(replaces ? { replaces } : {}) }),
    );
  } catch (error) {
    if (!replaces || problemTypeOf(error) !== 'alreadyReplaced') throw error;
    connection.logger.debug(
      `issuer ${connection.issuerName}: ${entry.name}: ${describeError(error)}; ordering without replaces`,
    );
    return client.createOrder(orderPayload(entry.domains, withProfile));
  }
}

/** finalize (RFC 8555 §7.4), then polls the order until the certificate is ready. */
async function finalize(
  context: OrderContext,
  connection: AcmeConnection,
  client: AcmeClient,
  order: Order,
  csrPem: string,
): Promise<Order> {
  let current: Order;
  try {
    current = await client.finalizeOrder(order, csrPem);
  } catch (error) {
    // A retried finalize whose first attempt went through answers orderNotReady: look at the order.
    if (problemTypeOf(error) !== 'orderNotReady') throw error;
    current = await client.getOrder(order);
    if (current.status !== 'processing' && current.status !== 'valid') throw error;
  }
  const step = 'waiting for the certificate';
  const processing = current;
  const settled = await pollUntilSettled(() => client.getOrder(processing, step), {
    policy: context.poll,
    signal: connection.signal,
    timeout: () => deadlineError(connection.errorContext(step)),
  });
  if (settled.status !== 'valid') {
    const problem = settled.error ? parseProblem(settled.error) : undefined;
    throw new CertRenewError(
      ErrorCode.issuerRejected,
      `${connection.who()}: the order became ${settled.status}${problem ? `: ${problem.detail} (${problem.type})` : ''}`,
    );
  }
  return settled;
}
