import { X509Certificate } from 'node:crypto';
import { domainToASCII } from 'node:url';
import { CertRenewError, ErrorCode } from '../errors.js';
import type { KeyType } from '../manifest/types.js';
import { ipVersion } from '../util/ip.js';
import { certificateMaterial } from './der.js';
import { keyTypeOf, keyTypeOfMaterial } from './keys.js';
import { splitPemChain } from './pem.js';

/** What cert-renew needs to know about a certificate, read with node:crypto. */
export interface CertInfo {
  /** Subject as node:crypto prints it (`CN=example.com`, one attribute per line when several). */
  subject: string;
  commonName?: string;
  issuer: string;
  /** Hex, upper case, no colons, even length. */
  serial: string;
  /** SHA-256 of the DER, hex upper case with colons (as node:crypto prints it). */
  fingerprint256: string;
  notBefore: Date;
  notAfter: Date;
  /** notAfter − notBefore. */
  lifetimeMs: number;
  /** dNSName entries of the subject alternative name, lower case (IDNs stay in punycode). */
  dnsNames: string[];
  /** iPAddress entries, canonical text form (`127.0.0.1`, `::1`). */
  ipAddresses: string[];
  keyType: KeyType | 'other';
  isCA: boolean;
}

/**
 * Parses the first certificate of a PEM text; `undefined` when there is none, it does not parse, or its
 * validity holds a date that does not exist (31 April, a 13th month, second 60: OpenSSL prints "Bad time
 * value", and no TLS client accepts the certificate), which every caller then treats as unreadable.
 */
export function parseCertificate(pem: string): X509Certificate | undefined {
  const first = splitPemChain(pem)[0];
  if (first === undefined) return undefined;
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(first);
  } catch {
    return undefined;
  }
  return Number.isNaN(Date.parse(cert.validFrom)) || Number.isNaN(Date.parse(cert.validTo))
    ? undefined
    : cert;
}

/** Inspects the first certificate of a PEM text. Throws STORE_CORRUPT when there is no parseable one. */
export function inspectCertificate(pem: string): CertInfo {
  const cert = parseCertificate(pem);
  if (!cert) {
    throw new CertRenewError(
      ErrorCode.storeCorrupt,
      'not a PEM certificate (no parseable CERTIFICATE block, or its validity dates do not exist)',
    );
  }
  return certInfo(cert);
}

/** The CertInfo of an already parsed certificate. */
export function certInfo(cert: X509Certificate): CertInfo {
  const notBefore = new Date(cert.validFrom);
  const notAfter = new Date(cert.validTo);
  const names = parseSubjectAltName(cert.subjectAltName ?? '');
  // node:crypto gives undefined (despite its types) for an empty name.
  const subject = (cert.subject as string | undefined) ?? '';
  const commonName = attribute(subject, 'CN');
  return {
    subject,
    ...(commonName === undefined ? {} : { commonName }),
    issuer: (cert.issuer as string | undefined) ?? '',
    serial: normalizeSerial(cert.serialNumber),
    fingerprint256: cert.fingerprint256,
    notBefore,
    notAfter,
    lifetimeMs: notAfter.getTime() - notBefore.getTime(),
    dnsNames: names.dns.map((name) => name.toLowerCase()),
    ipAddresses: names.ip.map(canonicalIp),
    keyType: certKeyType(cert),
    isCA: cert.ca,
  };
}

/**
 * Set equality of two name lists, ignoring case, a trailing dot, Unicode versus punycode and the spelling
 * of IP addresses (`::1` equals `0:0:0:0:0:0:0:1`).
 */
export function sameDomains(a: readonly string[], b: readonly string[]): boolean {
  const left = new Set(a.map(normalizeName));
  const right = new Set(b.map(normalizeName));
  if (left.size !== right.size) return false;
  for (const name of left) if (!right.has(name)) return false;
  return true;
}

/** The comparable form of a domain name or IP address. */
export function normalizeName(name: string): string {
  // Not trimmed: a certificate's name with spaces around it is not the name a TLS client asks for.
  if (ipVersion(name)) return canonicalIp(name);
  const lower = name.toLowerCase();
  const bare = lower.endsWith('.') ? lower.slice(0, -1) : lower;
  if (/^[\x00-\x7f]*$/.test(bare)) return bare;
  const wildcard = bare.startsWith('*.');
  const ascii = domainToASCII(wildcard ? bare.slice(2) : bare);
  return ascii === '' ? bare : wildcard ? `*.${ascii}` : ascii;
}

/** From the DER when it can be read there (cheap), else from node's key object. */
function certKeyType(cert: X509Certificate): KeyType | 'other' {
  let material: ReturnType<typeof certificateMaterial>;
  try {
    material = certificateMaterial(cert.raw);
  } catch {
    material = undefined;
  }
  return material ? keyTypeOfMaterial(material) : keyTypeOf(cert.publicKey);
}

/** An IP address in its canonical text form: IPv4 as it is, IPv6 shortened and lower case (`::1`). */
export function canonicalIp(ip: string): string {
  if (ipVersion(ip) !== 6) return ip;
  try {
    return new URL(`http://[${ip}]/`).hostname.slice(1, -1);
  } catch {
    return ip.toLowerCase();
  }
}

function normalizeSerial(serial: string): string {
  const hex = serial.replace(/:/g, '').toUpperCase();
  // node prints a negative serial (RFC 5280 allows none, some CAs made them) with its sign: kept in front.
  const sign = hex.startsWith('-') ? '-' : '';
  const digits = hex.slice(sign.length);
  return `${sign}${digits.length % 2 === 1 ? `0${digits}` : digits}`;
}

/**
 * Whether two serial numbers (hex, as CertInfo, StoredMeta and the revocation logs hold them, or with
 * colons) are the same number: case, colons and leading zeros do not count.
 */
export function sameSerial(a: string, b: string): boolean {
  if (a === b) return true;
  const bare = (serial: string) => serial.replace(/:/g, '').toUpperCase().replace(/^0+/, '');
  return bare(a) === bare(b);
}

/**
 * node:crypto prints SANs as `DNS:a.example, IP Address:127.0.0.1`; values holding a comma or a quote are
 * written as JSON strings (`DNS:"a,b"`).
 */
/** The dNSName and iPAddress entries of node:crypto's `subjectAltName` text, as written there. */
export function parseSubjectAltName(text: string): { dns: string[]; ip: string[] } {
  const dns: string[] = [];
  const ip: string[] = [];
  const entry = /(?:^|, )([A-Za-z ]+):("(?:[^"\\]|\\.)*"|[^,]*)/g;
  for (const match of text.matchAll(entry)) {
    const kind = match[1];
    const raw = match[2] ?? '';
    let value = raw;
    if (raw.startsWith('"')) {
      try {
        value = JSON.parse(raw) as string;
      } catch {
        value = raw;
      }
    }
    if (kind === 'DNS') dns.push(value);
    else if (kind === 'IP Address') ip.push(value);
  }
  return { dns, ip };
}

/** First value of an attribute in a distinguished name as node:crypto prints it (one `K=V` per line). */
function attribute(name: string, key: string): string | undefined {
  return dnValues(name, key)[0];
}

/**
 * The values of one attribute (`CN`, `O`, …) of a distinguished name as node:crypto prints it
 * (`X509Certificate.subject` or `.issuer`: one `K=V` per line), in order and as the certificate holds them:
 * node writes some values as JSON strings and escapes RFC 4514's special characters with a backslash
 * (`Example\, Inc.`) and control bytes as two hex digits (`\0A`); both are undone.
 */
export function dnValues(name: string, key: string): string[] {
  const values: string[] = [];
  for (const line of name.split('\n')) {
    if (!line.startsWith(`${key}=`)) continue;
    const value = line.slice(key.length + 1);
    if (value.startsWith('"')) {
      try {
        values.push(JSON.parse(value) as string);
        continue;
      } catch {
        // not a JSON string after all: read it as it is
      }
    }
    values.push(
      value.replace(/\\([0-9A-Fa-f]{2}|[\s\S])/g, (_, escaped: string) =>
        escaped.length === 2 ? String.fromCharCode(Number.parseInt(escaped, 16)) : escaped,
      ),
    );
  }
  return values;
}
