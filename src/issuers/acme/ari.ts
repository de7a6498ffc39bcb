/**
 * ACME Renewal Information (RFC 9773): the CA's suggestedWindow for renewing a certificate it issued. The
 * certificate identifier is
 * base64url(AKI keyIdentifier) "." base64url(serial number DER content octets), read straight from the
 * certificate's DER (node's X509Certificate prints the serial without the leading zero byte the DER
 * carries, and the identifier needs those exact octets).
 */
import { X509Certificate } from 'node:crypto';
import { retryAfterMs } from '../../util/retry-after.js';
import { serialAndAuthorityKeyId } from '../../x509/der.js';

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
  const parts = serialAndAuthorityKeyId(der);
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

/** The URL for a certificate identifier under the directory's renewalInfo resource. */
export function renewalInfoUrl(base: string, identifier: string): string {
  return `${base.replace(/\/+$/, '')}/${identifier}`;
}

/** RFC 9773 §4.3: a renewalInfo Retry-After below a minute counts as one minute, above a day as one day. */
export const RENEWAL_INFO_RETRY_AFTER_MIN_MS = 60_000;
export const RENEWAL_INFO_RETRY_AFTER_MAX_MS = 86_400_000;

/**
 * When to ask for a certificate's renewal information again, from the Retry-After header of a renewalInfo
 * response (RFC 9110 §10.2.3: delay-seconds or an HTTP-date), clamped to one minute … one day after `now`
 * as RFC 9773 §4.3 recommends. Undefined when the header is absent or is neither form (a date in any other
 * format is not an HTTP-date): then nothing tells the client how long the answer holds, and it is not kept.
 */
export function renewalInfoRetryAfter(header: string | undefined, now: Date): Date | undefined {
  const delayMs = retryAfterMs(header, now);
  if (delayMs === undefined) return undefined;
  const clamped = Math.min(
    RENEWAL_INFO_RETRY_AFTER_MAX_MS,
    Math.max(RENEWAL_INFO_RETRY_AFTER_MIN_MS, delayMs),
  );
  return new Date(now.getTime() + clamped);
}
