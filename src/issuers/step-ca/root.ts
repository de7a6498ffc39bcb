/**
 * Pinning the step-ca's root. The root is fetched once from `/root/<fingerprint>` WITHOUT verifying the
 * server (nothing else is trusted yet); its SHA-256 must equal the manifest's `rootFingerprint`, and from
 * then on every call trusts that root and nothing else. A mismatch fails before any secret is read or sent.
 */
import { createHash, X509Certificate } from 'node:crypto';
import { CertRenewError, ErrorCode, ExitCode } from '../../errors.js';
import { splitPemChain } from '../../x509/pem.js';
import type { StepCaApi } from './http.js';

/** `AB:cd:…` or `abcd…` → `abcd…`; `undefined` unless it is 64 hex digits. */
export function normalizeFingerprint(text: string): string | undefined {
  const hex = text.replace(/[\s:]/g, '').toLowerCase();
  return /^[0-9a-f]{64}$/.test(hex) ? hex : undefined;
}

/**
 * The CA's root (PEM), checked against `fingerprint` (normalized, or undefined when the manifest's was not
 * one). Throws CertRenewError: MANIFEST_INVALID (exit code 2) for a malformed fingerprint, ISSUER_REJECTED
 * when the server is not the pinned CA, ISSUER_UNAVAILABLE / ISSUER_TIMEOUT when it cannot be reached.
 */
export async function fetchPinnedRoot(
  api: StepCaApi,
  fingerprint: string | undefined,
  signal: AbortSignal,
): Promise<string> {
  if (fingerprint === undefined) {
    throw new CertRenewError(
      ErrorCode.manifestInvalid,
      `step-ca issuer '${api.issuerName}': rootFingerprint is not a SHA-256 fingerprint (64 hex digits, colons allowed)`,
      { exitCode: ExitCode.usage, hint: 'run `step certificate fingerprint root_ca.crt` on the CA' },
    );
  }
  // Unverified on purpose: nothing is trusted yet, and what comes back is checked against the pin.
  const response = await api.call({
    method: 'GET',
    path: `/root/${fingerprint}`,
    trust: { insecure: true },
    signal,
  });
  const notPinned = (why: string) =>
    new CertRenewError(
      ErrorCode.issuerRejected,
      `step-ca issuer '${api.issuerName}': ${api.url} is not the CA pinned by rootFingerprint (${why}); nothing was sent to it`,
      { hint: 'check the url and rootFingerprint of the issuer in the manifest' },
    );
  if (response.status >= 500) throw api.answerError(response, undefined, 'root');
  if (response.status !== 200)
    throw notPinned(`it has no root with that fingerprint, HTTP ${response.status}`);
  const pem = (response.json as { ca?: unknown } | undefined)?.ca;
  const rootPem = typeof pem === 'string' ? splitPemChain(pem)[0] : undefined;
  if (rootPem === undefined) throw notPinned('its answer holds no certificate');
  let actual: string;
  try {
    actual = createHash('sha256').update(new X509Certificate(rootPem).raw).digest('hex');
  } catch {
    throw notPinned('its root does not parse');
  }
  if (actual !== fingerprint) throw notPinned(`its root's SHA-256 is ${actual}`);
  return rootPem;
}
