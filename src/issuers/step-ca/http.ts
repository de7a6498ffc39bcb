/**
 * HTTPS calls to a step-ca, with node:https only. Every call names the trust it uses: `ca` (the pinned
 * root, and nothing else) or `insecure` (only for fetching the root that is then checked against the
 * pinned fingerprint). Network failures become CertRenewErrors here, so the issuer sees one error type.
 */
import { request } from 'node:https';
import { CertRenewError, ErrorCode } from '../../errors.js';
import { clockBehindHint } from '../../policy/clock.js';
import type { Clock } from '../../runtime/clock.js';
import { TLS_TRUST_CODES } from '../../util/tls.js';

/** How long one call may take before it counts as the CA not answering. */
export const STEP_CA_CALL_TIMEOUT_MS = 30_000;

export type StepCaTrust = { ca: string } | { insecure: true };

export interface StepCaCall {
  method: 'GET' | 'POST';
  url: string;
  trust: StepCaTrust;
  /** JSON request body. */
  body?: unknown;
  /** Client certificate (leaf + intermediates, PEM) and its key, for mutual TLS. */
  clientCert?: { certPem: string; keyPem: string };
  signal: AbortSignal;
  timeoutMs?: number;
  /** Put in front of error messages, e.g. "step-ca issuer 'internal': https://ca:9000". */
  label?: string;
  /** This machine's clock: named when the server's TLS certificate is not valid yet. */
  clock?: Clock;
}

export interface StepCaResponse {
  status: number;
  /** The parsed JSON body, or `undefined` when the body is not JSON. */
  json: unknown;
  text: string;
}

/** A call that failed below HTTP (connection, TLS, timeout, abort), with the node error code kept. */
export class StepCaTransportError extends CertRenewError {
  constructor(
    message: string,
    readonly nodeCode: string | undefined,
    /** What went wrong in a few words, without the call (e.g. "TLS alert: bad certificate"). */
    readonly reason: string,
    options: { cause: unknown; code?: ErrorCode; transient?: boolean; hint?: string },
  ) {
    super(options.code ?? ErrorCode.issuerUnavailable, message, {
      cause: options.cause,
      transient: options.transient ?? true,
      ...(options.hint === undefined ? {} : { hint: options.hint }),
    });
  }
}

const PLAIN_REASONS: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  ENOTFOUND: 'host name not found',
  EAI_AGAIN: 'host name lookup failed for now',
  EPIPE: 'connection closed',
};

/** Node's error in a few words: OpenSSL's "…:SSL routines:fn:sslv3 alert bad certificate:…" → "TLS alert: bad certificate". */
function plainReason(error: unknown): string {
  const code = (error as NodeJS.ErrnoException).code;
  if (code !== undefined && PLAIN_REASONS[code] !== undefined) return PLAIN_REASONS[code];
  const message = error instanceof Error ? error.message : String(error);
  const alert = /alert ([a-z ]+?)(?::|$)/i.exec(message);
  if (/SSL routines/.test(message) && alert?.[1] !== undefined) return `TLS alert: ${alert[1]}`;
  return message.split('\n')[0] ?? message;
}

/**
 * Node's codes for a TLS alert the server sent about OUR certificate (bad, expired, unknown CA, …): with
 * mutual TLS this is the CA refusing the certificate we renew with, not an outage.
 */
export function isClientCertificateRefused(error: unknown): error is StepCaTransportError {
  if (!(error instanceof StepCaTransportError) || error.nodeCode === undefined) return false;
  return /^ERR_SSL_(SSLV3|TLSV1|TLSV13)_ALERT_(BAD_CERTIFICATE|CERTIFICATE_EXPIRED|CERTIFICATE_UNKNOWN|CERTIFICATE_REVOKED|UNKNOWN_CA|UNSUPPORTED_CERTIFICATE|CERTIFICATE_REQUIRED|ACCESS_DENIED|DECRYPT_ERROR)$/.test(
    error.nodeCode,
  );
}

export async function stepCaCall(call: StepCaCall): Promise<StepCaResponse> {
  const timeoutMs = call.timeoutMs ?? STEP_CA_CALL_TIMEOUT_MS;
  const payload = call.body === undefined ? undefined : JSON.stringify(call.body);
  const path = `${call.method} ${new URL(call.url).pathname}`;
  const where = call.label === undefined ? path : `${call.label} ${path}`;
  if (call.signal.aborted) throw aborted(where, call.signal.reason);
  return new Promise<StepCaResponse>((resolve, reject) => {
    const trust = 'ca' in call.trust ? { ca: call.trust.ca } : { rejectUnauthorized: false };
    const req = request(
      call.url,
      {
        method: call.method,
        ...trust,
        ...(call.clientCert ? { cert: call.clientCert.certPem, key: call.clientCert.keyPem } : {}),
        // One connection per call: a run makes a handful, and no pooled socket outlives the run.
        agent: false,
        signal: call.signal,
        headers: {
          accept: 'application/json',
          'user-agent': 'cert-renew',
          ...(payload === undefined
            ? {}
            : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) }),
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > 4 * 1024 * 1024) {
            req.destroy(new Error('the answer is larger than 4 MiB'));
            return;
          }
          chunks.push(chunk);
        });
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let json: unknown;
          try {
            json = text === '' ? undefined : JSON.parse(text);
          } catch {
            json = undefined;
          }
          resolve({ status: res.statusCode ?? 0, json, text });
        });
        res.on('error', (error) => reject(transportError(where, error, call.signal, call.clock)));
      },
    );
    req.setTimeout(timeoutMs, () => {
      const reason = `no answer within ${Math.round(timeoutMs / 1000)}s`;
      req.destroy(new StepCaTransportError(`${where}: ${reason}`, 'ETIMEDOUT', reason, { cause: undefined }));
    });
    req.on('error', (error) => reject(transportError(where, error, call.signal, call.clock)));
    req.end(payload);
  });
}

function aborted(where: string, reason: unknown): CertRenewError {
  return new StepCaTransportError(
    `${where} was cut off: the certificate's time ran out`,
    'ABORT_ERR',
    'aborted',
    {
      cause: reason,
      code: ErrorCode.issuerTimeout,
    },
  );
}

function transportError(where: string, error: unknown, signal: AbortSignal, clock?: Clock): CertRenewError {
  if (error instanceof CertRenewError) return error;
  if (signal.aborted) return aborted(where, error);
  const nodeCode = (error as NodeJS.ErrnoException).code;
  const reason = plainReason(error);
  if (nodeCode === 'CERT_NOT_YET_VALID') {
    // Not the pinned root: by this machine's clock the server's certificate is not valid yet.
    return new StepCaTransportError(
      `${where}: the server's TLS certificate is not valid yet by this machine's clock (${reason})`,
      nodeCode,
      reason,
      { cause: error, code: ErrorCode.issuerRejected, transient: false, hint: clockBehindHint(clock?.now()) },
    );
  }
  if (nodeCode !== undefined && TLS_TRUST_CODES.has(nodeCode)) {
    return new StepCaTransportError(
      `${where}: the server's TLS certificate does not verify against the pinned root (${reason})`,
      nodeCode,
      reason,
      { cause: error, code: ErrorCode.issuerRejected, transient: false },
    );
  }
  return new StepCaTransportError(`${where} failed: ${reason}`, nodeCode, reason, {
    cause: error,
    hint: 'is step-ca running and reachable? the next run tries again',
  });
}

/** step-ca's error body `{status, message}` as one line, or the HTTP status when the body says nothing. */
export function stepCaMessage(response: StepCaResponse): string {
  const body = response.json as { message?: unknown; detail?: unknown } | undefined;
  const message =
    typeof body?.message === 'string' ? body.message : typeof body?.detail === 'string' ? body.detail : '';
  const oneLine = message.replace(/\s+/g, ' ').trim();
  return oneLine === '' ? `HTTP ${response.status}` : `${oneLine} (HTTP ${response.status})`;
}

/** One step-ca's API: the base URL and the issuer's name, put in front of every call and error. */
export class StepCaApi {
  /** The CA's base URL without a trailing slash. */
  readonly url: string;

  constructor(
    url: string,
    readonly issuerName: string,
    /** Sees every call's method and URL before it is sent (tests observe calls with it). */
    private readonly onRequest?: (method: string, url: string) => void,
    /** This machine's clock, for messages. */
    private readonly clock?: Clock,
  ) {
    this.url = url.replace(/\/+$/, '');
  }

  /** `path` (with its query) under the base URL; throws StepCaTransportError below HTTP. */
  call(options: {
    method: 'GET' | 'POST';
    path: string;
    trust: StepCaTrust;
    body?: unknown;
    clientCert?: { certPem: string; keyPem: string };
    signal: AbortSignal;
  }): Promise<StepCaResponse> {
    const { path, ...rest } = options;
    const url = `${this.url}${path}`;
    if (!options.signal.aborted) this.onRequest?.(options.method, url);
    return stepCaCall({
      ...rest,
      url,
      label: `step-ca issuer '${this.issuerName}': ${this.url}`,
      ...(this.clock ? { clock: this.clock } : {}),
    });
  }

  /**
   * step-ca's `{status, message}` answer as a CertRenewError: 429 and 5xx ISSUER_UNAVAILABLE (transient),
   * any other ISSUER_REJECTED with a hint when the message says what to change. `what` is the operation
   * ("sign", "renew", "root", "provisioners").
   */
  answerError(response: StepCaResponse, certName: string | undefined, what: string): CertRenewError {
    const who = `${certName === undefined ? '' : `${certName}: `}step-ca issuer '${this.issuerName}'`;
    const message = stepCaMessage(response);
    if (response.status === 429 || response.status >= 500) {
      return new CertRenewError(
        ErrorCode.issuerUnavailable,
        `${who}: ${what} failed at ${this.url}: ${message}`,
        { transient: true },
      );
    }
    return new CertRenewError(ErrorCode.issuerRejected, `${who}: step-ca refused to ${what}: ${message}`, {
      hint: rejectionHint(message),
    });
  }
}

function rejectionHint(message: string): string | undefined {
  if (/duration|notAfter|notBefore/i.test(message)) {
    return "ask for a lifetime inside the provisioner's minimum and maximum (its claims in ca.json)";
  }
  if (/token already used/i.test(message)) return 'a token is single-use; run again';
  if (/san|subject|common name/i.test(message))
    return "the domains must match what the provisioner's policy allows";
  return undefined;
}
