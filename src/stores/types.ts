import { CertRenewError, type ErrorCode } from '../errors.js';
import type { KeyType } from '../manifest/types.js';
import type { RevocationReason } from '../x509/revocation.js';

/** What an issuer hands back plus the key it was issued for. PEM text throughout. */
export interface CertificateBundle {
  /** The leaf certificate. */
  certPem: string;
  /** The intermediates (may be empty for a CA that signs directly). */
  chainPem: string;
  keyPem: string;
}

/** What a store records beside the PEMs (filesystem: meta.json; Redis: fields of `cert:{name}`). */
export interface StoredMeta {
  name: string;
  domains: string[];
  issuer: string;
  keyType: KeyType;
  notBefore: string;
  notAfter: string;
  /** SHA-256 of the leaf, hex upper case with colons (as node:crypto prints it). */
  fingerprint: string;
  serial: string;
  issuedAt: string;
  /** How it was obtained ("local-ca", "acme order", "step-ca renew", …). */
  via?: string;
}

/** Kept apart from the certificate so a failed attempt never touches it. */
export interface AttemptInfo {
  lastAttempt: string;
  failureCount: number;
  lastErrorCode?: ErrorCode;
  lastError?: string;
  /**
   * ISO 8601: the CA asked not to be asked again before this (an ACME rate limit's Retry-After); backoff
   * holds the certificate back at least until then.
   */
  retryAfter?: string;
  /**
   * The stored certificate is new but its post-renew hooks have not succeeded yet (they failed, or the run
   * was interrupted): the next run runs them again, and `status` warns until they do.
   */
  hooksPending?: boolean;
}

export interface StoredCertificate extends CertificateBundle {
  meta: StoredMeta | undefined;
}

/**
 * What a store holds for one certificate name. Reading never guesses:
 * - `missing`: nothing is stored under the name (a first issuance is due);
 * - `unreadable`: something is there but cannot be used as it is (a file of the set missing, no PEM block,
 *   metadata not JSON, a key that does not decrypt, a filesystem error on one file); `error` says what and
 *   where in one line. The certificate is renewed; the store never "repairs" it on read;
 * - `present`: a complete, consistent set (the key belongs to the set it was saved with; the caller still
 *   checks that it matches the certificate).
 * - `error`: something is there that this host must neither use nor replace, because its configuration
 *   differs from the one that wrote it (a Redis value sealed under the configured encryption keyId with
 *   another key: another host's). `failure` is the one-line CertRenewError; the certificate is an error in
 *   the plan (never renewed over it) until the configuration is fixed.
 * `attempts` is the last failed attempt (advisory: an unreadable one reads as none), in any state.
 * `replaced`: the files a reader gets are not the stored version (see ReplacedFiles); `cert` is those files.
 */
export type LoadResult =
  | { state: 'missing'; attempts?: AttemptInfo }
  | { state: 'unreadable'; error: string; attempts?: AttemptInfo }
  | { state: 'error'; failure: CertRenewError; attempts?: AttemptInfo }
  | { state: 'present'; cert: StoredCertificate; attempts?: AttemptInfo; replaced?: ReplacedFiles };

/**
 * A filesystem store whose stable names (`fullchain.pem` …) are no longer the links it made: `cert` is then
 * what a reader of those names gets, `files` the names replaced, `note` one line saying so.
 */
export interface ReplacedFiles {
  files: string[];
  note: string;
}

/** Where a filesystem store puts a certificate's files (hooks get them in their environment). */
export interface CertificatePaths {
  dir: string;
  cert: string;
  chain: string;
  fullchain: string;
  privkey: string;
}

/**
 * The shortest `lockTimeout` a store accepts: a lock must outlive one issuance on a busy machine (a slow
 * CA, RSA key generation on a loaded host, a blocked event loop delaying the extension timer). Shorter
 * values are refused by `validate` and by the store.
 */
export const MIN_LOCK_TIMEOUT_MS = 10_000;

/**
 * A held per-certificate lock. Holding it does not freeze the world: it can be lost while held (a Redis
 * key that expired during a network partition, a lock file taken over as stale after `lockTimeout`).
 */
export interface Lock {
  readonly name: string;
  /**
   * Whether we still own it, asked of the store (not remembered). A caller asks right before each write
   * that must not race another holder (save, rollback): a long order may have outlived the lock, and then
   * what was issued is dropped rather than stored over another host's certificate.
   */
  stillHeld(): Promise<boolean>;
  /**
   * Extends the lock now (a Redis compare-and-PEXPIRE, a lock file rewrite), on top of the holder's own
   * timer: callers call it at every phase boundary (before and after issuing), so a busy machine whose
   * timers run late still extends it. Never throws; a lost lock shows in `stillHeld()`.
   */
  refresh?(): Promise<void>;
  /**
   * Why the lock is no longer ours, asked once `stillHeld()` said so: `expired` when it ran out and nobody
   * else holds it (the Redis key is gone; the lock file is gone), `vanished` when the key went while it still
   * had time left (Redis: deleted, or lost in a failover), `taken` when another process holds it now
   * (`by`: its `host:pid`; it took the lock once ours had expired, gone stale or vanished). Never throws:
   * `expired` when the store cannot be asked.
   */
  lostHow?(): Promise<LockLoss>;
  /**
   * Releases only if we still own it (compare-and-delete). Idempotent; never throws for a lost lock. A
   * lock that cannot be released (the store is unreachable, the lock directory not writable) is warned
   * about, naming the lock, and stays until it expires.
   */
  release(): Promise<void>;
}

/**
 * How a held lock was lost (`Lock.lostHow`). `vanished`: gone while it still had time left (deleted, or
 * lost in a Redis failover), not expired; `taken` with `early`: another process took it after that.
 */
export type LockLoss =
  | { kind: 'expired' }
  | { kind: 'vanished' }
  | { kind: 'taken'; by: string; early?: boolean };

/** Who holds a lock that could not be taken (`Locker.holder`), for LOCK_BUSY and `-v` lines. */
export interface LockHolder {
  /** `host:pid` of the holding process, or what the lock holds when it names no process. */
  owner: string;
  /**
   * When the lock expires unless its holder extends it (Redis: its TTL; a lock file: its mtime plus
   * `lockTimeout`, by the file server's clock). Absent when it has no expiry.
   */
  expiresAt?: Date;
}

export interface AcquireOptions {
  /** How long to wait for another holder before giving up (the caller then reports LOCK_BUSY). */
  waitMs: number;
  /** Aborting stops the wait: `acquire` rejects (it never resolves with a lock after an abort). */
  signal?: AbortSignal;
}

/**
 * Mutual exclusion per certificate name between processes and hosts that share a store (certmagic's
 * Locker). The contract for a caller, after `acquire` resolves with a lock:
 * 1. load the certificate again and re-decide: what was gathered before the lock is stale — another host
 *    may have renewed it (or recorded a failure) while this one waited;
 * 2. act (issue, verify);
 * 3. check `lock.stillHeld()` immediately before writing; if false, write nothing;
 * 4. `release()` in a `finally`.
 * Locks expire by themselves when their holder dies (Redis: PX ttl; filesystem: a stale lock file), so a
 * crashed run never blocks the next one for longer than the lock timeout.
 */
export interface Locker {
  /**
   * Resolves with the lock, or `undefined` when another holder kept it for all of `waitMs`. Rejects with
   * STORE_UNAVAILABLE when the store cannot be reached, and when the wait was aborted (filesystem:
   * LOCK_BUSY; Redis: the signal's abort reason).
   */
  acquire(name: string, options: AcquireOptions): Promise<Lock | undefined>;
  /**
   * Who holds the lock of `name` now (undefined when nobody does or the store cannot be asked; never
   * throws): for the LOCK_BUSY message after `acquire` resolved `undefined`.
   */
  holder?(name: string): Promise<LockHolder | undefined>;
}

export interface RollbackOptions {
  /** Whether a previous version may be restored (e.g. it is valid now). */
  usable?: (previous: StoredCertificate) => boolean;
}

export interface SaveOptions {
  /** Extra information the store may publish (Redis announcements). */
  announce?: boolean;
}

/**
 * Where certificates live (certmagic's Storage). Names are certificate names the manifest validated; a
 * name that is not a safe file name is a UsageError. Every failure is a CertRenewError with a stable code
 * (STORE_UNAVAILABLE for reading/reaching, STORE_WRITE_FAILED for writing), one line naming the store, and
 * `transient` set when a retry may help; never a raw errno or ioredis error.
 *
 * Cancellation: no method takes a signal. Each is bounded (Redis: a per-operation timeout; filesystem:
 * system calls) and is left to finish once started, because stopping a write half-way is exactly what the
 * atomicity rules below exist to make harmless; callers check their signal between calls.
 *
 * Atomicity: `save` and `rollback` switch the whole set (certificate, chain, key, metadata) at once; a reader
 * (another process, a web server) sees the complete old set or the complete new set, and a crash at any
 * point leaves the previous set readable. Writes are not serialised by the store: callers hold the
 * certificate's lock (`locker()`) around save/rollback/recordAttempt.
 */
export interface Store {
  readonly name: string;
  readonly type: 'filesystem' | 'redis';
  /**
   * Reads one certificate. Resolves `missing`/`unreadable`/`present` for anything found (or not) under the
   * name — a damaged certificate is data, not an exception. Rejects only when the store itself cannot be
   * asked (STORE_UNAVAILABLE: Redis unreachable) or the name is unsafe (UsageError): then nothing is known
   * about the certificate, and the caller must not treat it as missing.
   */
  load(name: string): Promise<LoadResult>;
  /**
   * `load` for many names (pipelined for Redis, concurrent on NFS); the map has every name asked for, in
   * the order asked. Rejects as `load` does, for the whole batch.
   */
  loadMany(names: readonly string[]): Promise<Map<string, LoadResult>>;
  /**
   * Writes a new version atomically (see the interface): a reader sees the complete previous set or the
   * complete new set, never a mix. Keeps the previous `keep` versions for rollback. Rejects with
   * STORE_WRITE_FAILED (or STORE_UNAVAILABLE) and then leaves the previous set as it was.
   */
  save(name: string, bundle: CertificateBundle, meta: StoredMeta, options?: SaveOptions): Promise<void>;
  /**
   * Restores the previous version atomically, dropping the current one. With `options.usable`, only a
   * previous version it accepts is restored (the caller judges "valid now": not expired, not yet valid, key
   * matching). Resolves false when there is none (or none usable); then nothing changes.
   */
  rollback(name: string, options?: RollbackOptions): Promise<boolean>;
  /** Records (or, with `undefined`, clears) the last failed attempt, for backoff between runs. */
  recordAttempt(name: string, attempt: AttemptInfo | undefined): Promise<void>;
  /** Small named values that are not certificates: ACME account keys, the local CA (keys.ts names them). */
  getBlob(key: string): Promise<string | undefined>;
  /**
   * Where blob `key` is, as an operator restores or removes it: the file (filesystem), the key (Redis),
   * e.g. `the file /srv/certs/.cert-renew/blobs/local-ca/local`. For messages only.
   */
  blobLocation?(key: string): string;
  /**
   * Writes a blob atomically; with `ifAbsent`, only when there is none, and of two concurrent writers
   * exactly one wins (resolves false for the other).
   */
  putBlob(key: string, value: string, options?: { ifAbsent?: boolean }): Promise<boolean>;
  /** Filesystem paths for hooks; undefined for stores without files. */
  paths(name: string): CertificatePaths | undefined;
  /**
   * Dry run: proves the store is reachable and writable, leaving nothing behind (a probe written and
   * removed) and writing no certificate. Resolves a one-line description; rejects with STORE_UNAVAILABLE,
   * or StoreChecksFailed when several things a run does are refused (one error each).
   */
  checkWritable(): Promise<string>;
  /** The locker for this store's certificates (for a filesystem store with `locks`, the named store's). */
  locker(): Locker;
  /**
   * The command has read what it plans from this store (after the plan and its orphans): the store may write
   * what its reads learned and let go of it, before the report is built (a filesystem store's load cache,
   * docs/stores.md). Later reads still work, without it. Never throws.
   */
  readsDone?(): Promise<void>;
  /** Releases connections and timers; held locks are not released (they expire). Idempotent. */
  close(): Promise<void>;
}

/** Optional ability of stores that can answer http-01 challenges for proxies (Redis). */
export interface ChallengeStore {
  putChallenge(token: string, keyAuthorization: string, ttlMs: number): Promise<void>;
  deleteChallenge(token: string): Promise<void>;
}

export function isChallengeStore(store: Store): store is Store & ChallengeStore {
  return typeof (store as Partial<ChallengeStore>).putChallenge === 'function';
}

/**
 * One revocation of a certificate this store held, as `cert-renew revoke` recorded it (newest first in a
 * certificate's log). Serial as node:crypto prints it (hex, upper case).
 */
export interface RevocationRecord {
  serial: string;
  /** SHA-256 of the revoked leaf (as StoredMeta.fingerprint). */
  fingerprint: string;
  notAfter: string;
  /** RFC 5280 reason name. */
  reason: RevocationReason;
  /** ISO 8601, when the issuer accepted the revocation. */
  revokedAt: string;
  /** The issuer (manifest name) that revoked it, and how ("acme revokeCert", "step-ca revoke", "local-ca crl"). */
  issuer: string;
  via: string;
}

/**
 * Optional ability: a per-certificate revocation log (filesystem `<name>/revocations.json`, Redis
 * `revocations:{name}`). Kept beside the certificate, like the attempts, so a new version never loses it.
 */
export interface RevocationLog {
  /** Adds `record` in front of the log. Rejects with STORE_WRITE_FAILED / STORE_UNAVAILABLE. */
  recordRevocation(name: string, record: RevocationRecord): Promise<void>;
  /**
   * The logs of `names` (newest first; a certificate never revoked has an empty list, and so has an
   * unreadable log: it is advisory). Rejects with STORE_UNAVAILABLE when the store cannot be asked.
   */
  revocations(names: readonly string[]): Promise<Map<string, RevocationRecord[]>>;
}

export function hasRevocationLog(store: Store): store is Store & RevocationLog {
  return typeof (store as Partial<RevocationLog>).revocations === 'function';
}

/** What `retire` did with one certificate. */
export interface RetireResult {
  /** Where the certificate was kept (filesystem: the archive directory), when it was kept. */
  archivedTo?: string;
  /** What was removed (paths or keys), for the report. */
  removed: string[];
}

/**
 * Optional ability for `plan`/`status` orphans and `prune`: list every certificate name the store holds,
 * and retire one (filesystem: move `<name>/` into `.cert-renew/archive/`; Redis: delete the value, its
 * history, attempts, revocations and lock in one transaction). Callers hold the certificate's lock.
 */
export interface Inventory {
  /**
   * Every certificate name held, sorted, leaving out the names in `except` (which the store need not even
   * look at: the manifest's own names, so listing orphans costs little over thousands of certificates).
   * Rejects with STORE_UNAVAILABLE.
   */
  listNames(except?: ReadonlySet<string>): Promise<string[]>;
  /** Removes (archiving where the store can) one certificate. Rejects with STORE_WRITE_FAILED. */
  retire(name: string, now: Date): Promise<RetireResult>;
}

export function hasInventory(store: Store): store is Store & Inventory {
  return typeof (store as Partial<Inventory>).listNames === 'function';
}

/**
 * What one host last did with one certificate (docs/hooks.md "Deployment state"). A host has deployed a
 * version when its post-renew hooks succeeded for that fingerprint (and `verify`, when set, found it served).
 */
export interface HostDeployment {
  /** SHA-256 fingerprint (as StoredMeta.fingerprint) of the version this host last deployed. */
  fingerprint?: string;
  serial?: string;
  /** When it was deployed, ISO 8601. */
  deployedAt?: string;
  /** The notAfter of what it deployed, ISO 8601 (recorded since this field exists; older entries lack it). */
  notAfter?: string;
  /**
   * Hooks for this fingerprint were started (recorded before they run) and have not succeeded: a crash, a
   * failed or unstartable hook, a failed `verify`. `error`/`code` say why when it is known.
   */
  pending?: { fingerprint: string; since: string; code?: ErrorCode; error?: string };
}

/** Host id → what that host last deployed, for one certificate. */
export type Deployments = Record<string, HostDeployment>;

/** A host id: a safe file name and Redis hash field (hostname by default, `--host-id` or `deployment.hostId`). */
export const HOST_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/**
 * Optional ability of stores that keep deployment state per host (both stores: filesystem under
 * `.cert-renew/deployments/`, Redis `deployed:{name}` hashes; keys.ts names them). Each host writes only
 * its own entry, so hosts never race each other. Failures are CertRenewErrors (STORE_UNAVAILABLE reading,
 * STORE_WRITE_FAILED writing).
 */
export interface DeploymentStore {
  /** Every host's entry for each name asked for (an empty record when none); rejects as `loadMany`. */
  loadDeployments(names: readonly string[]): Promise<Map<string, Deployments>>;
  /** Replaces this host's entry for one certificate (atomically: readers see the old or the new entry). */
  recordDeployment(name: string, host: string, deployment: HostDeployment): Promise<void>;
  /**
   * Removes `host`'s entry for one certificate (a retired host, `prune --host`); resolves true when there
   * was one. Rejects with STORE_WRITE_FAILED.
   */
  forgetDeployment(name: string, host: string): Promise<boolean>;
}

export function isDeploymentStore(store: Store): store is Store & DeploymentStore {
  return typeof (store as Partial<DeploymentStore>).loadDeployments === 'function';
}

/**
 * `checkWritable` found several things a run does refused (a Redis ACL that allows some commands or keys
 * and not others): `refusals` has one one-line error each; the message is the first of them.
 */
export class StoreChecksFailed extends CertRenewError {
  constructor(readonly refusals: CertRenewError[]) {
    const first = refusals[0];
    super(first?.code ?? 'STORE_UNAVAILABLE', first?.message ?? 'store check failed', {
      ...(first?.hint ? { hint: first.hint } : {}),
    });
    this.name = 'StoreChecksFailed';
  }
}
