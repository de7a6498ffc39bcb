/**
 * `cert-renew revoke`, the act: for one certificate, lock → load → revoke at the issuer (the issuer's
 * `Revoker` ability, checked at runtime) → record the revocation in the store → unlock. Renewing afterwards
 * is an ordinary forced run of the same certificates (commands/revoke.ts): the plan then sees reason
 * `revoked`, and execute/renew.ts never reuses a key revoked for keyCompromise.
 */
import {
  AlreadyRevokedError,
  CertRenewError,
  describeError,
  ErrorCode,
  toCertRenewError,
} from '../errors.js';
import { isRevoker } from '../issuers/types.js';
import type { RevokeLine } from '../report/lifecycle.js';
import type { Clock } from '../runtime/clock.js';
import type { Logger } from '../runtime/logger.js';
import type { Session } from '../runtime/session.js';
import { hasRevocationLog, type Lock, type RevocationRecord, type Store } from '../stores/types.js';
import { formatDuration, timerMs } from '../util/duration.js';
import { inspectCertificate, sameSerial } from '../x509/inspect.js';
import type { RevocationReason } from '../x509/revocation.js';

export interface RevokeOptions {
  reason: RevocationReason;
  lockWaitMs: number;
  /** The whole revocation of one certificate must finish within this, ms. */
  deadlineMs: number;
  clock: Clock;
  logger: Logger;
  interrupt?: AbortSignal;
  /** The issuer to use when the stored metadata names none that the manifest has. */
  fallbackIssuer?: string;
}

/** Takes the certificate's lock in `store`, runs `act` while holding it, releases it. Throws LOCK_BUSY. */
export async function withCertificateLock<T>(
  store: Store,
  name: string,
  options: { lockWaitMs: number; signal?: AbortSignal; logger: Logger },
  act: (lock: Lock) => Promise<T>,
): Promise<T> {
  const lock = await store.locker().acquire(name, {
    waitMs: options.lockWaitMs,
    ...(options.signal ? { signal: options.signal } : {}),
  });
  if (!lock) {
    throw new CertRenewError(ErrorCode.lockBusy, `${name}: another cert-renew holds its lock`, {
      hint: `it did not finish within ${formatDuration(options.lockWaitMs)}; try again later`,
      transient: true,
    });
  }
  try {
    return await act(lock);
  } finally {
    await lock.release().catch((error: unknown) => {
      options.logger.warn(`${name}: could not release the lock: ${describeError(error)}`);
    });
  }
}

/**
 * Revokes what `store` holds under `name` at its issuer and records it. Never throws for a store, issuer
 * or lock failure: the line says `failed` with the error code. The caller holds no lock; this takes it,
 * unless `held` says the caller already does (prune).
 */
export async function revokeStored(
  session: Pick<Session, 'issuer' | 'loaded'>,
  store: Store,
  name: string,
  options: RevokeOptions,
  held = false,
): Promise<RevokeLine> {
  const line: RevokeLine = { name, store: store.name, outcome: 'failed', reason: options.reason };
  const controller = new AbortController();
  const deadline = setTimeout(
    () =>
      controller.abort(
        new CertRenewError(
          ErrorCode.issuerTimeout,
          `${name}: gave up after ${formatDuration(options.deadlineMs)}`,
        ),
      ),
    timerMs(options.deadlineMs),
  );
  deadline.unref();
  const signal = options.interrupt
    ? AbortSignal.any([controller.signal, options.interrupt])
    : controller.signal;
  const act = async (lock: Lock | undefined) => {
    const loaded = await store.load(name);
    if (loaded.state === 'error') throw loaded.failure;
    if (loaded.state !== 'present') {
      throw new CertRenewError(
        ErrorCode.notFound,
        `${name}: store '${store.name}' holds no usable certificate to revoke`,
        {
          hint: loaded.state === 'unreadable' ? loaded.error : 'nothing to revoke',
        },
      );
    }
    const cert = loaded.cert;
    const info = inspectCertificate(cert.certPem);
    line.serial = info.serial;
    line.notAfter = info.notAfter.toISOString();
    const issuers = session.loaded.manifest.issuers;
    const issuerName =
      cert.meta?.issuer && Object.hasOwn(issuers, cert.meta.issuer)
        ? cert.meta.issuer
        : options.fallbackIssuer;
    if (!issuerName) {
      throw new CertRenewError(
        ErrorCode.usage,
        `${name}: its issuer '${cert.meta?.issuer ?? '?'}' is not in the manifest, so it cannot be revoked`,
        { hint: 'add the issuer back to the manifest, or prune without --revoke' },
      );
    }
    line.issuer = issuerName;
    const issuer = await session.issuer(issuerName);
    if (!isRevoker(issuer)) {
      throw new CertRenewError(
        ErrorCode.issuerRejected,
        `${name}: issuer '${issuerName}' cannot revoke certificates`,
      );
    }
    const now = options.clock.now();
    let done: { via: string };
    try {
      done = await issuer.revoke({
        name,
        cert,
        reason: options.reason,
        store,
        now,
        signal,
        logger: options.logger,
      });
    } catch (error) {
      // Revoked before (elsewhere, by another tool, or a record this store lost): out of service all the
      // same, so it is recorded and replaced as if revoked now, with the reason given (keyCompromise then
      // still means a new key).
      if (!(error instanceof AlreadyRevokedError)) throw error;
      const recorded = hasRevocationLog(store)
        ? (await store.revocations([name])).get(name)?.find((r) => sameSerial(r.serial, info.serial))
        : undefined;
      if (recorded) {
        // Revoked and recorded before: the record stands (its reason decides the key of the replacement).
        throw new AlreadyRevokedError(error.message, {
          cause: error,
          hint: `recorded as revoked (${recorded.reason}) at ${recorded.revokedAt}; cert-renew plan shows it due, and the next run replaces it (now: cert-renew run --only ${name})`,
        });
      }
      options.logger.warn(`${error.message}; recording it and replacing the certificate`);
      done = { via: `already revoked at ${issuerName}` };
    }
    line.via = done.via;
    line.revokedAt = options.clock.now().toISOString();
    line.outcome = 'revoked';
    options.logger.info(`${name}: revoked serial ${info.serial} (${options.reason}) via ${done.via}`);
    if (hasRevocationLog(store)) {
      const record: RevocationRecord = {
        serial: info.serial,
        fingerprint: info.fingerprint256,
        notAfter: line.notAfter,
        reason: options.reason,
        revokedAt: line.revokedAt,
        issuer: issuerName,
        via: done.via,
      };
      if (lock && !(await lock.stillHeld())) {
        options.logger.warn(`${name}: lost its lock; the revocation is recorded anyway (it happened)`);
      }
      await store.recordRevocation(name, record);
    }
  };
  try {
    if (held) await act(undefined);
    else
      await withCertificateLock(
        store,
        name,
        { lockWaitMs: options.lockWaitMs, signal, logger: options.logger },
        act,
      );
  } catch (error) {
    const reason = signal.aborted && signal.reason instanceof CertRenewError ? signal.reason : error;
    const wrapped = toCertRenewError(reason, ErrorCode.internal);
    if (line.outcome === 'revoked') {
      // Revoked at the CA, but the store could not record it: say so, the certificate is revoked anyway.
      line.error = {
        code: wrapped.code,
        message: `revoked, but not recorded in the store: ${wrapped.oneLine}`,
      };
      options.logger.error(`${name}: ${line.error.message}`);
    } else {
      line.error = { code: wrapped.code, message: wrapped.oneLine };
      const named =
        wrapped.oneLine.startsWith(`${name}: `) || wrapped.oneLine.startsWith(`certificate ${name}: `);
      options.logger.error(named ? wrapped.oneLine : `${name}: ${wrapped.oneLine}`);
    }
  } finally {
    clearTimeout(deadline);
  }
  return line;
}
