/**
 * ioredis errors turned into one-line CertRenewErrors naming the store and its address (never a password):
 * a refused login, an unreachable server, a reply error (WRONGTYPE, OOM, READONLY …) and a lost connection
 * each get their code, whether a retry may help (`transient`) and what the operator should check.
 */
import { ReplyError } from 'ioredis';
import { CertRenewError, describeError, ErrorCode } from '../../errors.js';

/** Whether the command only reads (failures are STORE_UNAVAILABLE) or writes (STORE_WRITE_FAILED). */
export type Access = 'read' | 'write';

/** Which store, for messages: its manifest name and its address without credentials. */
export interface StoreLabel {
  name: string;
  address: string;
}

const AUTH_FAILURE = /^(WRONGPASS|NOAUTH|NOPERM)/;
const TRANSIENT_REPLY = /^(LOADING|BUSY|TRYAGAIN|CLUSTERDOWN|MASTERDOWN|READONLY)/;
const CONNECTION_LOST =
  /max retries per request|Connection is closed|Command aborted|Stream isn't writeable|Command timed out/i;

/** OpenSSL's text when the server requires a client certificate (TLS 1.3 alert 116; TLS 1.2 handshake failure). */
const CLIENT_CERTIFICATE_REQUIRED =
  /alert certificate required|SSL alert number 116|peer did not return a certificate/i;
/** Node's certificate verification failures (the chain, not the name: a name mismatch says so itself). */
const CERTIFICATE_NOT_TRUSTED =
  /self[- ]signed certificate|unable to verify the first certificate|unable to get (local )?issuer certificate|certificate (has expired|is not yet valid)|certificate signature failure/i;

/**
 * Whether a connection error is the TLS handshake refusing (client certificate required, server certificate
 * not trusted): it says more than the ECONNRESET of the attempt after it, so the connection keeps it.
 */
export function isTlsRefusal(detail: string): boolean {
  return CLIENT_CERTIFICATE_REQUIRED.test(detail) || CERTIFICATE_NOT_TRUSTED.test(detail);
}

/** The first connection failed (`detail` says why): STORE_UNAVAILABLE, transient unless the login was refused. */
export function unavailableError(
  store: StoreLabel,
  detail: string,
  cause?: unknown,
  /** What to check instead of the usual hint (a cluster that is down, sentinels that do not know the name). */
  hint?: string,
): CertRenewError {
  if (AUTH_FAILURE.test(detail)) {
    return new CertRenewError(
      ErrorCode.storeUnavailable,
      `redis store "${store.name}" at ${store.address} refused the login: ${detail}`,
      { cause, hint: "check the store's username and password (secret references) and the ACL" },
    );
  }
  if (CLIENT_CERTIFICATE_REQUIRED.test(detail)) {
    return new CertRenewError(
      ErrorCode.storeUnavailable,
      `redis store "${store.name}" at ${store.address} is unreachable: the server asks for a TLS client certificate, and cert-renew does not send one`,
      {
        cause,
        hint: 'set tls-auth-clients no (or optional) on that Redis; cert-renew logs in with username and password',
      },
    );
  }
  if (CERTIFICATE_NOT_TRUSTED.test(detail)) {
    return new CertRenewError(
      ErrorCode.storeUnavailable,
      `redis store "${store.name}" at ${store.address} is unreachable: ${detail}`,
      {
        cause,
        hint: "the server's TLS certificate is not trusted: give the CA that signed it as the store's tls.caBundle (a PEM file, relative to the manifest)",
      },
    );
  }
  // TLS 1.3: the client may write before the server's "certificate required" alert arrives, and then
  // sees only the reset. Which of the two comes first is a race: say what a reset over TLS may mean.
  const reset =
    /^rediss:/.test(store.address) && /ECONNRESET|socket disconnected before secure/i.test(detail);
  return new CertRenewError(
    ErrorCode.storeUnavailable,
    `redis store "${store.name}" at ${store.address} is unreachable: ${detail}`,
    {
      transient: true,
      cause,
      hint:
        hint ??
        (reset
          ? 'check that Redis runs there and that the address is right; a Redis that requires TLS client certificates (tls-auth-clients yes) resets the connection, and cert-renew does not send one: set tls-auth-clients no (or optional) there'
          : 'check that Redis runs there and that the address and credentials are right'),
    },
  );
}

/** A command refused while the circuit breaker keeps a lost connection open (see RedisConnection). */
export function connectionLostError(store: StoreLabel, what: string, lost: string): CertRenewError {
  return new CertRenewError(
    ErrorCode.storeUnavailable,
    `redis store "${store.name}" (${store.address}): cannot ${what}: ${lost}`,
    { transient: true, hint: 'check that Redis runs and is reachable; the next run retries' },
  );
}

/**
 * A failed command. `lost` is set when the failure means the connection was lost (the caller then fails
 * further commands fast until ioredis is ready again); `lastConnectionError` is what ioredis last reported.
 */
export function commandError(
  store: StoreLabel,
  what: string,
  access: Access,
  error: unknown,
  lastConnectionError: string | undefined,
): { error: CertRenewError; lost?: string } {
  if (error instanceof CertRenewError) return { error };
  const prefix = `redis store "${store.name}" (${store.address}): cannot ${what}`;
  error = queuedError(error);
  const message = describeError(error);
  if (error instanceof ReplyError || (error instanceof Error && error.name === 'ReplyError')) {
    if (AUTH_FAILURE.test(message)) {
      // An ACL that refuses one command says which (`… run the 'scan' command`): the rule to add.
      const command = /run the '([^'|]+)/.exec(message)?.[1];
      return {
        error: new CertRenewError(ErrorCode.storeUnavailable, `${prefix}: ${message}`, {
          cause: error,
          hint: command
            ? `add +${command} to the user's ACL (run --dry-run checks what a run needs)`
            : "check the store's username, password and ACL permissions",
        }),
      };
    }
    const hint = replyHint(message);
    return {
      error: new CertRenewError(
        access === 'write' ? ErrorCode.storeWrite : ErrorCode.storeUnavailable,
        `${prefix}: ${message}`,
        { cause: error, transient: TRANSIENT_REPLY.test(message), ...(hint ? { hint } : {}) },
      ),
    };
  }
  const lost = CONNECTION_LOST.test(message);
  const detail = lost
    ? `connection lost${lastConnectionError ? ` (${lastConnectionError})` : ` (${message})`}`
    : message;
  return {
    error: new CertRenewError(ErrorCode.storeUnavailable, `${prefix}: ${detail}`, {
      cause: error,
      transient: true,
      hint: 'check that Redis runs and is reachable; the next run retries',
    }),
    ...(lost ? { lost: detail } : {}),
  };
}

/** What to do about a Redis error reply, where the reply alone does not say. */
function replyHint(message: string): string | undefined {
  if (message.startsWith('READONLY')) {
    return "this Redis is a read-only replica: point the store's url at the master, or use `sentinel` to follow the master";
  }
  // A Cluster node given as a plain `url`: keys of other slots are refused or redirected.
  if (/^(CROSSSLOT|MOVED|ASK) /.test(message)) {
    return 'this Redis is a Cluster node: give the store `cluster` with its nodes instead of `url`';
  }
  return undefined;
}

/**
 * A MULTI/EXEC whose commands Redis refused while queueing them (NOPERM, READONLY, OOM …) fails with
 * `EXECABORT Transaction discarded because of previous errors.`; ioredis keeps the refusals in
 * `previousErrors`. The first of them says why; EXECABORT alone does not.
 */
function queuedError(error: unknown): unknown {
  const previous = (error as { previousErrors?: unknown } | null)?.previousErrors;
  return Array.isArray(previous) && previous[0] instanceof Error ? previous[0] : error;
}
