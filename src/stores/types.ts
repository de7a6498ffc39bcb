import type { KeyType } from '../manifest/types.js';

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
  lastErrorCode?: string;
  lastError?: string;
  /**
   * The stored certificate is new but its post-renew hooks have not succeeded yet (they failed, or the run
   * was interrupted): the next run runs them again, and `status` warns until they do.
   */
  hooksPending?: boolean;
}

export interface StoredCertificate extends CertificateBundle {
  meta: StoredMeta | undefined;
}

export type LoadResult =
  | { state: 'missing'; attempts?: AttemptInfo }
  | { state: 'unreadable'; error: string; attempts?: AttemptInfo }
  | { state: 'present'; cert: StoredCertificate; attempts?: AttemptInfo };

/** Where a filesystem store puts a certificate's files (hooks get them in their environment). */
export interface CertificatePaths {
  dir: string;
  cert: string;
  chain: string;
  fullchain: string;
  privkey: string;
}

export interface Lock {
  readonly name: string;
  /** Whether we still own it (checked right before a write; a long order may have outlived it). */
  stillHeld(): Promise<boolean>;
  /** Releases only if we still own it. Never throws for a lock already lost. */
  release(): Promise<void>;
}

export interface AcquireOptions {
  /** How long to wait for another holder before giving up (the caller then reports LOCK_BUSY). */
  waitMs: number;
  signal?: AbortSignal;
}

export interface Locker {
  /** Resolves with the lock, or `undefined` when another holder kept it for all of `waitMs`. */
  acquire(name: string, options: AcquireOptions): Promise<Lock | undefined>;
}

export interface SaveOptions {
  /** Extra information the store may publish (Redis announcements). */
  announce?: boolean;
}

export interface Store {
  readonly name: string;
  readonly type: 'filesystem' | 'redis';
  load(name: string): Promise<LoadResult>;
  /** Batched/concurrent load; stores that can pipeline do. */
  loadMany(names: readonly string[]): Promise<Map<string, LoadResult>>;
  /**
   * Writes a new version atomically: a reader sees the complete previous set or the complete new set,
   * never a mix. Keeps previous versions for rollback.
   */
  save(name: string, bundle: CertificateBundle, meta: StoredMeta, options?: SaveOptions): Promise<void>;
  /** Restores the previous version. Resolves false when there is none. */
  rollback(name: string): Promise<boolean>;
  /** Records (or, with `undefined`, clears) the last failed attempt, for backoff between runs. */
  recordAttempt(name: string, attempt: AttemptInfo | undefined): Promise<void>;
  /** Small named values that are not certificates: ACME account keys, the local CA. */
  getBlob(key: string): Promise<string | undefined>;
  /** Writes a blob; with `ifAbsent`, only when there is none (resolves false then). */
  putBlob(key: string, value: string, options?: { ifAbsent?: boolean }): Promise<boolean>;
  /** Filesystem paths for hooks; undefined for stores without files. */
  paths(name: string): CertificatePaths | undefined;
  /** Dry run: proves the store is reachable and writable without writing a certificate. */
  checkWritable(): Promise<string>;
  locker(): Locker;
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
