/**
 * The per-certificate pipeline: lock → gather again and re-check (another host may have renewed it) →
 * key + CSR → issue → verify → store atomically → unlock. Throws CertRenewError; the caller records it.
 */
import type { KeyObject } from 'node:crypto';
import {
  CertRenewError,
  describeError,
  ErrorCode,
  IssuerVerdict,
  StoppedAtDeadline,
  toCertRenewError,
} from '../errors.js';
import type { SuggestedWindow } from '../issuers/types.js';
import type { KeyType, ResolvedCertificate } from '../manifest/types.js';
import { decide } from '../policy/decide.js';
import type { Clock } from '../runtime/clock.js';
import type { Logger } from '../runtime/logger.js';
import type { Session } from '../runtime/session.js';
import {
  type AttemptInfo,
  hasRevocationLog,
  type LoadResult,
  type Lock,
  type Locker,
  type LockHolder,
  type RevocationRecord,
  type Store,
  type StoredCertificate,
  type StoredMeta,
} from '../stores/types.js';
import { formatDuration, timerMs } from '../util/duration.js';
import {
  createCsr,
  inspectCertificate,
  keyMatchesCertificate,
  newPrivateKey,
  sameSerial,
} from '../x509/index.js';
import { verifyIssued } from './verify.js';

export interface RenewOptions {
  clock: Clock;
  logger: Logger;
  runIntervalMs: number;
  force: boolean;
  /** When this run started: with --force, a certificate issued after it was renewed by another host. */
  runStartedAt: Date;
  /** How long to wait for another host's lock on the same certificate. */
  lockWaitMs: number;
  /** The whole pipeline for one certificate must finish within this. */
  deadlineMs: number;
  /** Aborted when the run is interrupted. */
  interrupt?: AbortSignal;
  /** The ARI window gathered for the stored certificate (valid while its fingerprint is unchanged). */
  ari?: SuggestedWindow;
  /** Fingerprint seen at gather time, to tell "renewed elsewhere" from "was fine all along". */
  gatheredFingerprint: string | undefined;
  /** The gathered certificate is revoked (plan/revocations.ts); valid while its fingerprint is unchanged. */
  revoked?: { reason: string; revokedAt: string };
}

/**
 * A certificate's failure that the store could not record (so `status` cannot see it): `failure` is the
 * failure itself (rethrown as this, with its code and message), `notRecorded` why the record failed.
 */
export class AttemptNotRecorded extends CertRenewError {
  readonly failure: CertRenewError;
  readonly notRecorded: string;
  constructor(failure: CertRenewError, notRecorded: string) {
    super(failure.code, failure.message, {
      ...(failure.hint === undefined ? {} : { hint: failure.hint }),
      transient: failure.transient,
      cause: failure,
    });
    this.name = 'AttemptNotRecorded';
    this.failure = failure;
    this.notRecorded = notRecorded;
  }
}

export type RenewOutcome =
  | { kind: 'renewed'; meta: StoredMeta; previous: StoredMeta | undefined }
  | { kind: 'renewed-elsewhere' | 'fresh'; meta: StoredMeta | undefined; message: string };

function usableCurrent(loaded: LoadResult): StoredCertificate | undefined {
  if (loaded.state !== 'present') return undefined;
  return keyMatchesCertificate(loaded.cert.keyPem, loaded.cert.certPem) ? loaded.cert : undefined;
}

/**
 * The key type to issue with: the manifest's when it names one; otherwise the stored certificate's (an
 * RSA certificate copied from certbot stays RSA), or the default for a new one.
 */
export function keyTypeFor(entry: ResolvedCertificate, loaded: LoadResult): KeyType {
  if (!entry.keyTypeIsDefault || loaded.state !== 'present') return entry.keyType;
  try {
    const stored = inspectCertificate(loaded.cert.certPem).keyType;
    return stored === 'other' ? entry.keyType : stored;
  } catch {
    return entry.keyType; // unreadable certificate: the default
  }
}

/** The stored key (PEM) when it is reused, or a new one (PEM and parsed, so the CSR needs no parse). */
async function chooseKey(
  keyType: KeyType,
  reuse: boolean,
  current: StoredCertificate | undefined,
): Promise<{ keyPem: string; key?: KeyObject }> {
  if (reuse && current) {
    try {
      if (inspectCertificate(current.certPem).keyType === keyType) return { keyPem: current.keyPem };
    } catch {
      // unreadable certificate: a new key
    }
  }
  return newPrivateKey(keyType);
}

/**
 * Whether the stored certificate was revoked, and why: the store's revocation log (under the lock, so it is
 * current) or what gather found. Undefined when it was not, or when the log cannot be read.
 */
async function revocationOf(
  store: Store,
  name: string,
  current: StoredCertificate | undefined,
  options: RenewOptions,
): Promise<string | undefined> {
  if (!current) return undefined;
  const fingerprint = current.meta?.fingerprint;
  if (options.revoked && fingerprint !== undefined && fingerprint === options.gatheredFingerprint) {
    return options.revoked.reason;
  }
  if (!hasRevocationLog(store)) return undefined;
  let serial: string;
  try {
    serial = (current.meta?.serial ?? inspectCertificate(current.certPem).serial).toUpperCase();
  } catch {
    return undefined;
  }
  const log = (await store.revocations([name]).catch(() => new Map())).get(name) ?? [];
  return (log as RevocationRecord[]).find((r) => sameSerial(r.serial, serial))?.reason;
}

/**
 * Records `failure` as the certificate's last failed attempt (one more than `previous`), and returns what
 * the caller throws: `failure` itself, or an AttemptNotRecorded when the store cannot record it (`status`
 * reads failures from the store: the run's error line then says so, execute/run.ts, and the report and
 * the metrics carry it).
 */
async function recordFailure(
  store: Store,
  name: string,
  failure: CertRenewError,
  previous: AttemptInfo | undefined,
  clock: Clock,
): Promise<CertRenewError> {
  const now = clock.now();
  const attempt: AttemptInfo = {
    lastAttempt: now.toISOString(),
    failureCount: (previous?.failureCount ?? 0) + 1,
    lastErrorCode: failure.code,
    lastError: failure.oneLine,
  };
  // The CA's Retry-After is a lower bound for the next request (kept across runs).
  if (failure.retryAfter !== undefined && failure.retryAfter > 0) {
    attempt.retryAfter = new Date(now.getTime() + failure.retryAfter * 1000).toISOString();
  }
  try {
    await store.recordAttempt(name, attempt);
  } catch (recordError) {
    return new AttemptNotRecorded(failure, describeError(recordError));
  }
  return failure;
}

/**
 * A lock that could not be taken because its store failed (the lock directory not writable, Redis not
 * reachable): recorded like any failure, without the lock (none can be had), when the certificate's store
 * can still record it; else an AttemptNotRecorded. docs/operations.md "unrecorded failures".
 */
async function recordLockFailure(
  session: Session,
  entry: ResolvedCertificate,
  failure: CertRenewError,
  clock: Clock,
): Promise<CertRenewError> {
  let store: Store;
  let loaded: LoadResult;
  try {
    store = await session.store(entry.storeName);
    loaded = await store.load(entry.name);
  } catch (error) {
    return new AttemptNotRecorded(failure, describeError(error));
  }
  return recordFailure(store, entry.name, failure, loaded.attempts, clock);
}

/** LOCK_BUSY after waiting `waitMs`, naming the holder and when its lock expires when the locker can tell. */
export function lockBusyError(name: string, holder: LockHolder | undefined, waitMs: number): CertRenewError {
  let who = '';
  if (holder) {
    const expires = holder.expiresAt
      ? `, its lock expires at ${holder.expiresAt.toISOString()} unless that process extends it`
      : '';
    who = ` (${holder.owner}${expires})`;
  }
  return new CertRenewError(ErrorCode.lockBusy, `${name}: another cert-renew holds its lock${who}`, {
    hint: `it did not finish within ${formatDuration(waitMs)}; the next run tries again`,
    transient: true,
  });
}

/**
 * LOCK_BUSY for a lock found lost right before saving: it expired or vanished (and maybe another process
 * took it).
 */
async function lostLockError(name: string, lock: Lock): Promise<CertRenewError> {
  const loss = (await lock.lostHow?.().catch(() => undefined)) ?? { kind: 'expired' as const };
  const taken = loss.kind === 'taken' ? `, and ${loss.by} holds it now` : '';
  if (loss.kind === 'vanished' || (loss.kind === 'taken' && loss.early)) {
    // Gone long before lockTimeout: raising it would not help.
    return new CertRenewError(
      ErrorCode.lockBusy,
      `${name}: the lock disappeared while the certificate was issued, well before lockTimeout (deleted, or lost in a store failover)${taken}; nothing was stored`,
      { hint: 'the next run checks again', transient: true },
    );
  }
  return new CertRenewError(
    ErrorCode.lockBusy,
    `${name}: the lock expired while the certificate was issued${taken}; nothing was stored`,
    {
      hint: "raise lockTimeout or check the store's latency; the next run checks again",
      transient: true,
    },
  );
}

/**
 * At the deadline, a step that said what it was doing (a dns-01 propagation delay or check, a provider
 * still writing its record: StoppedAtDeadline) gives the ISSUER_TIMEOUT line its step and its hint —
 * which setting to change, and no "the next run tries again" when the settings cannot fit in the
 * deadline. Undefined when the deadline did not stop the run (an interruption) or no step explained it.
 */
function deadlineStep(
  entry: ResolvedCertificate,
  error: unknown,
  deadline: AbortSignal,
  options: RenewOptions,
): CertRenewError | undefined {
  if (!deadline.aborted || options.interrupt?.aborted) return undefined;
  const stopped = StoppedAtDeadline.within(error);
  if (!stopped) return undefined;
  const text = formatDuration(options.deadlineMs);
  const { hint, transient } = stopped.explain({ ms: options.deadlineMs, text });
  return new CertRenewError(
    ErrorCode.issuerTimeout,
    `${entry.name}: gave up after ${text} in ${stopped.step}`,
    {
      hint,
      transient,
      cause: error,
    },
  );
}

export async function renewOne(
  session: Session,
  entry: ResolvedCertificate,
  options: RenewOptions,
): Promise<RenewOutcome> {
  const { clock, logger } = options;
  const controller = new AbortController();
  const deadline = setTimeout(() => {
    controller.abort(
      new CertRenewError(
        ErrorCode.issuerTimeout,
        `${entry.name}: gave up after ${formatDuration(options.deadlineMs)}`,
        {
          hint: 'the issuer or store is too slow; the next run tries again',
          transient: true,
        },
      ),
    );
  }, timerMs(options.deadlineMs));
  deadline.unref();
  const signal = options.interrupt
    ? AbortSignal.any([controller.signal, options.interrupt])
    : controller.signal;

  let lock: Lock | undefined;
  let locker: Locker | undefined;
  try {
    locker = await session.locker(entry);
    lock = await locker.acquire(entry.name, { waitMs: options.lockWaitMs, signal });
  } catch (error) {
    clearTimeout(deadline);
    // Interrupted (or out of time) while waiting: say so, not how the locker noticed.
    if (signal.aborted) throw signal.reason instanceof CertRenewError ? signal.reason : error;
    // The store failed (not another holder): a failure like any other, recorded if the store still can.
    throw await recordLockFailure(session, entry, toCertRenewError(error, ErrorCode.storeUnavailable), clock);
  }
  if (!lock) {
    clearTimeout(deadline);
    throw lockBusyError(entry.name, await locker.holder?.(entry.name), options.lockWaitMs);
  }
  const store = await session.store(entry.storeName);
  let loaded: LoadResult | undefined;
  try {
    loaded = await store.load(entry.name);
    // What this host must not replace (another host's encryption key): never issued over.
    if (loaded.state === 'error') throw loaded.failure;
    const now = clock.now();
    // Check again under the lock: another host may have renewed it while we waited.
    if (loaded.state === 'present') {
      const meta = loaded.cert.meta;
      const fingerprint = meta?.fingerprint;
      const changed = fingerprint !== undefined && fingerprint !== options.gatheredFingerprint;
      if (options.force) {
        const issuedAt = meta ? new Date(meta.issuedAt) : undefined;
        if (changed && issuedAt && issuedAt >= options.runStartedAt) {
          return {
            kind: 'renewed-elsewhere',
            meta,
            message: 'renewed by another cert-renew during this run',
          };
        }
      } else {
        const again = decide({
          entry,
          stored: loaded,
          now,
          runIntervalMs: options.runIntervalMs,
          force: false,
          ...(options.ari && !changed ? { ari: options.ari } : {}),
          ...(options.revoked && !changed ? { revoked: options.revoked } : {}),
        });
        if (!again.renew) {
          if (loaded.attempts && !loaded.attempts.hooksPending) {
            await store.recordAttempt(entry.name, undefined).catch(() => {});
          }
          return changed
            ? { kind: 'renewed-elsewhere', meta, message: 'renewed by another cert-renew during this run' }
            : { kind: 'fresh', meta, message: again.message };
        }
      }
    }

    const issuer = await session.issuer(entry.issuerName);
    const usable = usableCurrent(loaded);
    // A revoked certificate is not renewed from (step-ca refuses it over mTLS, ACME `replaces` is moot),
    // and a key revoked for keyCompromise is never used again, whatever reuseKey says.
    const revocation = await revocationOf(store, entry.name, usable, options);
    const current = revocation ? undefined : usable;
    const keyType = keyTypeFor(entry, loaded);
    const reuse = (entry.reuseKey ?? issuer.defaultReuseKey) && revocation !== 'keyCompromise';
    const { keyPem, key } = await chooseKey(keyType, reuse, revocation ? usable : current);
    const csrPem = await createCsr(key ?? keyPem, entry.domains);
    signal.throwIfAborted();
    // Phase boundaries extend the lock too, so a machine whose timers run late still keeps it.
    await lock.refresh?.();
    const issued = await issuer.issue({
      entry,
      keyPem,
      csrPem,
      current,
      store,
      now: clock.now(),
      signal,
      logger,
    });
    signal.throwIfAborted();
    await lock.refresh?.();
    const anchors = issuer.trustAnchors ? await issuer.trustAnchors(store) : undefined;
    const bundle = { certPem: issued.certPem, chainPem: issued.chainPem, keyPem };
    const info = verifyIssued(entry, bundle, clock.now(), anchors);
    const meta: StoredMeta = {
      name: entry.name,
      domains: entry.domains,
      issuer: entry.issuerName,
      keyType,
      notBefore: info.notBefore.toISOString(),
      notAfter: info.notAfter.toISOString(),
      fingerprint: info.fingerprint256,
      serial: info.serial,
      issuedAt: clock.now().toISOString(),
      via: issued.via,
    };
    // A lock can be lost during a long order (taken over as stale after a network partition): then
    // another host may be writing, and what we issued is dropped rather than stored over theirs.
    if (!(await lock.stillHeld())) throw await lostLockError(entry.name, lock);
    await store.save(entry.name, bundle, meta, { announce: true });
    // Cleared whether or not one was read: a record that could not be used (not JSON, edited by hand) reads
    // as none, and would otherwise outlive every success (said again by every later read).
    await store.recordAttempt(entry.name, undefined).catch((error: unknown) => {
      logger.warn(`${entry.name}: could not clear the failure record: ${describeError(error)}`);
    });
    return { kind: 'renewed', meta, previous: current?.meta };
  } catch (error) {
    // At the deadline an issuer throws the transient error it was retrying ("cannot reach …"): that says
    // more than "gave up after 10m". An interruption is still reported as one, unless the CA had given its
    // verdict before it (a failed validation, then the signal during the dns-01 cleanup): that stands.
    const own = error instanceof CertRenewError && error.code !== ErrorCode.issuerTimeout;
    const verdict = IssuerVerdict.within(error) !== undefined;
    const reason =
      signal.aborted &&
      signal.reason instanceof CertRenewError &&
      (!own || (options.interrupt?.aborted && !verdict))
        ? (deadlineStep(entry, error, controller.signal, options) ?? signal.reason)
        : error;
    const wrapped = toCertRenewError(reason, ErrorCode.internal);
    if (options.interrupt?.aborted && !verdict) {
      // An interrupted run is not a failed attempt: the next run continues without backing off.
      throw wrapped;
    }
    throw await recordFailure(store, entry.name, wrapped, loaded?.attempts, clock);
  } finally {
    clearTimeout(deadline);
    await lock.release().catch((error: unknown) => {
      logger.warn(`${entry.name}: could not release the lock: ${describeError(error)}`);
    });
  }
}
