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

const OID_RSA = '2a864886f70d010101';
const OID_EC = '2a8648ce3d0201';
export const CURVE_P256 = '2a8648ce3d030107';
export const CURVE_P384 = '2b81040022';

/** The public half of a key, as bytes that can be compared. */
export type PublicMaterial =
  | { kind: 'ec'; curve: string; point: Buffer }
  | { kind: 'rsa'; n: Buffer; e: Buffer };

function read(buf: Buffer, offset: number, limit: number): Node | undefined {
  if (offset + 2 > limit) return undefined;
  const tag = buf[offset] as number;
  if ((tag & 0x1f) === 0x1f) return undefined;
  let length = buf[offset + 1] as number;
  let start = offset + 2;
  if (length & 0x80) {
    const bytes = length & 0x7f;
    if (bytes === 0 || bytes > 4 || start + bytes > limit) return undefined;
    length = 0;
    for (let i = 0; i < bytes; i++) length = length * 256 + (buf[start + i] as number);
    start += bytes;
  }
  const end = start + length;
  return end > limit ? undefined : { tag, start, end };
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

/** ECPrivateKey (RFC 5915): the public point when the key carries it; the curve from `curve` or [0]. */
function ecPrivate(
  buf: Buffer,
  node: Node | undefined,
  curve: string | undefined,
): PublicMaterial | undefined {
  const items = sequence(buf, node);
  if (!items) return undefined;
  let found = curve;
  let point: Buffer | undefined;
  for (const item of items.slice(2)) {
    const inner = children(buf, item)?.[0];
    if (!inner) continue;
    if (item.tag === 0xa0 && inner.tag === OID) found ??= hex(buf, inner);
    if (item.tag === 0xa1) point = bits(buf, inner);
  }
  return found && point ? { kind: 'ec', curve: found, point } : undefined;
}

/** From a SubjectPublicKeyInfo. */
export function spkiMaterial(buf: Buffer, node: Node | undefined = root(buf)): PublicMaterial | undefined {
  const [algorithm, key] = sequence(buf, node) ?? [];
  const [oid, params] = sequence(buf, algorithm) ?? [];
  if (oid?.tag !== OID) return undefined;
  const keyBits = bits(buf, key);
  if (!keyBits) return undefined;
  if (hex(buf, oid) === OID_RSA) return rsaPublic(keyBits, root(keyBits), false);
  if (hex(buf, oid) === OID_EC && params?.tag === OID) {
    return { kind: 'ec', curve: hex(buf, params), point: keyBits };
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
 * From a certificate's DER, in one walk of its TBSCertificate: serial, notBefore, notAfter and public key;
 * undefined for anything this reader does not understand (a form of time RFC 5280 does not allow, a key
 * other than RSA or EC).
 */
export function certificateIdentity(der: Buffer): CertificateIdentity | undefined {
  const [tbs] = sequence(der, root(der)) ?? [];
  const fields = sequence(der, tbs);
  if (!fields) return undefined;
  const first = fields[0]?.tag === 0xa0 ? 1 : 0; // explicit version
  const serial = fields[first];
  const [notBefore, notAfter] = sequence(der, fields[first + 3]) ?? [];
  const key = spkiMaterial(der, fields[first + 5]);
  const before = time(der, notBefore);
  const after = time(der, notAfter);
  if (serial?.tag !== INTEGER || !key || !before || !after) return undefined;
  const digits = unsigned(der, serial).toString('hex').toUpperCase();
  return {
    serial: digits.length % 2 === 1 ? `0${digits}` : digits,
    notBefore: before,
    notAfter: after,
    key,
  };
}

/** From a private key PEM: PKCS#8 (`PRIVATE KEY`), SEC1 (`EC PRIVATE KEY`) or PKCS#1 (`RSA PRIVATE KEY`). */
export function privateKeyMaterial(pem: string): PublicMaterial | undefined {
  const match =
    /-----BEGIN (PRIVATE KEY|EC PRIVATE KEY|RSA PRIVATE KEY)-----([A-Za-z0-9+/=\s]+)-----END \1-----/.exec(
      pem,
    );
  if (!match) return undefined;
  const der = Buffer.from(match[2] as string, 'base64');
  const top = root(der);
  if (match[1] === 'RSA PRIVATE KEY') return rsaPublic(der, top, true);
  if (match[1] === 'EC PRIVATE KEY') return ecPrivate(der, top, undefined);
  const [version, algorithm, key] = sequence(der, top) ?? [];
  const [oid, params] = sequence(der, algorithm) ?? [];
  if (version?.tag !== INTEGER || oid?.tag !== OID || key?.tag !== OCTET_STRING) return undefined;
  const inner = der.subarray(key.start, key.end);
  if (hex(der, oid) === OID_RSA) return rsaPublic(inner, root(inner), true);
  if (hex(der, oid) === OID_EC && params?.tag === OID) return ecPrivate(inner, root(inner), hex(der, params));
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

/**
 * A UTCTime (tag 0x17, `YYMMDDHHMMSSZ`, years 50–99 are 19xx as RFC 5280 §4.1.2.5.1 says) or
 * GeneralizedTime (tag 0x18, `YYYYMMDDHHMMSSZ`) as a Date; undefined for any other form.
 */
function time(der: Buffer, node: Node | undefined): Date | undefined {
  if (!node || (node.tag !== 0x17 && node.tag !== 0x18)) return undefined;
  const text = der.toString('latin1', node.start, node.end);
  const match = (
    node.tag === 0x17
      ? /^(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/
      : /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/
  ).exec(text);
  if (!match) return undefined;
  const [year, month, day, hour, minute, second] = match.slice(1).map(Number) as number[];
  const fullYear =
    node.tag === 0x17 ? ((year as number) < 50 ? 2000 : 1900) + (year as number) : (year as number);
  const at = Date.UTC(fullYear, (month as number) - 1, day, hour, minute, second);
  return Number.isNaN(at) ? undefined : new Date(at);
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
      notAfter: validity?.tag === SEQUENCE ? time(der, children(der, validity)?.[1]) : undefined,
    };
  }
  return undefined;
}
