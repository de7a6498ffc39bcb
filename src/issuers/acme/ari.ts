/**
 * ACME Renewal Information (RFC 9773). The certificate identifier is
 * base64url(AKI keyIdentifier) "." base64url(serial number DER content octets), read straight from the
 * certificate's DER (node's X509Certificate prints the serial without the leading zero byte the DER
 * carries, and the identifier needs those exact octets).
 */
import { createHash, X509Certificate } from 'node:crypto';

/** `keyIdentifier` and `serialDer` are raw bytes (the serial as DER content octets, sign byte kept). */
export function ariCertIdentifier(keyIdentifier: Uint8Array, serialDer: Uint8Array): string {
  return `${Buffer.from(keyIdentifier).toString('base64url')}.${Buffer.from(serialDer).toString('base64url')}`;
}

/** The RFC 9773 identifier of the first certificate in `pem`, or undefined (no AKI, unparsable). */
export function ariCertIdentifierFromPem(pem: string): string | undefined {
  let der: Buffer;
  try {
    der = new X509Certificate(pem).raw;
  } catch {
    return undefined;
  }
  const parts = serialAndAki(der);
  return parts ? ariCertIdentifier(parts.keyIdentifier, parts.serial) : undefined;
}

export interface SuggestedWindow {
  start: Date;
  end: Date;
  explanationUrl?: string;
}

/** Parses a renewalInfo response; undefined unless it has a well-formed window with start < end. */
export function parseRenewalInfo(data: unknown): SuggestedWindow | undefined {
  if (typeof data !== 'object' || data === null) return undefined;
  const body = data as { suggestedWindow?: { start?: unknown; end?: unknown }; explanationURL?: unknown };
  const window = body.suggestedWindow;
  if (typeof window !== 'object' || window === null) return undefined;
  if (typeof window.start !== 'string' || typeof window.end !== 'string') return undefined;
  const start = new Date(window.start);
  const end = new Date(window.end);
  if (Number.isNaN(start.getTime()) || Number.isNaN(end.getTime()) || end <= start) return undefined;
  return {
    start,
    end,
    ...(typeof body.explanationURL === 'string' ? { explanationUrl: body.explanationURL } : {}),
  };
}

/**
 * A deterministic point inside the window for one certificate (the same certificate always picks the
 * same moment, different certificates spread over the window), as RFC 9773 asks clients to pick a
 * point rather than renewing at the start.
 */
export function pointInWindow(window: { start: Date; end: Date }, seed: string): Date {
  const span = window.end.getTime() - window.start.getTime();
  if (span <= 0) return new Date(window.start);
  const fraction = createHash('sha256').update(seed).digest().readUInt32BE(0) / 0x1_0000_0000;
  return new Date(window.start.getTime() + Math.floor(fraction * span));
}

/** The URL for a certificate identifier under the directory's renewalInfo resource. */
export function renewalInfoUrl(base: string, identifier: string): string {
  return `${base.replace(/\/+$/, '')}/${identifier}`;
}

// --- a minimal DER walk: Certificate → tbsCertificate → serialNumber, extensions → AKI keyIdentifier

interface Tlv {
  tag: number;
  start: number;
  end: number;
}

function readTlv(der: Uint8Array, offset: number, limit: number): Tlv | undefined {
  if (offset + 2 > limit) return undefined;
  const tag = der[offset] as number;
  let length = der[offset + 1] as number;
  let start = offset + 2;
  if (length & 0x80) {
    const count = length & 0x7f;
    if (count === 0 || count > 4 || start + count > limit) return undefined;
    length = 0;
    for (let i = 0; i < count; i++) length = length * 256 + (der[start + i] as number);
    start += count;
  }
  const end = start + length;
  return end > limit ? undefined : { tag, start, end };
}

function children(der: Uint8Array, parent: Tlv): Tlv[] {
  const out: Tlv[] = [];
  let offset = parent.start;
  while (offset < parent.end) {
    const child = readTlv(der, offset, parent.end);
    if (!child) return out;
    out.push(child);
    offset = child.end;
  }
  return out;
}

const AKI_OID = Buffer.from([0x55, 0x1d, 0x23]); // 2.5.29.35

function serialAndAki(der: Uint8Array): { serial: Uint8Array; keyIdentifier: Uint8Array } | undefined {
  const cert = readTlv(der, 0, der.length);
  if (cert?.tag !== 0x30) return undefined;
  const tbs = children(der, cert)[0];
  if (tbs?.tag !== 0x30) return undefined;
  const fields = children(der, tbs);
  const index = fields[0]?.tag === 0xa0 ? 1 : 0; // explicit version
  const serial = fields[index];
  if (serial?.tag !== 0x02) return undefined;
  // signature, issuer, validity, subject, subjectPublicKeyInfo, then the optional [1] [2] [3]
  const extensions = fields.slice(index + 1).find((f) => f.tag === 0xa3);
  if (!extensions) return undefined;
  const list = children(der, extensions)[0];
  if (!list) return undefined;
  for (const extension of children(der, list)) {
    const [oid, ...rest] = children(der, extension);
    if (oid?.tag !== 0x06 || !Buffer.from(der.subarray(oid.start, oid.end)).equals(AKI_OID)) continue;
    const value = rest.find((f) => f.tag === 0x04);
    if (!value) return undefined;
    const aki = readTlv(der, value.start, value.end);
    if (aki?.tag !== 0x30) return undefined;
    const keyId = children(der, aki).find((f) => f.tag === 0x80);
    if (!keyId) return undefined;
    return {
      serial: der.subarray(serial.start, serial.end),
      keyIdentifier: der.subarray(keyId.start, keyId.end),
    };
  }
  return undefined;
}
