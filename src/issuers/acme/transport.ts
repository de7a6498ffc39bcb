/**
 * The HTTP transport under acme-client. acme-client sends everything through one global axios instance
 * (global defaults, hidden retries on 5xx/429/connection errors with fixed sleeps, and connection errors
 * lost in a TypeError once those retries run out), so each client gets this transport instead: node's
 * https with the issuer's own agents (agents.ts: its `caBundle` trusted beside the system roots, keep-alive), the
 * certificate's deadline as an AbortSignal, a per-request timeout, and ACME problem documents turned
 * into `AcmeProblemError` with their type, detail and Retry-After. Retrying is cert-renew's job
 * (retry.ts), not the transport's.
 */

import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { setTimeout as timersSleep } from 'node:timers/promises';
import type { Clock } from '../../runtime/clock.js';
import { retryAfterMs } from '../../util/retry-after.js';
import type { Agents, IssuerAgents } from './agents.js';

const MAX_BODY_BYTES = 4 * 1024 * 1024;
const PROBLEM_PREFIX = 'urn:ietf:params:acme:error:';

export interface AcmeResponse {
  status: number;
  headers: Record<string, string | undefined>;
  data: unknown;
}

export interface AcmeSubproblem {
  type: string;
  detail: string;
  identifier?: { type: string; value: string };
}

/** An RFC 7807 problem document from the CA (`type` without the `urn:ietf:params:acme:error:` prefix). */
export class AcmeProblemError extends Error {
  readonly status: number;
  readonly type: string;
  readonly detail: string;
  readonly subproblems: AcmeSubproblem[];
  /** Retry-After, in seconds from when the response arrived. */
  readonly retryAfter: number | undefined;
  /** The moment Retry-After names (response time + retryAfter), for messages. */
  readonly retryAt: Date | undefined;
  readonly url: string;

  constructor(init: {
    status: number;
    type: string;
    detail: string;
    subproblems?: AcmeSubproblem[];
    retryAfter?: number;
    retryAt?: Date;
    url: string;
  }) {
    super(`${init.detail || `HTTP ${init.status}`}${init.type ? ` (${init.type})` : ''}`);
    this.name = 'AcmeProblemError';
    this.status = init.status;
    this.type = init.type;
    this.detail = init.detail;
    this.subproblems = init.subproblems ?? [];
    this.retryAfter = init.retryAfter;
    this.retryAt = init.retryAt;
    this.url = init.url;
  }
}

/** The CA could not be reached, or the connection broke (no HTTP status). */
export class AcmeConnectionError extends Error {
  readonly code: string;
  readonly url: string;
  constructor(code: string, message: string, url: string) {
    super(message);
    this.name = 'AcmeConnectionError';
    this.code = code;
    this.url = url;
  }
}

/** `type` without the ACME prefix (`badNonce`), or the whole URI for other problem types. */
export function shortProblemType(type: unknown): string {
  if (typeof type !== 'string') return '';
  return type.startsWith(PROBLEM_PREFIX) ? type.slice(PROBLEM_PREFIX.length) : type;
}

/** Parses a problem object (RFC 7807, as ACME embeds them in challenges and orders). */
export function parseProblem(value: unknown): {
  type: string;
  detail: string;
  subproblems: AcmeSubproblem[];
} {
  const p = (typeof value === 'object' && value !== null ? value : {}) as Record<string, unknown>;
  const subproblems: AcmeSubproblem[] = [];
  if (Array.isArray(p.subproblems)) {
    for (const sub of p.subproblems as unknown[]) {
      const s = (typeof sub === 'object' && sub !== null ? sub : {}) as Record<string, unknown>;
      const identifier = s.identifier as { type: string; value: string } | undefined;
      subproblems.push({
        type: shortProblemType(s.type),
        detail: typeof s.detail === 'string' ? s.detail : '',
        ...(identifier && typeof identifier.value === 'string' ? { identifier } : {}),
      });
    }
  }
  return {
    type: shortProblemType(p.type),
    detail: typeof p.detail === 'string' ? p.detail.replace(/\s*\n\s*/g, ' ') : '',
    subproblems,
  };
}

/**
 * Retry-After in whole seconds (delay-seconds, or an HTTP-date: 0 when past), or undefined when absent or
 * neither form (util/retry-after.ts: a garbage header must not hold a certificate back).
 */
export function parseRetryAfter(header: string | undefined, now: Date): number | undefined {
  const ms = retryAfterMs(header, now);
  return ms === undefined ? undefined : Math.ceil(ms / 1000);
}

/**
 * Replay-Nonces (RFC 8555 §7.2) handed back by the CA on earlier responses, shared by every certificate of
 * one issuer. acme-client asks for a fresh nonce (a HEAD to newNonce) before every signed request; the
 * transport answers that from here when it can, which halves the requests per certificate. Each nonce is
 * handed out once, newest first; one the CA has since forgotten comes back as badNonce, which acme-client
 * retries with the nonce of that response.
 */
export class NoncePool {
  private readonly nonces: string[] = [];
  constructor(private readonly max = 64) {}
  put(nonce: string): void {
    this.nonces.push(nonce);
    if (this.nonces.length > this.max) this.nonces.shift();
  }
  take(): string | undefined {
    return this.nonces.pop();
  }
}

export interface TransportOptions {
  /** The issuer's agents; a request refused for trust by the bundle alone is sent again there (agents.ts). */
  agents: IssuerAgents;
  clock: Clock;
  userAgent: string;
  /** One request (connect to last byte). */
  requestTimeoutMs: number;
  /** Sees every request before it is sent. */
  onRequest?: (method: string, url: string) => void;
  /** The issuer's nonce pool; without it every newNonce HEAD goes to the CA. */
  nonces?: NoncePool;
}

/**
 * One certificate's view of the transport: the issuer's agents and this certificate's deadline. The
 * signal can be swapped (cleanup after a deadline runs under a short signal of its own).
 */
export class AcmeTransport {
  signal: AbortSignal;
  /** Details of badNonce responses handed back to acme-client (it retries those itself). */
  readonly badNonceDetails = new Set<string>();
  /** Number of HTTP requests sent, for tests and debug logs. */
  requests = 0;
  /**
   * Per URL, the time (ms since the epoch) before which the CA asked not to be asked again: a Retry-After
   * on any response (a processing order, a pending authorization, a 503) is a lower bound for the next
   * request to that URL (RFC 8555 §7.4, §8.2). The wait ends early when the signal fires.
   */
  private readonly notBefore = new Map<string, number>();

  constructor(
    private readonly options: TransportOptions,
    signal: AbortSignal,
  ) {
    this.signal = signal;
  }

  /** The shape acme-client's HttpClient.request has: (url, method, { data, headers }). */
  async request(
    url: string,
    method: string,
    opts: { data?: unknown; headers?: Record<string, string> } = {},
  ) {
    const verb = method.toUpperCase();
    const nonces = this.options.nonces;
    // acme-client's only HEAD is the newNonce request.
    const pooled = verb === 'HEAD' ? nonces?.take() : undefined;
    if (pooled) return { status: 200, headers: { 'replay-nonce': pooled }, data: '' };
    const waitUntil = this.notBefore.get(url);
    if (waitUntil !== undefined) {
      this.notBefore.delete(url);
      const ms = waitUntil - this.options.clock.now().getTime();
      if (ms > 0) await timersSleep(ms, undefined, { signal: this.signal });
    }
    const response = await this.send(url, verb, opts.data, opts.headers ?? {});
    const retryAfter = parseRetryAfter(response.headers['retry-after'], this.options.clock.now());
    if (retryAfter !== undefined && retryAfter > 0) {
      this.notBefore.set(url, this.options.clock.now().getTime() + retryAfter * 1000);
    }
    const problem = response.status >= 400 ? parseProblem(response.data) : undefined;
    const fresh = response.headers['replay-nonce'];
    // A HEAD's nonce goes to acme-client, and so does a badNonce response's (it retries with it).
    if (nonces && fresh && verb !== 'HEAD' && problem?.type !== 'badNonce') nonces.put(fresh);
    if (problem) {
      if (problem.type === 'badNonce') {
        // acme-client retries these with the fresh nonce of the response.
        this.badNonceDetails.add(problem.detail.replace(/\n/g, ''));
        return response;
      }
      throw new AcmeProblemError({
        status: response.status,
        type: problem.type,
        detail:
          problem.detail || (typeof response.data === 'string' ? response.data.slice(0, 200).trim() : ''),
        subproblems: problem.subproblems,
        ...(retryAfter === undefined
          ? {}
          : { retryAfter, retryAt: new Date(this.options.clock.now().getTime() + retryAfter * 1000) }),
        url,
      });
    }
    return response;
  }

  /** A plain GET (the directory, renewalInfo); problems throw like `request`. */
  get(url: string): Promise<AcmeResponse> {
    return this.request(url, 'GET');
  }

  private send(
    url: string,
    method: string,
    data: unknown,
    extra: Record<string, string>,
  ): Promise<AcmeResponse> {
    this.requests++;
    this.options.onRequest?.(method, url);
    return this.options.agents.send((agents) => this.sendWith(agents, url, method, data, extra));
  }

  private sendWith(
    agents: Agents,
    url: string,
    method: string,
    data: unknown,
    extra: Record<string, string>,
  ): Promise<AcmeResponse> {
    const signal = this.signal;
    return new Promise<AcmeResponse>((resolve, reject) => {
      if (signal.aborted) {
        reject(signal.reason ?? new Error('aborted'));
        return;
      }
      let target: URL;
      try {
        target = new URL(url);
      } catch {
        reject(new AcmeConnectionError('EINVALIDURL', `invalid URL ${url}`, url));
        return;
      }
      const body = data === undefined || data === null ? undefined : Buffer.from(JSON.stringify(data));
      const headers: Record<string, string> = {
        'user-agent': this.options.userAgent,
        accept: 'application/json, application/pem-certificate-chain, */*',
        ...lowerKeys(extra),
      };
      if (body) {
        // acme-client's own request() (replaced by this one) sets this; every ACME POST is a JWS.
        headers['content-type'] ??= 'application/jose+json';
        headers['content-length'] = String(body.length);
      }
      const isHttps = target.protocol === 'https:';
      const send = isHttps ? httpsRequest : httpRequest;
      const req = send(target, {
        method,
        headers,
        agent: isHttps ? agents.https : agents.http,
        signal,
        timeout: this.options.requestTimeoutMs,
      });
      req.on('timeout', () => {
        req.destroy(
          new AcmeConnectionError('ETIMEDOUT', `no answer within ${this.options.requestTimeoutMs} ms`, url),
        );
      });
      req.on('error', (error: NodeJS.ErrnoException) => {
        if (signal.aborted) reject(signal.reason ?? error);
        else if (error instanceof AcmeConnectionError) reject(error);
        else reject(new AcmeConnectionError(error.code ?? 'ECONNECTION', error.message, url));
      });
      req.on('response', (res: IncomingMessage) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > MAX_BODY_BYTES) {
            req.destroy(
              new AcmeConnectionError('ETOOLARGE', `response larger than ${MAX_BODY_BYTES} bytes`, url),
            );
            return;
          }
          chunks.push(chunk);
        });
        res.on('error', (error: NodeJS.ErrnoException) => {
          reject(new AcmeConnectionError(error.code ?? 'ECONNRESET', error.message, url));
        });
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          resolve({
            status: res.statusCode ?? 0,
            headers: flatten(res.headers),
            data: decode(text, res.headers['content-type']),
          });
        });
      });
      req.end(body);
    });
  }
}

function lowerKeys(headers: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(headers)) out[key.toLowerCase()] = value;
  return out;
}

function flatten(headers: IncomingHttpHeaders): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = {};
  for (const [key, value] of Object.entries(headers)) {
    // Several Link headers matter (alternate chains); join them as one header would.
    out[key] = Array.isArray(value) ? value.join(', ') : value;
  }
  return out;
}

function decode(text: string, contentType: string | undefined): unknown {
  if (text === '') return '';
  if (contentType && /json/i.test(contentType)) {
    try {
      return JSON.parse(text);
    } catch {
      return text;
    }
  }
  return text;
}
