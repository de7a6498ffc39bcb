/**
 * Planning thousands of certificates without OpenSSL: the fingerprint recorded beside a stored certificate
 * at issuance (after verification) is used when the metadata names the certificate: the serial, notBefore
 * and notAfter read from the certificate's own DER (der.ts, one walk) are the metadata's, and the key is the
 * private key's, compared as DER bytes. The dates, key and names reported are the certificate's own (its
 * subjectAltName read from the DER as node:crypto gives it); the names requested at issuance stay in the
 * metadata, where the policy looks for them when a CA added names of its own. Anything unexpected — no
 * metadata, another serial or other dates (another certificate's metadata, a certificate replaced), a key
 * or a name this reader does not understand, a key that does not match — returns undefined and the caller
 * parses with node:crypto as before, to the same facts.
 *
 * That the metadata names the certificate (`metaNaming`) and that the certificate's other bytes are those it
 * was written for is the stores' to say: they give metadata only when it names the certificate, and only
 * with a set as it was written (a version whose fullchain does not hold its certificate then its chain —
 * pem.ts `sameCertificates` — is unreadable). The check is made twice for each certificate a plan reads
 * (by the store, then here); keeping the first reading for the second kept it alive with the plan's
 * metadata, for no time gained (docs/performance.md, ninth round). No hash
 * is taken here: SHA-256 meant loading node:crypto with the stream modules it brings (~3 ms of a
 * nothing-due run's start-up, docs/performance.md, ninth round), and a checksum in JavaScript made V8
 * optimise its loop (~1.5 ms more, measured).
 */
import type { StoredCertificate, StoredMeta } from '../stores/types.js';
import {
  type CertificateIdentity,
  certificateIdentity,
  certificateNames,
  privateKeyMaterial,
  sameMaterial,
} from './der.js';
import { type CertInfo, canonicalIp, sameSerial } from './inspect.js';
import { keyTypeOfMaterial } from './keys.js';
import { firstCertificateDer } from './pem.js';

/**
 * `meta` when it names the certificate in `certPem` — the serial, notBefore and notAfter read from the
 * certificate's own DER are the metadata's — else undefined (no certificate, or metadata written for
 * another one: a file replaced or edited since, dates that are not dates). The stores give metadata only
 * so: everything that reads StoredMeta (plans, run reports, hooks' variables, deployment records) can take
 * it as the stored certificate's.
 */
export function metaNaming(certPem: string, meta: StoredMeta): StoredMeta | undefined {
  const der = firstCertificateDer(certPem);
  return der === undefined || namedIdentity(der, meta) === undefined ? undefined : meta;
}

/** The certificate's identity (der.ts) when `meta`'s serial and dates are the certificate's, else undefined. */
function namedIdentity(der: Buffer, meta: StoredMeta): CertificateIdentity | undefined {
  const own = certificateIdentity(der);
  return own !== undefined &&
    sameSerial(meta.serial, own.serial) &&
    wholeSeconds(meta.notBefore) === own.notBefore.getTime() &&
    wholeSeconds(meta.notAfter) === own.notAfter.getTime()
    ? own
    : undefined;
}

/**
 * X.509 times have whole seconds: a stored ISO time as the certificate's (ms since the epoch), or NaN. The
 * form the stores write, `YYYY-MM-DDTHH:MM:SS.sssZ` (toISOString), is read digit by digit; any other goes
 * through Date.parse, which cost a plan of 10,000 certificates ~40 ms when it read them all.
 */
function wholeSeconds(iso: string): number {
  if (iso.length === 24 && iso.charCodeAt(23) === 0x5a && iso.charCodeAt(10) === 0x54) {
    const at = isoDigits(iso);
    if (!Number.isNaN(at)) return at;
  }
  return Math.floor(Date.parse(iso) / 1000) * 1000;
}

/** The whole seconds of a `YYYY-MM-DDTHH:MM:SS.sssZ` text with its separators in place, or NaN. */
function isoDigits(iso: string): number {
  if (iso[4] !== '-' || iso[7] !== '-' || iso[13] !== ':' || iso[16] !== ':' || iso[19] !== '.')
    return Number.NaN;
  const year = decimal(iso, 0, 4);
  const month = decimal(iso, 5, 2);
  const day = decimal(iso, 8, 2);
  const hour = decimal(iso, 11, 2);
  const minute = decimal(iso, 14, 2);
  const second = decimal(iso, 17, 2);
  // Out of range (Date.UTC would carry a 13th month into the next year, and reads years below 100 as
  // 19xx): Date.parse decides those.
  if (
    !(
      year >= 100 &&
      month >= 1 &&
      month <= 12 &&
      day >= 1 &&
      day <= 31 &&
      hour <= 23 &&
      minute <= 59 &&
      second <= 59
    )
  )
    return Number.NaN;
  if (Number.isNaN(decimal(iso, 20, 3))) return Number.NaN;
  return Date.UTC(year, month - 1, day, hour, minute, second);
}

/** `count` decimal digits of `text` from `from` as a number; NaN when any is not a digit. */
function decimal(text: string, from: number, count: number): number {
  let value = 0;
  for (let i = from; i < from + count; i++) {
    const digit = text.charCodeAt(i) - 0x30;
    if (digit < 0 || digit > 9) return Number.NaN;
    value = value * 10 + digit;
  }
  return value;
}

/**
 * The certificate's facts from its metadata and its own bytes when the metadata names it (see above), with
 * `keyMatches: true` (the key is compared here); undefined otherwise: the caller parses with node:crypto.
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
  const own = der === undefined ? undefined : namedIdentity(der, meta);
  if (!der || !own) return undefined;
  const privateKey = privateKeyMaterial(stored.keyPem);
  if (!privateKey || !sameMaterial(own.key, privateKey)) return undefined;
  const names = certificateNames(der);
  if (!names) return undefined;
  const { notBefore, notAfter } = own;
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
      // As certInfo gives them from node:crypto's subjectAltName.
      dnsNames: names.dns.map((name) => name.toLowerCase()),
      ipAddresses: names.ip.map(canonicalIp),
      keyType: keyTypeOfMaterial(own.key),
      isCA: false,
    },
  };
}

/**
 * What `inspectWithMeta` found for a StoredCertificate object, kept by the store that checked it (a
 * filesystem store's load cache: stores/filesystem/load-cache.ts) so the policy does not check it again.
 * Keyed by the object itself: a certificate built anew is inspected anew.
 */
const inspections = new WeakMap<StoredCertificate, { cert: CertInfo; keyMatches: true }>();

/** Records what `stored` was found to be (as `inspectWithMeta` gives it), for `knownInspection`. */
export function rememberInspection(
  stored: StoredCertificate,
  inspected: { cert: CertInfo; keyMatches: true },
): void {
  inspections.set(stored, inspected);
}

/** What `rememberInspection` recorded for this very object; undefined when nothing was. */
export function knownInspection(stored: StoredCertificate): { cert: CertInfo; keyMatches: true } | undefined {
  return inspections.get(stored);
}
