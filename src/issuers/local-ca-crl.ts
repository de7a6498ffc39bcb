/**
 * The local CA's revocations: `revoke` adds the serial to the CA's list (blob `local-ca-revoked/<issuer>`,
 * JSON) and publishes a freshly signed CRL (blob `local-ca-crl/<issuer>`, PEM: on a filesystem store it is
 * the file `.cert-renew/blobs/local-ca-crl/<issuer>`, which `openssl crl` reads and a web server can serve).
 * `status` and `show` consult the list.
 */
import { AlreadyRevokedError, CertRenewError, describeError, ErrorCode } from '../errors.js';
import { localCaCrlBlobKey, localCaRevokedBlobKey } from '../stores/keys.js';
import type { Store } from '../stores/types.js';
import type { CrlEntry } from '../x509/crl.js';
import { sameSerial } from '../x509/inspect.js';
import { isRevocationReason } from '../x509/revocation.js';
import type { RevokeRequest } from './types.js';

/** The CRL's nextUpdate: a week after it was signed (it is signed again at every revocation). */
export const CRL_VALIDITY_MS = 7 * 86_400_000;

/** The serials the CA revoked; a damaged list reads as empty (status must not fail on it). */
export async function readRevoked(issuer: string, store: Store): Promise<CrlEntry[]> {
  const text = await store.getBlob(localCaRevokedBlobKey(issuer));
  if (text === undefined) return [];
  try {
    const parsed = JSON.parse(text) as unknown;
    if (!Array.isArray(parsed)) return [];
    return parsed.filter(
      (e): e is CrlEntry =>
        typeof e?.serial === 'string' && typeof e.revokedAt === 'string' && isRevocationReason(e.reason),
    );
  } catch {
    return [];
  }
}

/**
 * Adds the certificate's serial to the list and publishes the CRL re-signed with every entry. Rejects with
 * ISSUER_REJECTED when the CA already lists the serial, and with what the store throws.
 */
export async function revokeAtLocalCa(
  issuer: string,
  ca: { certPem: string; keyPem: string },
  serial: string,
  request: RevokeRequest,
): Promise<void> {
  const entries = await readRevoked(issuer, request.store);
  if (entries.some((e) => sameSerial(e.serial, serial))) {
    throw new AlreadyRevokedError(`${request.name}: local CA '${issuer}' already revoked serial ${serial}`);
  }
  const next: CrlEntry[] = [
    ...entries,
    { serial, reason: request.reason, revokedAt: request.now.toISOString() },
  ];
  let crlPem: string;
  try {
    const { createCrl } = await import('../x509/crl.js');
    crlPem = await createCrl({
      caCertPem: ca.certPem,
      caKeyPem: ca.keyPem,
      entries: next,
      thisUpdate: request.now,
      nextUpdate: new Date(request.now.getTime() + CRL_VALIDITY_MS),
    });
  } catch (error) {
    if (error instanceof CertRenewError) throw error;
    throw new CertRenewError(
      ErrorCode.issuerRejected,
      `${request.name}: local CA '${issuer}' could not sign its CRL: ${describeError(error)}`,
      { cause: error },
    );
  }
  // The list first: a CRL is always rebuilt from it, so a crash between the two writes loses nothing.
  await request.store.putBlob(localCaRevokedBlobKey(issuer), `${JSON.stringify(next, null, 2)}\n`);
  await request.store.putBlob(localCaCrlBlobKey(issuer), crlPem);
}
