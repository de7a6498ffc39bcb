/**
 * The one place that names things inside a store, so the filesystem and Redis layouts cannot drift.
 * Names were validated by the manifest (safe path components); emails and issuer names are encoded.
 */

/** Blob key for an ACME account (key + URL) of one issuer and contact email. */
export function accountBlobKey(issuer: string, email: string | undefined): string {
  return `account/${encodeURIComponent(issuer)}/${encodeURIComponent(email ?? 'no-email')}`;
}

/** Blob key for the local CA of one issuer. */
export function localCaBlobKey(issuer: string): string {
  return `local-ca/${encodeURIComponent(issuer)}`;
}

/** Redis keys. `{name}` is a Cluster hash tag: a certificate's keys all live in one slot. */
export const redisKeys = {
  cert: (prefix: string, name: string) => `${prefix}cert:{${name}}`,
  history: (prefix: string, name: string) => `${prefix}history:{${name}}`,
  attempts: (prefix: string, name: string) => `${prefix}attempts:{${name}}`,
  lock: (prefix: string, name: string) => `${prefix}lock:{${name}}`,
  challenge: (prefix: string, token: string) => `${prefix}challenge:${token}`,
  /** `account/le/ops%40example.com` → `account:le:ops@example.com`. */
  blob: (prefix: string, key: string) => `${prefix}${key.split('/').map(decodeURIComponent).join(':')}`,
} as const;
