/**
 * Renewal information (RFC 9773) kept between runs: a CA's answer for a certificate is put in the
 * certificate's own store as a blob (stores/keys.ts `renewalInfoBlobKey`) and used until the CA's
 * Retry-After instead of asking again (RFC 9773 §4.3; the issuer decides whether an answer still holds).
 * The store is the place because every host of a fleet shares it: one host's answer serves them all.
 *
 * Only `run` puts answers there; `plan`, `status` and `run --dry-run` read them and ask the CA for what is
 * not kept, writing nothing (they may run as a user who cannot write the store, and are promised to change
 * nothing).
 */
import { describeError } from '../errors.js';
import type { KeptRenewalInfo, RenewalInfoCache } from '../issuers/types.js';
import type { Logger } from '../runtime/logger.js';
import { renewalInfoBlobKey } from '../stores/keys.js';
import type { Store } from '../stores/types.js';

/** The blob's text as a KeptRenewalInfo, or undefined when it is not one (any field missing or mistyped). */
export function parseKeptRenewalInfo(text: string | undefined): KeptRenewalInfo | undefined {
  if (text === undefined) return undefined;
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof data !== 'object' || data === null) return undefined;
  const d = data as Record<string, unknown>;
  const strings = [d.identifier, d.directory, d.fetchedAt, d.retryAfter];
  if (!strings.every((value) => typeof value === 'string')) return undefined;
  const kept = {
    identifier: d.identifier as string,
    directory: d.directory as string,
    fetchedAt: d.fetchedAt as string,
    retryAfter: d.retryAfter as string,
  };
  // The directory offered no renewalInfo: nothing else is kept.
  if (d.none === true) return d.suggestedWindow === undefined ? { ...kept, none: true } : undefined;
  const window = d.suggestedWindow as Record<string, unknown> | null | undefined;
  if (typeof window?.start !== 'string' || typeof window.end !== 'string') return undefined;
  if (d.explanationURL !== undefined && typeof d.explanationURL !== 'string') return undefined;
  return {
    identifier: kept.identifier,
    directory: kept.directory,
    suggestedWindow: { start: window.start, end: window.end },
    ...(typeof d.explanationURL === 'string' ? { explanationURL: d.explanationURL } : {}),
    fetchedAt: kept.fetchedAt,
    retryAfter: kept.retryAfter,
  };
}

/**
 * The RenewalInfoCache of the certificate `name` in `store`. `writable` false: `put` does nothing. Never
 * rejects: a blob that cannot be read or parsed reads as none, a failed write is logged at debug level (the
 * next run asks the CA again).
 */
export function storeRenewalInfoCache(
  store: Pick<Store, 'getBlob' | 'putBlob'>,
  name: string,
  writable: boolean,
  logger: Logger,
): RenewalInfoCache {
  const key = renewalInfoBlobKey(name);
  return {
    async get() {
      try {
        return parseKeptRenewalInfo(await store.getBlob(key));
      } catch (error) {
        logger.debug(`${name}: kept renewal information unreadable: ${describeError(error)}`);
        return undefined;
      }
    },
    async put(info) {
      if (!writable) return;
      try {
        await store.putBlob(key, JSON.stringify(info));
      } catch (error) {
        logger.debug(`${name}: renewal information not kept: ${describeError(error)}`);
      }
    },
  };
}
