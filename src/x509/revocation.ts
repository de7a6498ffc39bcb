/**
 * Revocation reasons (RFC 5280 §5.3.1 CRLReason): the names cert-renew accepts on `revoke --reason`, and
 * the numeric codes the issuers send (ACME `revokeCert` `reason`, RFC 8555 §7.6; step-ca `reasonCode`; the
 * local CA's CRL entries).
 */
export const REVOCATION_REASON_CODES = {
  unspecified: 0,
  keyCompromise: 1,
  affiliationChanged: 3,
  superseded: 4,
  cessationOfOperation: 5,
} as const;
export type RevocationReason = keyof typeof REVOCATION_REASON_CODES;

export const REVOCATION_REASONS: readonly RevocationReason[] = Object.keys(
  REVOCATION_REASON_CODES,
) as RevocationReason[];

export function isRevocationReason(value: unknown): value is RevocationReason {
  return typeof value === 'string' && Object.hasOwn(REVOCATION_REASON_CODES, value);
}
