/**
 * Renewal information (RFC 9773) for planning, without the ACME client: a nothing-due run asks each
 * certificate's suggested window with plain HTTPS GETs and never loads acme-client, axios or the X.509
 * builders. Per issuer and run: the directory is fetched once (a failure too is remembered for the run, so a
 * CA that is down costs one attempt and one log line, not one per certificate), and the lookups share one
 * keep-alive agent with issuing (agents.ts: the `caBundle` trusted beside the system roots); the caller bounds
 * how many run at once. An answer with a Retry-After is kept (the caller's RenewalInfoCache: a blob in the
 * certificate's store) and used without asking until then, as RFC 9773 §4.3 asks: a run inside every
 * certificate's Retry-After sends no request at all.
 */
import type { IncomingMessage } from 'node:http';
import { CertRenewError, describeError, ErrorCode } from '../../errors.js';
import type { Clock } from '../../runtime/clock.js';
import type { Logger } from '../../runtime/logger.js';
import type { StoredCertificate } from '../../stores/types.js';
import { serialAndAuthorityKeyId } from '../../x509/der.js';
import { firstCertificateDer } from '../../x509/pem.js';
import type { KeptRenewalInfo, RenewalInfoCache, SuggestedWindow } from '../types.js';
import type { Agents, IssuerAgents } from './agents.js';
import {
  ariCertIdentifier,
  parseRenewalInfo,
  RENEWAL_INFO_RETRY_AFTER_MAX_MS,
  renewalInfoRetryAfter,
  renewalInfoUrl,
} from './ari.js';
import { type AcmeDirectory, parseDirectory } from './directory.js';

const MAX_BODY_BYTES = 1024 * 1024;

export interface RenewalInfoOptions {
  directoryUrl: string;
  issuerName: string;
  /** The issuer's agents, shared with issuing. */
  agents: IssuerAgents;
  logger: Logger;
  /** `now` for Retry-After and for whether a kept answer still holds. */
  clock: Clock;
  userAgent: string;
  /** One request, connect to last byte (ms). */
  requestTimeoutMs: number;
  /** Sees every request before it is sent (tests count them). */
  onRequest?: (method: string, url: string) => void;
}

/**
 * The RFC 9773 certificate identifier of the first certificate in `pem` and its notAfter, or undefined (no
 * AKI).
 */
function renewalInfoSubject(pem: string): { id: string; notAfter: Date | undefined } | undefined {
  const der = firstCertificateDer(pem);
  const parts = der ? serialAndAuthorityKeyId(der) : undefined;
  return parts
    ? { id: ariCertIdentifier(parts.keyIdentifier, parts.serial), notAfter: parts.notAfter }
    : undefined;
}

/** The RFC 9773 certificate identifier of the first certificate in `pem`, or undefined (no AKI). */
export function renewalInfoIdentifier(pem: string): string | undefined {
  return renewalInfoSubject(pem)?.id;
}

/** One issuer's renewal-information lookups for one run. */
export class RenewalInfoLookup {
  private directoryPromise: Promise<AcmeDirectory | undefined> | undefined;

  constructor(private readonly options: RenewalInfoOptions) {}

  /** The directory as fetched for this run (undefined until a lookup fetched it, or when that failed). */
  fetchedDirectory(): Promise<AcmeDirectory | undefined> | undefined {
    return this.directoryPromise;
  }

  /**
   * The suggested window of a stored certificate, or undefined: the directory offers no renewalInfo, the
   * certificate has no AKI, or anything failed (logged at debug; renewal information never blocks a
   * renewal and never fails a plan), or the certificate has expired (RFC 9773 §4.3). With `cache`: an
   * answer kept there for this certificate (same RFC 9773 identifier) from this directory is used while its
   * Retry-After has not passed, without fetching the directory or asking the CA; a new answer that has a
   * Retry-After is put there, and one without replaces a different answer kept for this certificate (kept
   * as due now); when the CA cannot be asked (the directory or the request fails), the last answer kept for
   * this certificate is used, whatever its age.
   */
  async window(
    cert: StoredCertificate,
    signal: AbortSignal,
    cache?: RenewalInfoCache,
  ): Promise<SuggestedWindow | undefined> {
    const { issuerName, logger, directoryUrl, clock } = this.options;
    const subject = renewalInfoSubject(cert.certPem);
    if (!subject) {
      logger.debug(
        `issuer ${issuerName}: no ARI identifier for ${cert.meta?.name ?? 'a certificate'} (no AKI)`,
      );
      return undefined;
    }
    const { id, notAfter } = subject;
    const named = cert.meta?.name ? `${cert.meta.name}: ` : '';
    // RFC 9773 §4.3: no renewal information for a certificate that has expired (it is renewed anyway).
    if (notAfter && notAfter.getTime() <= clock.now().getTime()) {
      logger.debug(`issuer ${issuerName}: renewalInfo for ${id} not asked: the certificate has expired`);
      return undefined;
    }
    const stored = await cache?.get();
    const kept = stored && stored.identifier === id && stored.directory === directoryUrl ? stored : undefined;
    if (kept?.none && keptHolds(kept, clock.now())) {
      logger.debug(
        `issuer ${issuerName}: ${named}no renewalInfo: the directory offered none at ${kept.fetchedAt} (not looked at again before ${kept.retryAfter})`,
      );
      return undefined;
    }
    if (kept) {
      const window = keptWindow(kept, clock.now());
      if (window) {
        logger.debug(
          `issuer ${issuerName}: ${named}renewalInfo for ${id} as the CA gave it at ${kept.fetchedAt} (not asked again before ${kept.retryAfter})`,
        );
        return window;
      }
    }
    // The CA cannot be asked now (directory or renewalInfo request failed): its last answer for this
    // certificate, past its Retry-After, says more than none — a window the CA moved to "now" in an incident
    // must not turn back into the lifetime rule because the CA is busy.
    const lastAnswer = (why: string) => {
      const window = kept ? lastKeptWindow(kept) : undefined;
      if (!window || !kept) return undefined;
      logger.debug(
        `issuer ${issuerName}: ${named}renewalInfo for ${id} unavailable (${why}); using the CA's answer of ${kept.fetchedAt}`,
      );
      return { ...window, lastAnswerAt: new Date(kept.fetchedAt) };
    };
    const directory = await this.directory(signal);
    if (!directory) return lastAnswer('the directory could not be fetched');
    if (!directory.renewalInfo) {
      // Kept like an answer, for a day: a run between two looks sends nothing (a CA that adds renewal
      // information is noticed within a day).
      if (cache) {
        const now = clock.now();
        await cache.put({
          identifier: id,
          directory: directoryUrl,
          none: true,
          fetchedAt: now.toISOString(),
          retryAfter: new Date(now.getTime() + RENEWAL_INFO_RETRY_AFTER_MAX_MS).toISOString(),
        });
      }
      return undefined;
    }
    try {
      const { body, retryAfter } = await this.getJson(renewalInfoUrl(directory.renewalInfo, id), signal);
      const window = parseRenewalInfo(body);
      if (!window) {
        logger.debug(`issuer ${issuerName}: renewalInfo for ${id} has no usable suggestedWindow`);
        return undefined;
      }
      const now = clock.now();
      const until = renewalInfoRetryAfter(retryAfter, now);
      // An answer without Retry-After is not kept for use, but it supersedes an older one kept for this
      // certificate: that one would otherwise come back into force as the CA's last answer when the CA
      // cannot be asked. It is kept as due now (asked again next time), only to be that last answer.
      const supersedes =
        !until &&
        kept !== undefined &&
        (kept.suggestedWindow === undefined ||
          Date.parse(kept.suggestedWindow.start) !== window.start.getTime() ||
          Date.parse(kept.suggestedWindow.end) !== window.end.getTime());
      if (cache && (until || supersedes)) {
        await cache.put({
          identifier: id,
          directory: directoryUrl,
          suggestedWindow: { start: window.start.toISOString(), end: window.end.toISOString() },
          ...(window.explanationUrl ? { explanationURL: window.explanationUrl } : {}),
          fetchedAt: now.toISOString(),
          retryAfter: (until ?? now).toISOString(),
        });
      }
      return { start: window.start, end: window.end };
    } catch (error) {
      logger.debug(`issuer ${issuerName}: renewalInfo for ${id} unavailable: ${describeError(error)}`);
      return lastAnswer(describeError(error));
    }
  }

  /** Fetched once per run; a failure is logged once and remembered (undefined) for the rest of the run. */
  private directory(signal: AbortSignal): Promise<AcmeDirectory | undefined> {
    this.directoryPromise ??= (async () => {
      const { directoryUrl, issuerName, logger } = this.options;
      try {
        const parsed = parseDirectory((await this.getJson(directoryUrl, signal)).body);
        if (!parsed) throw new Error(`${directoryUrl} is not an ACME directory`);
        return parsed;
      } catch (error) {
        logger.debug(
          `issuer ${issuerName}: renewal information unavailable this run (fetching the directory: ${describeError(error)})`,
        );
        return undefined;
      }
    })();
    return this.directoryPromise;
  }

  /** The JSON body of a 200 answer and its Retry-After header (as sent, or undefined). */
  private getJson(
    url: string,
    signal: AbortSignal,
  ): Promise<{ body: unknown; retryAfter: string | undefined }> {
    return this.options.agents.send((agents) => this.get(url, agents, signal));
  }

  private async get(
    url: string,
    agents: Agents,
    signal: AbortSignal,
  ): Promise<{ body: unknown; retryAfter: string | undefined }> {
    const target = new URL(url);
    const isHttps = target.protocol === 'https:';
    const { request } = isHttps ? await import('node:https') : await import('node:http');
    this.options.onRequest?.('GET', url);
    return new Promise((resolve, reject) => {
      const req = request(target, {
        method: 'GET',
        agent: isHttps ? agents.https : agents.http,
        headers: { 'user-agent': this.options.userAgent, accept: 'application/json' },
        signal,
        timeout: this.options.requestTimeoutMs,
      });
      req.on('timeout', () =>
        req.destroy(
          Object.assign(new Error(`no answer within ${this.options.requestTimeoutMs} ms`), {
            code: 'ETIMEDOUT',
          }),
        ),
      );
      req.on('error', reject);
      req.on('response', (res: IncomingMessage) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > MAX_BODY_BYTES) req.destroy(new Error(`response larger than ${MAX_BODY_BYTES} bytes`));
          else chunks.push(chunk);
        });
        res.on('error', reject);
        res.on('end', () => {
          const status = res.statusCode ?? 0;
          if (status !== 200) {
            reject(
              new CertRenewError(ErrorCode.issuerUnavailable, `GET ${url}: HTTP ${status}`, {
                transient: status >= 500,
              }),
            );
            return;
          }
          try {
            const retryAfter = res.headers['retry-after'];
            resolve({
              body: JSON.parse(Buffer.concat(chunks).toString('utf8')),
              retryAfter: typeof retryAfter === 'string' ? retryAfter : undefined,
            });
          } catch {
            reject(new Error(`GET ${url}: the answer is not JSON`));
          }
        });
      });
      req.end();
    });
  }
}

/**
 * The window of a kept answer while it holds (`now` before its retryAfter, dates well formed, start before
 * end), else undefined. A retryAfter more than a day ahead (a clock set back, a hand-edited blob) does not
 * hold: RFC 9773 §4.3 never lets an answer stand longer than a day.
 */
export function keptWindow(kept: KeptRenewalInfo, now: Date): SuggestedWindow | undefined {
  return keptHolds(kept, now) ? lastKeptWindow(kept) : undefined;
}

/** Whether a kept entry still holds at `now`: after its fetchedAt, before its retryAfter, at most a day ahead. */
function keptHolds(kept: KeptRenewalInfo, now: Date): boolean {
  const retryAfter = Date.parse(kept.retryAfter);
  const fetchedAt = Date.parse(kept.fetchedAt);
  if (Number.isNaN(retryAfter) || Number.isNaN(fetchedAt)) return false;
  const t = now.getTime();
  return !(t >= retryAfter || retryAfter - t > RENEWAL_INFO_RETRY_AFTER_MAX_MS || fetchedAt > t);
}

/**
 * The window of a kept answer whatever its age (dates well formed, start before end), else undefined: what
 * the CA last said, used only when it cannot be asked again.
 */
export function lastKeptWindow(kept: KeptRenewalInfo): SuggestedWindow | undefined {
  if (!kept.suggestedWindow) return undefined;
  const start = new Date(kept.suggestedWindow.start);
  const end = new Date(kept.suggestedWindow.end);
  if (Number.isNaN(start.getTime()) || Number.isNaN(end.getTime()) || end <= start) return undefined;
  return { start, end };
}
