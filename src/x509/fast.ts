/**
 * Planning thousands of certificates without OpenSSL: when the stored metadata carries the SHA-256
 * fingerprint of the stored certificate's exact bytes, the dates, serial and names recorded beside it at
 * issuance (after verification) describe that certificate, and the key is compared as DER bytes. Anything
 * unexpected — no metadata, a fingerprint that does not match, a key this reader does not understand, a
 * key that does not match — returns undefined and the caller parses with node:crypto as before. The names
 * are those requested at issuance (which verification proved the certificate covers); the policy judges
 * domain changes by those in both paths, so the outcome is the same either way.
 */
import { createHash } from 'node:crypto';
import type { StoredCertificate } from '../stores/types.js';
import { ipVersion } from '../util/ip.js';
import { certificateMaterial, privateKeyMaterial, sameMaterial } from './der.js';
import type { CertInfo } from './inspect.js';
import { keyTypeOfMaterial } from './keys.js';
import { firstCertificateDer } from './pem.js';

/**
 * Whether `fingerprint`, in node's form (`AB:CD:…`, X509Certificate.fingerprint256), names `digest` (the
 * digest's bytes). Compared character by character: no string is made, once per certificate of a large plan.
 */
export function sameFingerprint(fingerprint: string, digest: Buffer): boolean {
  if (fingerprint.length !== digest.length * 3 - 1) return false;
  for (let i = 0; i < digest.length; i++) {
    const at = i * 3;
    if (i > 0 && fingerprint.charCodeAt(at - 1) !== 0x3a) return false; // ':'
    const byte = (digest[i] as number) ?? 0;
    if (
      hexValue(fingerprint.charCodeAt(at)) !== byte >> 4 ||
      hexValue(fingerprint.charCodeAt(at + 1)) !== (byte & 15)
    )
      return false;
  }
  return true;
}

/** The value of one hexadecimal digit's character code (either case); -1 for anything else. */
function hexValue(code: number): number {
  if (code >= 0x30 && code <= 0x39) return code - 0x30;
  const lower = code | 0x20;
  return lower >= 0x61 && lower <= 0x66 ? lower - 0x61 + 10 : -1;
}

export function inspectWithMeta(stored: StoredCertificate): { cert: CertInfo; keyMatches: true } | undefined {
  const meta = stored.meta;
  if (!meta?.fingerprint || !meta.notBefore || !meta.notAfter || !Array.isArray(meta.domains))
    return undefined;
  const der = firstCertificateDer(stored.certPem);
  if (der === undefined) return undefined;
  if (!sameFingerprint(meta.fingerprint, createHash('sha256').update(der).digest())) return undefined;
  const certKey = certificateMaterial(der);
  const privateKey = privateKeyMaterial(stored.keyPem);
  if (!certKey || !privateKey || !sameMaterial(certKey, privateKey)) return undefined;
  // X.509 times have whole seconds.
  const notBefore = new Date(Math.floor(Date.parse(meta.notBefore) / 1000) * 1000);
  const notAfter = new Date(Math.floor(Date.parse(meta.notAfter) / 1000) * 1000);
  if (Number.isNaN(notBefore.getTime()) || Number.isNaN(notAfter.getTime())) return undefined;
  const names = meta.domains.map((d) => d.toLowerCase());
  return {
    keyMatches: true,
    cert: {
      subject: '',
      issuer: '',
      serial: meta.serial,
      fingerprint256: meta.fingerprint,
      notBefore,
      notAfter,
      lifetimeMs: notAfter.getTime() - notBefore.getTime(),
      dnsNames: names.filter((n) => ipVersion(n) === 0),
      ipAddresses: names.filter((n) => ipVersion(n) !== 0),
      keyType: keyTypeOfMaterial(certKey),
      isCA: false,
    },
  };
}
