/**
 * Planning thousands of certificates without OpenSSL: when the stored metadata describes the stored
 * certificate's exact bytes, the fields recorded beside it at issuance (after verification) are used — its
 * fingerprint and the names it was issued for — with the serial, dates and key read from the certificate's
 * own DER (der.ts), and the key compared with the private key as DER bytes. Anything unexpected — no
 * metadata, metadata of other bytes (another certificate, one replaced or damaged on disk), a serial or
 * dates that are not the certificate's, a key this reader does not understand, a key that does not match —
 * returns undefined and the caller parses with node:crypto as before. The names are those requested at
 * issuance (which verification proved the certificate covers); the policy judges domain changes by those in
 * both paths, so the outcome is the same either way.
 *
 * "The exact bytes" is checked by the metadata's `leafChecksum` (FNV-1a of the leaf's DER, written by the
 * stores when they save a certificate), or, in metadata written before there was one, by its SHA-256
 * fingerprint. The checksum keeps node:crypto — whose loading, with the stream modules it brings, is ~3 ms
 * of a nothing-due run's start-up (docs/performance.md, ninth round) — out of the daily run; it guards
 * against a file changed or damaged by accident, not by someone who could as well rewrite meta.json.
 */
import { createHash } from 'node:crypto';
import type { StoredCertificate } from '../stores/types.js';
import { ipVersion } from '../util/ip.js';
import { certificateIdentity, privateKeyMaterial, sameMaterial } from './der.js';
import { type CertInfo, sameSerial } from './inspect.js';
import { keyTypeOfMaterial } from './keys.js';
import { firstCertificateDer } from './pem.js';

/**
 * The leaf's checksum as StoredMeta.leafChecksum holds it: `fnv1a32:` and 8 hex digits, FNV-1a (32-bit) of
 * the first certificate's DER in `certPem`. Each step of FNV-1a is a bijection of its state, so a change of
 * any one byte always changes it; other changes go unnoticed with a chance of 2^-32. Undefined when
 * `certPem` holds no certificate.
 */
export function leafChecksum(certPem: string): string | undefined {
  const der = firstCertificateDer(certPem);
  return der === undefined ? undefined : checksumOf(der);
}

function checksumOf(der: Uint8Array): string {
  let hash = 0x811c9dc5;
  for (let i = 0; i < der.length; i++) hash = Math.imul(hash ^ (der[i] as number), 0x01000193);
  return `fnv1a32:${(hash >>> 0).toString(16).padStart(8, '0')}`;
}

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

/** X.509 times have whole seconds: a stored ISO time as the certificate's, or NaN. */
function wholeSeconds(iso: string): number {
  return Math.floor(Date.parse(iso) / 1000) * 1000;
}

/**
 * The certificate's facts from its metadata and its own bytes when the metadata describes those bytes (see
 * above), with `keyMatches: true` (the key is compared here); undefined otherwise: the caller parses with
 * node:crypto.
 */
export function inspectWithMeta(stored: StoredCertificate): { cert: CertInfo; keyMatches: true } | undefined {
  const meta = stored.meta;
  if (
    !meta ||
    typeof meta.fingerprint !== 'string' ||
    typeof meta.serial !== 'string' ||
    typeof meta.notBefore !== 'string' ||
    typeof meta.notAfter !== 'string' ||
    !Array.isArray(meta.domains) ||
    !meta.domains.every((d) => typeof d === 'string')
  )
    return undefined;
  const der = firstCertificateDer(stored.certPem);
  if (der === undefined) return undefined;
  const sameBytes =
    typeof meta.leafChecksum === 'string'
      ? meta.leafChecksum === checksumOf(der)
      : sameFingerprint(meta.fingerprint, createHash('sha256').update(der).digest());
  if (!sameBytes) return undefined;
  const own = certificateIdentity(der);
  if (
    !own ||
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
      // As the certificate spells it (node's form), whatever meta.json wrote: the ARI point is hashed from it.
      serial: own.serial,
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
