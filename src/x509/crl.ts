/**
 * Certificate revocation lists (RFC 5280 §5) for the local CA, built with @peculiar/x509 (loaded lazily,
 * like every builder in build.ts).
 */
import { importSigningKey, loadX509 } from './build.js';
import { REVOCATION_REASON_CODES, type RevocationReason } from './revocation.js';

export interface CrlEntry {
  /** Hex serial (as node:crypto prints it). */
  serial: string;
  reason: RevocationReason;
  /** ISO 8601. */
  revokedAt: string;
}

export interface CrlSpec {
  caCertPem: string;
  caKeyPem: string;
  entries: readonly CrlEntry[];
  thisUpdate: Date;
  nextUpdate: Date;
}

/**
 * The serial as DER INTEGER content: @peculiar writes the hex bytes as they are, so a serial whose first
 * byte has the high bit set needs a leading zero byte to stay positive (X.690 §8.3).
 */
function positiveHex(serial: string): string {
  const hex = serial.toLowerCase().length % 2 === 1 ? `0${serial.toLowerCase()}` : serial.toLowerCase();
  return /^[89a-f]/.test(hex) ? `00${hex}` : hex;
}

/** A CRL signed by the CA, PEM. Throws what the key import throws (STORE_CORRUPT for a bad key). */
export async function createCrl(spec: CrlSpec): Promise<string> {
  const x509 = await loadX509();
  const keys = await importSigningKey(spec.caKeyPem);
  const ca = new x509.X509Certificate(spec.caCertPem);
  const crl = await x509.X509CrlGenerator.create({
    issuer: ca.subjectName,
    thisUpdate: spec.thisUpdate,
    nextUpdate: spec.nextUpdate,
    signingAlgorithm: keys.signingAlgorithm,
    signingKey: keys.privateKey,
    entries: spec.entries.map((e) => ({
      serialNumber: positiveHex(e.serial),
      revocationDate: new Date(e.revokedAt),
      reason: REVOCATION_REASON_CODES[e.reason],
    })),
  });
  // `X509 CRL` is the PEM label RFC 7468 §5 gives CRLs (what OpenSSL reads), not @peculiar's `CRL`.
  const base64 = Buffer.from(crl.rawData).toString('base64');
  return `-----BEGIN X509 CRL-----\n${base64.replace(/(.{64})/g, '$1\n').replace(/\n$/, '')}\n-----END X509 CRL-----\n`;
}
