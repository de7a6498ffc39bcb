/**
 * The filesystem store, for local disks and NFS. Layout under the store's `path` (certbot-familiar names,
 * so existing NGINX configurations keep working; every path comes from keys.ts):
 *
 *   <path>/<name>/versions/<id>/{cert,chain,fullchain,privkey}.pem, meta.json [, combined.pem, cert.p12]
 *   <path>/<name>/current            → versions/<id>            (switched with one rename)
 *   <path>/<name>/cert.pem …         → current/cert.pem …       (stable names, `files` in the manifest)
 *   <path>/<name>/attempts.json        the last failed attempt (kept apart from the certificate)
 *   <path>/.cert-renew/locks/<name>.lock, <path>/.cert-renew/blobs/<key>
 *   <path>/.cert-renew/deployments/<name>/<host>.json   what each host last deployed (deployments.ts)
 *
 * The jobs live beside this file: config.ts (the manifest entry checked), read.ts (loading), render.ts (the
 * files of one version), versions.ts (save, publish, rollback, attempts), lock.ts (lock files), fs-util.ts
 * (durable writes, errno helpers).
 */
import { lstatSync } from 'node:fs';
import { access, constants, lstat, mkdir, rmdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { CertRenewError, ErrorCode } from '../../errors.js';
import type { FilesystemStoreConfig } from '../../manifest/types.js';
import type { RuntimeContext } from '../../runtime/context.js';
import { brokenLinkError, mkdirp } from '../../util/mkdirp.js';
import { INTERNAL_DIR } from '../keys.js';
import type {
  AttemptInfo,
  CertificateBundle,
  CertificatePaths,
  DeploymentStore,
  Deployments,
  HostDeployment,
  Inventory,
  LoadResult,
  Locker,
  RetireResult,
  RevocationLog,
  RevocationRecord,
  RollbackOptions,
  Store,
  StoredMeta,
} from '../types.js';
import { type FilesystemSettings, filesystemSettings, stableName } from './config.js';
import { forgetDeployment, loadDeployments, recordDeployment } from './deployments.js';
import {
  assertRealDirectories,
  asyncIo,
  fsError,
  isErrno,
  randomId,
  readOptional,
  syncIo,
  unlinkQuietly,
  writeAtomic,
  writeIfAbsent,
  writeNewFile,
} from './fs-util.js';
import { appendRevocation, listCertificateNames, readRevocations, retireDirectory } from './lifecycle.js';
import { LoadCache } from './load-cache.js';
import { FileLocker } from './lock.js';
import { LIST_FROM, loadMany, loadOne, localCheck, rootCheck } from './read.js';
import { rollbackVersion, saveVersion, writeAttempt } from './versions.js';

export class FilesystemStore implements Store, RevocationLog, Inventory, DeploymentStore {
  readonly name: string;
  readonly type = 'filesystem' as const;
  /** The store's directory, absolute. */
  readonly root: string;
  private readonly settings: FilesystemSettings;
  private readonly isLocal: () => Promise<boolean>;
  /** Rejects (STORE_UNAVAILABLE) when the store's path exists but is not a readable directory. */
  private readonly rootUsable: () => Promise<void>;
  private ownLocker: Locker | undefined;
  /**
   * Directories from which `getBlob` read a blob, so found to be real directories down from the store's
   * (no link planted on the way): not checked again by this process. A run reads a kept renewal-information
   * answer per certificate, all in one directory, and three lstats for each were ~1.5 ms of a nothing-due
   * run of 10 (docs/performance.md). Only the store's owner may write under `blobs/` (0700). A directory
   * where nothing was found is checked again at the next read.
   */
  private readonly blobDirsChecked = new Set<string>();
  /** What loads remember of unchanged versions (load-cache.ts); opened by the first large loadMany. */
  private loadCache: Promise<LoadCache | undefined> | undefined;

  /** Checks the manifest entry (throws a UsageError naming the bad setting); touches no file. */
  constructor(name: string, config: FilesystemStoreConfig, context: RuntimeContext) {
    this.name = name;
    this.settings = filesystemSettings(name, config, context);
    this.root = this.settings.layout.root;
    this.isLocal = localCheck(this.root);
    this.rootUsable = rootCheck(name, this.root);
  }

  paths(name: string): CertificatePaths {
    const { layout } = this.settings;
    const at = (kind: 'cert' | 'chain' | 'fullchain' | 'privkey') =>
      layout.stable(name, stableName(this.settings, kind));
    return {
      dir: layout.certDir(name),
      cert: at('cert'),
      chain: at('chain'),
      fullchain: at('fullchain'),
      privkey: at('privkey'),
    };
  }

  async load(name: string): Promise<LoadResult> {
    await this.rootUsable();
    return loadOne(this.settings, asyncIo, name);
  }

  async loadMany(names: readonly string[]): Promise<Map<string, LoadResult>> {
    await this.rootUsable();
    // The load cache from the first load of LIST_FROM names on a local disk; kept for the later ones.
    if (this.loadCache === undefined && names.length >= LIST_FROM && (await this.isLocal())) {
      this.loadCache = LoadCache.open(this.settings);
    }
    return loadMany(this.settings, this.isLocal, names, await this.loadCache);
  }

  save(name: string, bundle: CertificateBundle, meta: StoredMeta): Promise<void> {
    return saveVersion(this.settings, name, bundle, meta);
  }

  rollback(name: string, options?: RollbackOptions): Promise<boolean> {
    return rollbackVersion(this.settings, name, options?.usable);
  }

  recordAttempt(name: string, attempt: AttemptInfo | undefined): Promise<void> {
    return writeAttempt(this.settings, name, attempt);
  }

  recordRevocation(name: string, record: RevocationRecord): Promise<void> {
    return appendRevocation(this.settings, name, record);
  }

  async revocations(names: readonly string[]): Promise<Map<string, RevocationRecord[]>> {
    const cache = await this.loadCache;
    return readRevocations(
      this.settings,
      this.isLocal,
      names,
      cache && ((name) => cache.knowsUnrevoked(name)),
    );
  }

  listNames(except?: ReadonlySet<string>): Promise<string[]> {
    return listCertificateNames(this.settings, except);
  }

  retire(name: string, now: Date): Promise<RetireResult> {
    return retireDirectory(this.settings, name, now);
  }

  async loadDeployments(names: readonly string[]): Promise<Map<string, Deployments>> {
    // The store's own directory first, as load does: plan reads both at once, and an unreadable path (no
    // permission, a link loop) must be reported as the store's, not as whichever read failed first.
    await this.rootUsable();
    return loadDeployments(this.settings.layout, this.name, this.isLocal, names);
  }

  recordDeployment(name: string, host: string, deployment: HostDeployment): Promise<void> {
    return recordDeployment(this.settings.layout, this.name, name, host, deployment);
  }

  forgetDeployment(name: string, host: string): Promise<boolean> {
    return forgetDeployment(this.settings.layout, this.name, name, host);
  }

  blobLocation(key: string): string {
    return `the file ${this.settings.layout.blob(key)}`;
  }

  async getBlob(key: string): Promise<string | undefined> {
    const path = this.settings.layout.blob(key);
    const dir = dirname(path);
    try {
      // On a local disk, plain system calls (a run reads a kept renewal-information blob per certificate).
      const local = await this.isLocal();
      if (!this.blobDirsChecked.has(dir)) {
        await assertRealDirectories(this.settings.layout.root, dir, local ? lstatSync : undefined);
      }
      const value = await readOptional(path, local ? syncIo : asyncIo);
      if (value !== undefined) this.blobDirsChecked.add(dir);
      return value;
    } catch (error) {
      throw fsError(ErrorCode.storeUnavailable, `store ${this.name}: cannot read`, path, error);
    }
  }

  async putBlob(key: string, value: string, options: { ifAbsent?: boolean } = {}): Promise<boolean> {
    const path = this.settings.layout.blob(key);
    try {
      await assertRealDirectories(this.settings.layout.root, dirname(path));
      // The store's own directory is listable, as its locks and deployments are (0755): a blob written
      // before them (a run's renewal information, in a store it adopted) must not make it 0700, which hid
      // the deployments from a user that may read the certificates (status: every one critical). The
      // blobs' directories are private.
      await mkdirp(join(this.settings.layout.root, INTERNAL_DIR), 0o755);
      await mkdirp(dirname(path), 0o700);
      await assertRealDirectories(this.settings.layout.root, dirname(path));
      // Blobs hold private keys (the local CA, ACME accounts): owned by whoever runs cert-renew, never by
      // the `owner`/`group` the certificates are given (a web server user must not own the CA key).
      const write = { mode: 0o600 };
      if (options.ifAbsent) return await writeIfAbsent(path, value, write);
      await writeAtomic(path, value, write);
      return true;
    } catch (error) {
      throw fsError(ErrorCode.storeWrite, `store ${this.name}: cannot write`, path, error);
    }
  }

  /**
   * Creates and removes a probe file in the store's directory (or, when the directory does not exist yet,
   * a probe directory in its nearest existing parent). Leaves nothing behind.
   */
  async checkWritable(): Promise<string> {
    const unavailable = (what: string, path: string, error: unknown) =>
      fsError(ErrorCode.storeUnavailable, `filesystem store ${this.name}: ${what}`, path, error);
    let existing = this.root;
    for (;;) {
      try {
        const info = await lstat(existing);
        if (!info.isDirectory() && !info.isSymbolicLink()) {
          throw new CertRenewError(
            ErrorCode.storeUnavailable,
            `filesystem store ${this.name}: ${existing} is not a directory`,
            { hint: 'point the store path at a directory' },
          );
        }
        if (info.isSymbolicLink()) {
          // A link the run would follow: its target must be a directory (or mkdir -p fails there too).
          const broken = await brokenLinkError(existing);
          if (broken) throw unavailable('cannot use', existing, broken);
        }
        break;
      } catch (error) {
        if (error instanceof CertRenewError) throw error;
        if (!isErrno(error, 'ENOENT')) throw unavailable('cannot reach', existing, error);
        const parent = dirname(existing);
        if (parent === existing) throw unavailable('no existing parent directory for', this.root, error);
        existing = parent;
      }
    }
    if (existing !== this.root) {
      // Permission bits are not proof (a read-only mount, /proc, a full quota): make and remove a probe
      // directory where the store's first missing directory would go.
      const probeDir = join(existing, `.cert-renew-probe-${randomId()}`);
      try {
        await access(existing, constants.W_OK | constants.X_OK);
        await mkdir(probeDir, { mode: 0o700 });
      } catch (error) {
        throw unavailable(`cannot create ${this.root} in`, existing, error);
      } finally {
        await rmdir(probeDir).catch(() => {});
      }
      return `filesystem ${this.root} (does not exist yet; would be created in ${existing})`;
    }
    const probe = join(this.root, `.cert-renew-probe-${randomId()}`);
    try {
      await writeNewFile(probe, 'probe\n', { mode: 0o600 });
    } catch (error) {
      throw unavailable('cannot write in', this.root, error);
    } finally {
      await unlinkQuietly(probe);
    }
    return `filesystem ${this.root} (writable)`;
  }

  /**
   * Lock files in `<path>/.cert-renew/locks/`, or, with `locks: "<redis store>"` in the manifest, that
   * store's locks (hosts that share certificates over NFS but want Redis to coordinate). This is the one
   * place that delegation happens: callers always ask the certificate's own store.
   */
  locker(): Locker {
    if (this.ownLocker) return this.ownLocker;
    const { config, context, layout, lockTimeoutMs } = this.settings;
    const delegate = config.locks;
    if (delegate !== undefined) {
      this.ownLocker = {
        acquire: async (name, options) => (await context.getStore(delegate)).locker().acquire(name, options),
        holder: async (name) => {
          const locker = await context
            .getStore(delegate)
            .then((store) => store.locker())
            .catch(() => undefined);
          return locker?.holder?.(name);
        },
      };
      return this.ownLocker;
    }
    this.ownLocker = new FileLocker({
      layout,
      storeName: this.name,
      lockTimeoutMs,
      hostname: context.hostname,
      pid: context.pid,
      clock: context.clock,
      logger: context.logger,
    });
    return this.ownLocker;
  }

  /**
   * Writes the load cache when this process's loads changed it and lets go of it: later loads read in full
   * (a run's few reloads), and the report of a large plan is built without it in memory. Never throws.
   */
  async readsDone(): Promise<void> {
    const cache = await this.loadCache;
    this.loadCache = Promise.resolve(undefined);
    await cache?.persist();
  }

  /** Writes the load cache when this process's loads changed it (never throws). */
  async close(): Promise<void> {
    await this.readsDone();
  }
}
