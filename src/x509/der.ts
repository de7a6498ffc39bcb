/**
 * A minimal DER reader for one job: getting public key material out of certificates and private keys
 * without asking OpenSSL to decode keys. Decoding a private key with node:crypto costs around a
 * millisecond under OpenSSL 3, which would dominate planning thousands of certificates; comparing a few
 * byte strings costs microseconds. Anything this does not understand returns undefined and the caller
 * falls back to node:crypto, so it can only make things faster, never different.
 */

interface Node {
  tag: number;
  /** Content start and end (exclusive). */
  start: number;
  end: number;
}

const SEQUENCE = 0x30;
const INTEGER = 0x02;
const BIT_STRING = 0x03;
const OCTET_STRING = 0x04;
const OID = 0x06;

/** Curves as PublicMaterial names them: the hex of their OID (RFC 5480 §2.1.1.1). */
export const CURVE_P256 = '2a8648ce3d030107';
export const CURVE_P384 = '2b81040022';

const RSA_BYTES = Buffer.from('2a864886f70d010101', 'hex'); // rsaEncryption, RFC 8017 appendix C
const EC_BYTES = Buffer.from('2a8648ce3d0201', 'hex'); // id-ecPublicKey, RFC 5480 §2.1.1
const P256_BYTES = Buffer.from(CURVE_P256, 'hex');
const P384_BYTES = Buffer.from(CURVE_P384, 'hex');

/** The public half of a key, as bytes that can be compared. */
export type PublicMaterial =
  | { kind: 'ec'; curve: string; point: Buffer }
  | { kind: 'rsa'; n: Buffer; e: Buffer };

/**
 * The element at `offset` (its header within `limit`) written into `into`: tag, content start and end.
 * False when there is no whole element there (a high-tag-number form, a length over 4 bytes or past
 * `limit`). Walking with one reused Node allocates nothing, which matters when a plan reads 10,000
 * certificates twice (docs/performance.md, tenth round).
 */
function readInto(buf: Buffer, offset: number, limit: number, into: Node): boolean {
  if (offset + 2 > limit) return false;
  const tag = buf[offset] as number;
  if ((tag & 0x1f) === 0x1f) return false;
  let length = buf[offset + 1] as number;
  let start = offset + 2;
  if (length & 0x80) {
    const bytes = length & 0x7f;
    if (bytes === 0 || bytes > 4 || start + bytes > limit) return false;
    length = 0;
    for (let i = 0; i < bytes; i++) length = length * 256 + (buf[start + i] as number);
    start += bytes;
  }
  const end = start + length;
  if (end > limit) return false;
  into.tag = tag;
  into.start = start;
  into.end = end;
  return true;
}

function read(buf: Buffer, offset: number, limit: number): Node | undefined {
  const node: Node = { tag: 0, start: 0, end: 0 };
  return readInto(buf, offset, limit, node) ? node : undefined;
}

/** Whether the elements from `offset` to `end` are whole elements filling it exactly. */
function wholeElements(buf: Buffer, offset: number, end: number, scratch: Node): boolean {
  for (let at = offset; at < end; at = scratch.end) if (!readInto(buf, at, end, scratch)) return false;
  return true;
}

function children(buf: Buffer, node: Node): Node[] | undefined {
  const list: Node[] = [];
  for (let offset = node.start; offset < node.end; ) {
    const child = read(buf, offset, node.end);
    if (!child) return undefined;
    list.push(child);
    offset = child.end;
  }
  return list;
}

function sequence(buf: Buffer, node: Node | undefined): Node[] | undefined {
  return node?.tag === SEQUENCE ? children(buf, node) : undefined;
}

function root(buf: Buffer): Node | undefined {
  const node = read(buf, 0, buf.length);
  return node && node.end === buf.length ? node : undefined;
}

const hex = (buf: Buffer, node: Node) => buf.subarray(node.start, node.end).toString('hex');

/** INTEGER contents without sign-padding zeros, so two encodings of one number compare equal. */
function unsigned(buf: Buffer, node: Node): Buffer {
  let start = node.start;
  while (start < node.end - 1 && buf[start] === 0) start++;
  return buf.subarray(start, node.end);
}

/** BIT STRING contents without the unused-bits byte (which must be 0 for keys). */
function bits(buf: Buffer, node: Node | undefined): Buffer | undefined {
  if (node?.tag !== BIT_STRING || node.end <= node.start || buf[node.start] !== 0) return undefined;
  return buf.subarray(node.start + 1, node.end);
}

function rsaPublic(buf: Buffer, node: Node | undefined, skipVersion: boolean): PublicMaterial | undefined {
  const items = sequence(buf, node);
  const offset = skipVersion ? 1 : 0;
  const n = items?.[offset];
  const e = items?.[offset + 1];
  if (n?.tag !== INTEGER || e?.tag !== INTEGER) return undefined;
  return { kind: 'rsa', n: unsigned(buf, n), e: unsigned(buf, e) };
}

/** A Node to be filled by readInto. */
const blank = (): Node => ({ tag: 0, start: 0, end: 0 });

/** Whether `node` is an OBJECT IDENTIFIER whose contents are `oid`'s bytes. */
function isOid(buf: Buffer, node: Node, oid: Buffer): boolean {
  if (node.tag !== OID || node.end - node.start !== oid.length) return false;
  for (let i = 0; i < oid.length; i++) if (buf[node.start + i] !== oid[i]) return false;
  return true;
}

/** A curve's OID as PublicMaterial names it (hex): the two this project issues without a new string. */
function curveName(buf: Buffer, node: Node): string {
  if (isOid(buf, node, P256_BYTES)) return CURVE_P256;
  if (isOid(buf, node, P384_BYTES)) return CURVE_P384;
  return hex(buf, node);
}

/** ECPrivateKey (RFC 5915): the public point when the key carries it; the curve from `curve` or [0]. */
function ecPrivate(
  buf: Buffer,
  node: Node | undefined,
  curve: string | undefined,
): PublicMaterial | undefined {
  if (node?.tag !== SEQUENCE) return undefined;
  // version, privateKey, then the optional [0] parameters and [1] publicKey
  const item = blank();
  const inner = blank();
  const rest = blank();
  let found = curve;
  let point: Buffer | undefined;
  let index = 0;
  for (let at = node.start; at < node.end; at = item.end, index++) {
    if (!readInto(buf, at, node.end, item)) return undefined;
    if (index < 2 || !readInto(buf, item.start, item.end, inner)) continue;
    if (!wholeElements(buf, inner.end, item.end, rest)) continue;
    if (item.tag === 0xa0 && inner.tag === OID) found ??= curveName(buf, inner);
    if (item.tag === 0xa1) point = bits(buf, inner);
  }
  return found && point ? { kind: 'ec', curve: found, point } : undefined;
}

/**
 * An AlgorithmIdentifier (RFC 5280 §4.1.1.2) at `node`: its OID into `oid`, its parameters into `params`
 * when present (tag 0 when absent). False when it is not one.
 */
function algorithmInto(buf: Buffer, node: Node, oid: Node, params: Node): boolean {
  if (node.tag !== SEQUENCE || !readInto(buf, node.start, node.end, oid) || oid.tag !== OID) return false;
  params.tag = 0;
  if (oid.end === node.end) return true;
  return readInto(buf, oid.end, node.end, params) && params.end === node.end;
}

/** From a SubjectPublicKeyInfo. */
export function spkiMaterial(buf: Buffer, node: Node | undefined = root(buf)): PublicMaterial | undefined {
  if (node?.tag !== SEQUENCE) return undefined;
  const algorithm = blank();
  const key = blank();
  const oid = blank();
  const params = blank();
  if (!readInto(buf, node.start, node.end, algorithm) || !algorithmInto(buf, algorithm, oid, params))
    return undefined;
  if (!readInto(buf, algorithm.end, node.end, key) || key.end !== node.end) return undefined;
  const keyBits = bits(buf, key);
  if (!keyBits) return undefined;
  if (isOid(buf, oid, RSA_BYTES)) return rsaPublic(keyBits, root(keyBits), false);
  if (isOid(buf, oid, EC_BYTES) && params.tag === OID) {
    return { kind: 'ec', curve: curveName(buf, params), point: keyBits };
  }
  return undefined;
}

/** From a certificate's DER: its SubjectPublicKeyInfo. */
export function certificateMaterial(der: Buffer): PublicMaterial | undefined {
  const [tbs] = sequence(der, root(der)) ?? [];
  const fields = sequence(der, tbs);
  if (!fields) return undefined;
  const first = fields[0]?.tag === 0xa0 ? 1 : 0;
  return spkiMaterial(der, fields[first + 5]);
}

/** What identifies a certificate beside its key: its serial number and validity (RFC 5280 §4.1.2.2, §4.1.2.5). */
export interface CertificateIdentity {
  /** The serial number, upper-case hex without sign-padding zeros (an odd length gets one leading 0). */
  serial: string;
  notBefore: Date;
  notAfter: Date;
  /** The SubjectPublicKeyInfo's key. */
  key: PublicMaterial;
}

/**
 * From a certificate's DER, in one walk of its TBSCertificate (RFC 5280 §4.1): serial, notBefore, notAfter
 * and public key; undefined for anything this reader does not understand (elements that do not fill their
 * parent, a form of time RFC 5280 does not allow, a key other than RSA or EC). The walk reuses one Node per
 * level: a plan reads each stored certificate's identity twice (x509/fast.ts).
 */
export function certificateIdentity(der: Buffer): CertificateIdentity | undefined {
  const certificate = blank();
  const tbs = blank();
  const field = blank();
  const inner = blank();
  if (!readInto(der, 0, der.length, certificate) || certificate.end !== der.length) return undefined;
  if (certificate.tag !== SEQUENCE || !readInto(der, certificate.start, certificate.end, tbs))
    return undefined;
  // tbsCertificate, signatureAlgorithm, signature: whole elements filling the certificate
  if (tbs.tag !== SEQUENCE || !wholeElements(der, tbs.end, certificate.end, inner)) return undefined;
  const serial = blank();
  if (!readInto(der, tbs.start, tbs.end, serial)) return undefined;
  if (serial.tag === 0xa0 && !readInto(der, serial.end, tbs.end, serial)) return undefined; // explicit version
  if (serial.tag !== INTEGER) return undefined;
  // signature, issuer, then validity
  field.end = serial.end;
  for (let skip = 0; skip < 3; skip++) if (!readInto(der, field.end, tbs.end, field)) return undefined;
  if (field.tag !== SEQUENCE || !readInto(der, field.start, field.end, inner)) return undefined;
  const before = timeMs(der, inner);
  if (!readInto(der, inner.end, field.end, inner) || inner.end !== field.end) return undefined;
  const after = timeMs(der, inner);
  // subject, then subjectPublicKeyInfo; what follows (unique IDs, extensions) must be whole elements
  if (!readInto(der, field.end, tbs.end, field) || !readInto(der, field.end, tbs.end, field))
    return undefined;
  const key = spkiMaterial(der, field);
  if (!key || Number.isNaN(before) || Number.isNaN(after) || !wholeElements(der, field.end, tbs.end, inner))
    return undefined;
  let start = serial.start;
  while (start < serial.end - 1 && der[start] === 0) start++;
  const hexDigits = der.toString('hex', start, serial.end).toUpperCase();
  return {
    serial: hexDigits.length % 2 === 1 ? `0${hexDigits}` : hexDigits,
    notBefore: new Date(before),
    notAfter: new Date(after),
    key,
  };
}

const SAN_BYTES = Buffer.from('551d11', 'hex'); // id-ce-subjectAltName, RFC 5280 §4.2.1.6
const RFC822_NAME = 0x81; // GeneralName rfc822Name [1] IMPLICIT IA5String
const DNS_NAME = 0x82; // GeneralName dNSName [2] IMPLICIT IA5String
const URI = 0x86; // GeneralName uniformResourceIdentifier [6] IMPLICIT IA5String
const IP_ADDRESS = 0x87; // GeneralName iPAddress [7] IMPLICIT OCTET STRING

/**
 * The dNSName and iPAddress entries of a certificate's subjectAltName extension (RFC 5280 §4.2.1.6), in
 * order, as node:crypto's `subjectAltName` gives them once unquoted: names as written, IPv4 addresses dotted,
 * IPv6 ones as eight hexadecimal groups (not yet shortened). Empty lists when there is no such extension.
 * Undefined for anything this reader leaves to node:crypto, which may read it otherwise (or not at all):
 * elements that do not fill their parent, a second subjectAltName extension, an entry other than an
 * rfc822Name, dNSName, URI or iPAddress in its primitive form (otherName, directoryName, registeredID, …
 * whose insides OpenSSL checks), a name with a byte outside printable ASCII, an address of another length
 * than 4 or 16 bytes.
 */
export function certificateNames(der: Buffer): { dns: string[]; ip: string[] } | undefined {
  const certificate = blank();
  const field = blank();
  if (!readInto(der, 0, der.length, certificate) || certificate.end !== der.length) return undefined;
  if (certificate.tag !== SEQUENCE || !readInto(der, certificate.start, certificate.end, field))
    return undefined;
  const tbsEnd = field.end;
  const names = { dns: [] as string[], ip: [] as string[] };
  // The TBSCertificate's fields, up to the [3] extensions that end it.
  for (let at = field.start; at < tbsEnd; at = field.end) {
    if (!readInto(der, at, tbsEnd, field)) return undefined;
    if (field.tag !== 0xa3) continue;
    const list = blank();
    if (!readInto(der, field.start, field.end, list) || list.tag !== SEQUENCE || list.end !== field.end)
      return undefined;
    const extension = blank();
    const id = blank();
    const value = blank();
    let seen = false;
    for (let next = list.start; next < list.end; next = extension.end) {
      if (!readInto(der, next, list.end, extension) || extension.tag !== SEQUENCE) return undefined;
      // extnID, critical (optional), extnValue
      if (!readInto(der, extension.start, extension.end, id) || id.tag !== OID) return undefined;
      if (!isOid(der, id, SAN_BYTES)) continue;
      if (seen) return undefined;
      seen = true;
      if (!readInto(der, id.end, extension.end, value)) return undefined;
      if (value.tag === 0x01 && !readInto(der, value.end, extension.end, value)) return undefined;
      if (value.tag !== OCTET_STRING || value.end !== extension.end) return undefined;
      if (!generalNames(der, value.start, value.end, names)) return undefined;
    }
  }
  return names;
}

/** The GeneralNames at `start`–`end` (a SEQUENCE filling them) into `names`; false when unreadable. */
function generalNames(
  der: Buffer,
  start: number,
  end: number,
  names: { dns: string[]; ip: string[] },
): boolean {
  const sequence = blank();
  const name = blank();
  if (!readInto(der, start, end, sequence) || sequence.tag !== SEQUENCE || sequence.end !== end) return false;
  for (let at = sequence.start; at < sequence.end; at = name.end) {
    if (!readInto(der, at, sequence.end, name)) return false;
    if (name.tag === DNS_NAME || name.tag === RFC822_NAME || name.tag === URI) {
      for (let i = name.start; i < name.end; i++) {
        const byte = der[i] as number;
        if (byte < 0x20 || byte > 0x7e) return false;
      }
      if (name.tag === DNS_NAME) names.dns.push(der.toString('latin1', name.start, name.end));
    } else if (name.tag === IP_ADDRESS) {
      const length = name.end - name.start;
      if (length === 4) {
        names.ip.push(
          `${der[name.start]}.${der[name.start + 1]}.${der[name.start + 2]}.${der[name.start + 3]}`,
        );
      } else if (length === 16) {
        const groups: string[] = [];
        for (let i = name.start; i < name.end; i += 2) groups.push(der.readUInt16BE(i).toString(16));
        names.ip.push(groups.join(':'));
      } else {
        return false;
      }
    } else {
      return false;
    }
  }
  return true;
}

const PRIVATE_KEY_PEM =
  /-----BEGIN (PRIVATE KEY|EC PRIVATE KEY|RSA PRIVATE KEY)-----([A-Za-z0-9+/=\s]+)-----END \1-----/;

/** From a private key PEM: PKCS#8 (`PRIVATE KEY`), SEC1 (`EC PRIVATE KEY`) or PKCS#1 (`RSA PRIVATE KEY`). */
export function privateKeyMaterial(pem: string): PublicMaterial | undefined {
  const match = PRIVATE_KEY_PEM.exec(pem);
  if (!match) return undefined;
  const der = Buffer.from(match[2] as string, 'base64');
  const top = root(der);
  if (match[1] === 'RSA PRIVATE KEY') return rsaPublic(der, top, true);
  if (match[1] === 'EC PRIVATE KEY') return ecPrivate(der, top, undefined);
  // PrivateKeyInfo (RFC 5208 §5): version, privateKeyAlgorithm, privateKey, then optional attributes
  if (top?.tag !== SEQUENCE) return undefined;
  const version = blank();
  const algorithm = blank();
  const key = blank();
  const oid = blank();
  const params = blank();
  if (!readInto(der, top.start, top.end, version) || version.tag !== INTEGER) return undefined;
  if (!readInto(der, version.end, top.end, algorithm) || !algorithmInto(der, algorithm, oid, params))
    return undefined;
  if (!readInto(der, algorithm.end, top.end, key) || key.tag !== OCTET_STRING) return undefined;
  if (!wholeElements(der, key.end, top.end, version)) return undefined;
  const inner = der.subarray(key.start, key.end);
  if (isOid(der, oid, RSA_BYTES)) return rsaPublic(inner, root(inner), true);
  if (isOid(der, oid, EC_BYTES) && params.tag === OID)
    return ecPrivate(inner, root(inner), curveName(der, params));
  return undefined;
}

export function sameMaterial(a: PublicMaterial, b: PublicMaterial): boolean {
  if (a.kind === 'ec' && b.kind === 'ec') return a.curve === b.curve && a.point.equals(b.point);
  if (a.kind === 'rsa' && b.kind === 'rsa') return a.n.equals(b.n) && a.e.equals(b.e);
  return false;
}

/** Bits of an RSA modulus. */
export function modulusBits(n: Buffer): number {
  const first = n[0] ?? 0;
  return first === 0 ? 0 : (n.length - 1) * 8 + (32 - Math.clz32(first));
}

const AKI_OID = '551d23'; // 2.5.29.35

const asDate = (ms: number): Date | undefined => (Number.isNaN(ms) ? undefined : new Date(ms));

/** `count` decimal digits at `at` as a number; NaN when any byte is not a digit. */
function digits(buf: Buffer, at: number, count: number): number {
  let value = 0;
  for (let i = at; i < at + count; i++) {
    const digit = (buf[i] as number) - 0x30;
    if (digit < 0 || digit > 9) return Number.NaN;
    value = value * 10 + digit;
  }
  return value;
}

/** Days in a month (1–12) of the proleptic Gregorian calendar. */
function daysIn(year: number, month: number): number {
  if (month !== 2) return month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31;
  return year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0) ? 29 : 28;
}

/**
 * A UTCTime (tag 0x17, `YYMMDDHHMMSSZ`, years 50–99 are 19xx as RFC 5280 §4.1.2.5.1 says) or
 * GeneralizedTime (tag 0x18, `YYYYMMDDHHMMSSZ`) as milliseconds since the epoch; NaN for any other form,
 * for a date or time that does not exist (a 13th month, 31 April, second 60), which OpenSSL does not read
 * either, and for a year below 100. Read from the bytes in place (no string is made).
 */
function timeMs(der: Buffer, node: Node | undefined): number {
  if (!node || (node.tag !== 0x17 && node.tag !== 0x18)) return Number.NaN;
  const yearDigits = node.tag === 0x17 ? 2 : 4;
  if (node.end - node.start !== yearDigits + 11 || der[node.end - 1] !== 0x5a) return Number.NaN;
  const at = node.start + yearDigits;
  const year = digits(der, node.start, yearDigits);
  const fullYear = node.tag === 0x17 ? (year < 50 ? 2000 : 1900) + year : year;
  const month = digits(der, at, 2);
  const day = digits(der, at + 2, 2);
  const hour = digits(der, at + 4, 2);
  const minute = digits(der, at + 6, 2);
  const second = digits(der, at + 8, 2);
  if (!(month >= 1 && month <= 12 && day >= 1 && day <= daysIn(fullYear, month))) return Number.NaN;
  if (!(hour <= 23 && minute <= 59 && second <= 59)) return Number.NaN;
  // A GeneralizedTime year below 100 (which Date.UTC would read as 19xx) is left to node:crypto, whose
  // reading `show` gives too.
  return fullYear < 100 ? Number.NaN : Date.UTC(fullYear, month - 1, day, hour, minute, second);
}

/**
 * The serial number's DER content octets (sign byte kept) and the authority key identifier's
 * keyIdentifier, as RFC 9773 (ACME Renewal Information) builds its certificate identifier from them, and
 * the certificate's notAfter (undefined when its form is not one RFC 5280 allows).
 */
export function serialAndAuthorityKeyId(
  der: Buffer,
): { serial: Buffer; keyIdentifier: Buffer; notAfter: Date | undefined } | undefined {
  const [tbs] = sequence(der, root(der)) ?? [];
  const fields = sequence(der, tbs);
  if (!fields) return undefined;
  const index = fields[0]?.tag === 0xa0 ? 1 : 0; // explicit version
  const serial = fields[index];
  if (serial?.tag !== INTEGER) return undefined;
  // signature, issuer, validity, subject, subjectPublicKeyInfo, then the optional [1] [2] [3]
  const extensions = fields.slice(index + 1).find((f) => f.tag === 0xa3);
  const list = extensions && children(der, extensions)?.[0];
  for (const extension of (list && sequence(der, list)) ?? []) {
    const [oid, ...rest] = children(der, extension) ?? [];
    if (oid?.tag !== OID || hex(der, oid) !== AKI_OID) continue;
    const value = rest.find((f) => f.tag === OCTET_STRING);
    const aki = value && read(der, value.start, value.end);
    const keyId = aki?.tag === SEQUENCE ? children(der, aki)?.find((f) => f.tag === 0x80) : undefined;
    if (!keyId) return undefined;
    const validity = fields[index + 3];
    return {
      serial: der.subarray(serial.start, serial.end),
      keyIdentifier: der.subarray(keyId.start, keyId.end),
      notAfter: validity?.tag === SEQUENCE ? asDate(timeMs(der, children(der, validity)?.[1])) : undefined,
    };
  }
  return undefined;
}
