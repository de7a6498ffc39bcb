/**
 * ACME directory aliases and the directory document. The aliases name public CAs' production directories
 * (and Let's Encrypt's staging one); anything else in `directory` must be an https (or http, for a CA on
 * a private network) URL.
 */
import { CertRenewError, ErrorCode } from '../../errors.js';
import type { AcmeAlias } from '../../manifest/types.js';

export const ACME_DIRECTORY_URLS: Readonly<Record<AcmeAlias, string>> = {
  letsencrypt: 'https://acme-v02.api.letsencrypt.org/directory',
  'letsencrypt-staging': 'https://acme-staging-v02.api.letsencrypt.org/directory',
  zerossl: 'https://acme.zerossl.com/v2/DV90',
  google: 'https://dv.acme-v02.api.pki.goog/directory',
  buypass: 'https://api.buypass.com/acme/directory',
};

/** The directory URL for an alias or a URL; throws for anything else. */
export function resolveDirectoryUrl(directory: string, issuerName: string): string {
  const alias = ACME_DIRECTORY_URLS[directory as AcmeAlias];
  if (alias) return alias;
  let url: URL;
  try {
    url = new URL(directory);
  } catch {
    throw new CertRenewError(
      ErrorCode.manifestInvalid,
      `issuer ${issuerName}: directory ${JSON.stringify(directory)} is neither a URL nor a known alias`,
      { hint: `use an https URL or one of ${Object.keys(ACME_DIRECTORY_URLS).join(', ')}` },
    );
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new CertRenewError(
      ErrorCode.manifestInvalid,
      `issuer ${issuerName}: directory ${directory} must be an https URL`,
    );
  }
  return url.href;
}

/** The fields of an RFC 8555 directory cert-renew uses (plus RFC 9773's renewalInfo and profiles). */
export interface AcmeDirectory {
  newNonce: string;
  newAccount: string;
  newOrder: string;
  renewalInfo?: string;
  meta?: {
    termsOfService?: string;
    externalAccountRequired?: boolean;
    profiles?: Record<string, string>;
    [field: string]: unknown;
  };
  [field: string]: unknown;
}

/** Checks that a response body looks like an ACME directory. */
export function parseDirectory(data: unknown): AcmeDirectory | undefined {
  if (typeof data !== 'object' || data === null) return undefined;
  const d = data as Record<string, unknown>;
  for (const field of ['newNonce', 'newAccount', 'newOrder']) {
    if (typeof d[field] !== 'string') return undefined;
  }
  if (d.renewalInfo !== undefined && typeof d.renewalInfo !== 'string') return undefined;
  if (d.meta !== undefined && (typeof d.meta !== 'object' || d.meta === null)) return undefined;
  return data as AcmeDirectory;
}

/**
 * Throws ISSUER_REJECTED unless the directory lists `profile` (draft-aaron-acme-profiles); no profile
 * asked for always passes. `who` starts the message ("certificate web: ACME issuer le").
 */
export function assertProfileOffered(
  directory: AcmeDirectory,
  profile: string | undefined,
  who: string,
): void {
  const offered = directory.meta?.profiles;
  if (!profile || (offered && Object.hasOwn(offered, profile))) return;
  throw new CertRenewError(
    ErrorCode.issuerRejected,
    `${who}: the CA does not offer profile ${JSON.stringify(profile)}`,
    {
      hint: offered
        ? `use one of: ${Object.keys(offered).join(', ')}`
        : 'the CA offers no profiles: remove profile',
    },
  );
}
