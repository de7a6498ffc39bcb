/**
 * Revoking at step-ca: `POST /1.0/revoke` `{serial (decimal), reasonCode, reason, passive: true, ott}`
 * with a one-time token from the JWK provisioner (audience `<url>/1.0/revoke`, subject the serial); when the
 * provisioner key cannot be unlocked, the same request without a token over mutual TLS with the certificate
 * itself (step-ca accepts a certificate revoking itself).
 */
import { AlreadyRevokedError, CertRenewError, describeError } from '../../errors.js';
import { inspectCertificate } from '../../x509/inspect.js';
import { joinPem, splitPemChain } from '../../x509/pem.js';
import { REVOCATION_REASON_CODES } from '../../x509/revocation.js';
import type { RevokeRequest } from '../types.js';
import type { StepCaApi } from './http.js';

export interface StepCaRevokeContext {
  api: StepCaApi;
  /** The pinned root (every call trusts only it). */
  root: string;
  /** A one-time token for `/1.0/revoke` with the serial as subject; rejects when the key cannot be unlocked. */
  token(audience: string, subject: string): Promise<string>;
}

/** Resolves with how it was authorised; rejects with ISSUER_REJECTED / ISSUER_UNAVAILABLE. */
export async function revokeAtStepCa(
  context: StepCaRevokeContext,
  request: RevokeRequest,
): Promise<{ via: string }> {
  const { api, root } = context;
  const serial = BigInt(`0x${inspectCertificate(request.cert.certPem).serial}`).toString(10);
  const body = {
    serial,
    reasonCode: REVOCATION_REASON_CODES[request.reason],
    reason: `cert-renew revoke: ${request.reason}`,
    passive: true,
  };
  let ott: string | undefined;
  try {
    ott = await context.token(`${api.url}/1.0/revoke`, serial);
  } catch (error) {
    if (!(error instanceof CertRenewError)) throw error;
    request.logger.info(
      `${request.name}: step-ca issuer '${api.issuerName}': no provisioner token (${describeError(error)}); revoking over mutual TLS with the certificate`,
    );
  }
  const response = await api.call({
    method: 'POST',
    path: '/1.0/revoke',
    trust: { ca: root },
    body: ott ? { ...body, ott } : body,
    ...(ott
      ? {}
      : {
          clientCert: {
            certPem: joinPem(splitPemChain(request.cert.certPem + request.cert.chainPem)),
            keyPem: request.cert.keyPem,
          },
        }),
    signal: request.signal,
  });
  if (response.status !== 200 && response.status !== 201) {
    const error = api.answerError(response, request.name, 'revoke');
    if (response.status < 500 && /already (been )?revoked/i.test(error.message)) {
      throw new AlreadyRevokedError(error.message, { cause: error });
    }
    throw error;
  }
  return { via: ott ? 'step-ca revoke (provisioner token)' : 'step-ca revoke (mutual TLS)' };
}
