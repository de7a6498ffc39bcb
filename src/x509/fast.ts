/**
 * Planning thousands of certificates without OpenSSL: when the stored metadata names the certificate it sits
 * beside — the same serial number, notBefore and notAfter as the certificate's own bytes, and the key is the
 * certificate's — the fields recorded at issuance (after verification) describe that certificate: its
 * fingerprint and the names it was issued for. The dates and the key come from the certificate itself (a
 * minimal DER walk, der.ts), never from the metadata. Anything unexpected — no metadata, another serial or
 * other dates (metadata of another certificate, a certificate replaced by hand), a key this reader does not
 * understand, a key that does not match — returns undefined and the caller parses with node:crypto as
 * before. The names are those requested at issuance (which verification proved the certificate covers);
 * the policy judges domain changes by those in both paths, so the outcome is the same either way.
 *
 * Why not the SHA-256 of the bytes: hashing needs node:crypto, whose loading is ~3 ms of a nothing-due
 * run's start-up (the daily run; docs/performance.md). A serial is unique per issuer (RFC 5280 §4.1.2.2);
 * with the same validity and key, another certificate would have to be made to collide on purpose, by
 * someone who could as well rewrite meta.json.
 */
import type { StoredCertificate } from '../stores/types.js';
import { ipVersion } from '../util/ip.js';
import { certificateIdentity, privateKeyMaterial, sameMaterial } from './der.js';
import { type CertInfo, sameSerial } from './inspect.js';
import { keyTypeOfMaterial } from './keys.js';
import { firstCertificateDer } from './pem.js';

/** X.509 times have whole seconds: a stored ISO time as the certificate's, or NaN. */
function wholeSeconds(iso: string): number {
  return Math.floor(Date.parse(iso) / 1000) * 1000;
}

/**
 * The certificate's facts from its metadata and its own bytes when the metadata is its (see above), with
 * `keyMatches: true` (the key is compared here); undefined otherwise: the caller parses with node:crypto.
 */
export function inspectWithMeta(stored: StoredCertificate): { cert: CertInfo; keyMatches: true } | undefined {
  const meta = stored.meta;
  if (!meta?.fingerprint || !meta.notBefore || !meta.notAfter || !Array.isArray(meta.domains))
    return undefined;
  const der = firstCertificateDer(stored.certPem);
  if (der === undefined) return undefined;
  const own = certificateIdentity(der);
  if (
    !own ||
    typeof meta.serial !== 'string' ||
    !sameSerial(meta.serial, own.serial) ||
    wholeSeconds(meta.notBefore) !== own.notBefore.getTime() ||
    wholeSeconds(meta.notAfter) !== own.notAfter.getTime()
  )
    return undefined;
  const privateKey = privateKeyMaterial(stored.keyPem);
  if (!privateKey || !sameMaterial(own.key, privateKey)) return undefined;
  const { notBefore, notAfter } = own;
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
      keyType: keyTypeOfMaterial(own.key),
      isCA: false,
    },
  };
}
