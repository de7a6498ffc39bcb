/**
 * Revoking at an ACME CA (RFC 8555 §7.6): `revokeCert` signed with the account key; when the CA answers
 * `unauthorized` (this account did not order the certificate — it was imported, or ordered under another
 * account) or `accountDoesNotExist` (the CA lost or deactivated the stored account), again signed with the
 * certificate's own private key, which RFC 8555 also accepts.
 */
import { AlreadyRevokedError } from '../../errors.js';
import { REVOCATION_REASON_CODES } from '../../x509/revocation.js';
import type { RevokeRequest } from '../types.js';
import type { AcmeAccounts } from './account.js';
import { AcmeClient } from './client.js';
import type { AcmeConnector } from './connection.js';
import { problemTypeOf } from './errors.js';

export interface RevokeContext {
  issuerName: string;
  connector: AcmeConnector;
  accounts: AcmeAccounts;
}

/** Resolves with how it was signed; throws ISSUER_REJECTED (`alreadyRevoked`, refused) or the transport's errors. */
export async function revokeAtAcme(context: RevokeContext, request: RevokeRequest): Promise<{ via: string }> {
  const connection = await context.connector.open(request.signal, {
    certName: request.name,
    logger: request.logger,
  });
  const reason = REVOCATION_REASON_CODES[request.reason];
  try {
    const account = await context.accounts.get(request.store, connection);
    const client = await AcmeClient.create(connection, { keyPem: account.keyPem, accountUrl: account.url });
    try {
      await client.revokeCertificate(request.cert.certPem, reason);
      return { via: 'acme revokeCert (account key)' };
    } catch (error) {
      const problem = problemTypeOf(error);
      if (problem !== 'unauthorized' && problem !== 'accountDoesNotExist') throw error;
      request.logger.info(
        `${request.name}: issuer ${context.issuerName}: ${problem === 'unauthorized' ? 'the account did not order it' : 'the CA does not know the stored account'}; revoking with the certificate's key`,
      );
    }
    const byKey = await AcmeClient.create(connection, { keyPem: request.cert.keyPem });
    await byKey.revokeCertificate(request.cert.certPem, reason, true);
    return { via: 'acme revokeCert (certificate key)' };
  } catch (error) {
    if (problemTypeOf(error) === 'alreadyRevoked') {
      throw new AlreadyRevokedError(
        `ACME issuer ${context.issuerName} says the certificate is already revoked`,
        {
          cause: error,
        },
      );
    }
    throw error;
  }
}
