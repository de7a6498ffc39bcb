/**
 * Renewal information (RFC 9773) for planning, without the ACME client: a nothing-due run asks each
 * certificate's suggested window with plain HTTPS GETs and never loads acme-client, axios or the X.509
 * builders. Per issuer and run: the directory is fetched once (a failure too is remembered for the run, so a
 * CA that is down costs one attempt and one log line, not one per certificate), and the lookups share one
 * keep-alive agent (the caller bounds how many run at once).
 *
 * Trust: a `caBundle` is trusted beside the system roots, as when issuing. Building a TLS context from the
 * ~150 system roots costs tens of milliseconds, so the first connection trusts only the bundle (what a
 * private CA's server presents); only if that fails certificate verification is the full context built
 * and the request repeated. The outcome is the same as trusting both from the start.
 */
import type { Agent as HttpAgent, IncomingMessage } from 'node:http';
import type { Agent as HttpsAgent } from 'node:https';
import { CertRenewError, describeError, ErrorCode } from '../../errors.js';
import type { Logger } from '../../runtime/logger.js';
import type { StoredCertificate } from '../../stores/types.js';
import { TLS_TRUST_CODES } from '../../util/tls.js';
import { serialAndAuthorityKeyId } from '../../x509/der.js';
import { ariCertIdentifier, parseRenewalInfo, renewalInfoUrl } from './ari.js';
import { type AcmeDirectory, parseDirectory } from './directory.js';

const MAX_BODY_BYTES = 1024 * 1024;

export interface RenewalInfoOptions {
  directoryUrl: string;
  issuerName: string;
  /** PEM text of the issuer's `caBundle`, read by the caller; undefined: the system roots only. */
  caBundle: () => Promise<string | undefined>;
  logger: Logger;
  userAgent: string;
  /** One request, connect to last byte (ms). */
  requestTimeoutMs: number;
  /** Sees every request before it is sent (tests count them). */
  onRequest?: (method: string, url: string) => void;
}

/** The DER bytes of the first CERTIFICATE block of a PEM text, or undefined. */
function firstCertificateDer(pem: string): Buffer | undefined {
  const match = /-----BEGIN CERTIFICATE-----([\s\S]*?)-----END CERTIFICATE-----/.exec(pem);
  return match?.[1] ? Buffer.from(match[1].replace(/\s+/g, ''), 'base64') : undefined;
}

/** The RFC 9773 certificate identifier of the first certificate in `pem`, or undefined (no AKI). */
export function renewalInfoIdentifier(pem: string): string | undefined {
  const der = firstCertificateDer(pem);
  const parts = der ? serialAndAuthorityKeyId(der) : undefined;
  return parts ? ariCertIdentifier(parts.keyIdentifier, parts.serial) : undefined;
}

interface Agents {
  https: HttpsAgent;
  http: HttpAgent;
  /** Trusts the system roots too (always true without a caBundle). */
  full: boolean;
}

/** One issuer's renewal-information lookups for one run. */
export class RenewalInfoLookup {
  private directoryPromise: Promise<AcmeDirectory | undefined> | undefined;
  private agentsPromise: Promise<Agents> | undefined;
  private fullAgentsPromise: Promise<Agents> | undefined;

  constructor(private readonly options: RenewalInfoOptions) {}

  /** The directory as fetched for this run (undefined until a lookup fetched it, or when that failed). */
  fetchedDirectory(): Promise<AcmeDirectory | undefined> | undefined {
    return this.directoryPromise;
  }

  /**
   * The suggested window of a stored certificate, or undefined: the directory offers no renewalInfo, the
   * certificate has no AKI, or anything failed (logged at debug; renewal information never blocks a
   * renewal and never fails a plan).
   */
  async window(
    cert: StoredCertificate,
    signal: AbortSignal,
  ): Promise<{ start: Date; end: Date } | undefined> {
    const { issuerName, logger } = this.options;
    const directory = await this.directory(signal);
    if (!directory?.renewalInfo) return undefined;
    const id = renewalInfoIdentifier(cert.certPem);
    if (!id) {
      logger.debug(
        `issuer ${issuerName}: no ARI identifier for ${cert.meta?.name ?? 'a certificate'} (no AKI)`,
      );
      return undefined;
    }
    try {
      const body = await this.getJson(renewalInfoUrl(directory.renewalInfo, id), signal);
      const window = parseRenewalInfo(body);
      if (!window) {
        logger.debug(`issuer ${issuerName}: renewalInfo for ${id} has no usable suggestedWindow`);
        return undefined;
      }
      return { start: window.start, end: window.end };
    } catch (error) {
      logger.debug(`issuer ${issuerName}: renewalInfo for ${id} unavailable: ${describeError(error)}`);
      return undefined;
    }
  }

  /** Fetched once per run; a failure is logged once and remembered (undefined) for the rest of the run. */
  private directory(signal: AbortSignal): Promise<AcmeDirectory | undefined> {
    this.directoryPromise ??= (async () => {
      const { directoryUrl, issuerName, logger } = this.options;
      try {
        const parsed = parseDirectory(await this.getJson(directoryUrl, signal));
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

  private async getJson(url: string, signal: AbortSignal): Promise<unknown> {
    const agents = await this.agents(false);
    try {
      return await this.get(url, agents, signal);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (agents.full || code === undefined || !TLS_TRUST_CODES.has(code)) throw error;
      // Not signed by the bundle alone: trust the system roots beside it, as issuing does.
      return this.get(url, await this.agents(true), signal);
    }
  }

  private agents(full: boolean): Promise<Agents> {
    const build = async (wantFull: boolean): Promise<Agents> => {
      const [{ Agent: HttpsAgentClass }, { Agent: HttpAgentClass }] = await Promise.all([
        import('node:https'),
        import('node:http'),
      ]);
      const bundle = await this.options.caBundle();
      let secureContext: import('node:tls').SecureContext | undefined;
      if (bundle !== undefined) {
        const tls = await import('node:tls');
        secureContext = tls.createSecureContext({
          ca: wantFull ? [...tls.rootCertificates, bundle] : bundle,
        });
      }
      return {
        https: new HttpsAgentClass({
          keepAlive: true,
          maxSockets: 16,
          ...(secureContext ? { secureContext } : {}),
        }),
        http: new HttpAgentClass({ keepAlive: true, maxSockets: 16 }),
        full: wantFull || bundle === undefined,
      };
    };
    if (full) {
      this.fullAgentsPromise ??= build(true);
      return this.fullAgentsPromise;
    }
    this.agentsPromise ??= build(false);
    return this.agentsPromise;
  }

  private async get(url: string, agents: Agents, signal: AbortSignal): Promise<unknown> {
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
            resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')));
          } catch {
            reject(new Error(`GET ${url}: the answer is not JSON`));
          }
        });
      });
      req.end();
    });
  }

  /** Closes the keep-alive connections (they would keep the process alive). */
  async close(): Promise<void> {
    for (const pending of [this.agentsPromise, this.fullAgentsPromise]) {
      if (!pending) continue;
      try {
        const agents = await pending;
        agents.https.destroy();
        agents.http.destroy();
      } catch {
        // never built
      }
    }
    this.agentsPromise = undefined;
    this.fullAgentsPromise = undefined;
  }
}
