/**
 * The filesystem store, for local disks and NFS. Layout under the store's `path` (certbot-familiar names,
 * so existing NGINX configurations keep working):
 *
 *   <path>/<name>/versions/<id>/{cert,chain,fullchain,privkey}.pem, meta.json [, combined.pem, cert.p12]
 *   <path>/<name>/current            → versions/<id>            (switched with one rename)
 *   <path>/<name>/cert.pem …         → current/cert.pem …       (stable names, `files` in the manifest)
 *   <path>/<name>/attempts.json        the last failed attempt (kept apart from the certificate)
 *   <path>/.cert-renew/locks/<name>.lock, <path>/.cert-renew/blobs/<key>
 *
 * A new version is written completely and flushed in a directory of its own, then `current` is replaced
 * by a symlink to it with rename(2), which is atomic on local filesystems and NFS alike. A crash at any
 * point leaves `current` at a complete set (the previous or the new); leftovers are removed by the next save.
 * Callers hold the certificate's lock (locker()) around save/rollback/recordAttempt.
 */
import {
  access,
  constants,
  lstat,
  mkdir,
  readdir,
  readFile,
  readlink,
  rename,
  rm,
  symlink,
  unlink,
} from 'node:fs/promises';
import { dirname, join, resolve, sep } from 'node:path';
import { CertRenewError, describeError, ErrorCode, UsageError } from '../errors.js';
import type { FilesystemStoreConfig } from '../manifest/types.js';
import type { RuntimeContext } from '../runtime/context.js';
import { parseDuration } from '../util/duration.js';
import { FileLocker } from './fs-lock.js';
import {
  asyncIo,
  errnoOf,
  fsError,
  fsyncDir,
  isErrno,
  isLocalFilesystem,
  type ReadIo,
  randomId,
  readOptional,
  resolveId,
  syncIo,
  unlinkQuietly,
  writeAtomic,
  writeIfAbsent,
  writeNewFile,
} from './fs-util.js';
import type {
  AcquireOptions,
  AttemptInfo,
  CertificateBundle,
  CertificatePaths,
  LoadResult,
  Lock,
  Locker,
  Store,
  StoredMeta,
} from './types.js';

/** Names of the files inside a version directory (fixed; the stable names outside are configurable). */
export const VERSION_FILES = {
  cert: 'cert.pem',
  chain: 'chain.pem',
  fullchain: 'fullchain.pem',
  privkey: 'privkey.pem',
  meta: 'meta.json',
  combined: 'combined.pem',
  pkcs12: 'cert.p12',
} as const;

const CURRENT = 'current';
/** Plain files found before cert-renew managed a directory are kept as this version. */
const LEGACY_ID = '000000-legacy';
const VERSIONS = 'versions';
const ATTEMPTS = 'attempts.json';
/** The store's own files (locks, blobs) live here; certificate names cannot start with a dot. */
export const INTERNAL_DIR = '.cert-renew';
const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
const VERSION_PATTERN = /^([0-9]{6,})-[A-Za-z0-9]+$/;
const REQUIRED = [VERSION_FILES.cert, VERSION_FILES.chain, VERSION_FILES.fullchain, VERSION_FILES.privkey];
const RESERVED = new Set<string>([CURRENT, VERSIONS, ATTEMPTS, VERSION_FILES.meta]);
const LOAD_CONCURRENCY = 64;
const DEFAULT_LOCK_TIMEOUT = '15m';

const CERT_BLOCK = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/;
const KEY_BLOCK = /-----BEGIN (?:[A-Z]+ )?PRIVATE KEY-----[\s\S]+?-----END (?:[A-Z]+ )?PRIVATE KEY-----/;

type StableKind = 'cert' | 'chain' | 'fullchain' | 'privkey' | 'combined' | 'pkcs12';

function parseMode(value: string | undefined, fallback: number, what: string, store: string): number {
  if (value === undefined) return fallback;
  if (!/^0?[0-7]{3}$/.test(value)) {
    throw new UsageError(
      `filesystem store ${store}: ${what} mode "${value}" is not an octal mode like "0600"`,
    );
  }
  return Number.parseInt(value, 8);
}

function versionSeq(id: string): number | undefined {
  const match = VERSION_PATTERN.exec(id);
  return match ? Number(match[1]) : undefined;
}

/** `2025-01-31T12:00:00.123Z` → `20250131T120000Z`. */
function compactTime(date: Date): string {
  return date
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.[0-9]+Z$/, 'Z');
}

export class FilesystemStore implements Store {
  readonly name: string;
  readonly type = 'filesystem' as const;
  /** The store's directory, absolute. */
  readonly root: string;
  private readonly config: FilesystemStoreConfig;
  private readonly context: RuntimeContext;
  private readonly stable: ReadonlyMap<StableKind, string>;
  private readonly keyMode: number;
  private readonly certMode: number;
  private readonly keep: number;
  private readonly lockTimeoutMs: number;
  private ids: Promise<{ uid?: number; gid?: number }> | undefined;
  private fileLocker: Locker | undefined;
  private local: Promise<boolean> | undefined;

  constructor(name: string, config: FilesystemStoreConfig, context: RuntimeContext) {
    this.name = name;
    this.config = config;
    this.context = context;
    this.root = resolve(context.baseDir, config.path);
    this.keyMode = parseMode(config.mode?.key, 0o600, 'key', name);
    this.certMode = parseMode(config.mode?.cert, 0o644, 'cert', name);
    this.keep = config.keep ?? 3;
    if (!Number.isInteger(this.keep) || this.keep < 0) {
      throw new UsageError(`filesystem store ${name}: keep must be a whole number ≥ 0, not ${config.keep}`);
    }
    const timeout = parseDuration(config.lockTimeout ?? DEFAULT_LOCK_TIMEOUT);
    if (timeout === undefined || timeout <= 0) {
      throw new UsageError(
        `filesystem store ${name}: lockTimeout "${config.lockTimeout}" is not a duration like "15m"`,
      );
    }
    this.lockTimeoutMs = timeout;

    const stable = new Map<StableKind, string>([
      ['cert', config.files?.cert ?? VERSION_FILES.cert],
      ['chain', config.files?.chain ?? VERSION_FILES.chain],
      ['fullchain', config.files?.fullchain ?? VERSION_FILES.fullchain],
      ['privkey', config.files?.privkey ?? VERSION_FILES.privkey],
    ]);
    const combined = config.outputs?.combined;
    if (combined) stable.set('combined', typeof combined === 'string' ? combined : VERSION_FILES.combined);
    if (config.outputs?.pkcs12) stable.set('pkcs12', config.outputs.pkcs12.file ?? VERSION_FILES.pkcs12);
    const seen = new Set<string>();
    for (const [kind, file] of stable) {
      if (!NAME_PATTERN.test(file) || RESERVED.has(file) || seen.has(file)) {
        throw new UsageError(
          `filesystem store ${name}: file name "${file}" for ${kind} must be a plain file name, distinct from the others and not one of ${[...RESERVED].join(', ')}`,
        );
      }
      seen.add(file);
    }
    this.stable = stable;
  }

  // ---- paths ---------------------------------------------------------------------------------------

  private certDir(name: string): string {
    if (!NAME_PATTERN.test(name)) {
      throw new UsageError(
        `certificate name "${name}" is not a safe file name (letters, digits, '.', '_', '-')`,
      );
    }
    return join(this.root, name);
  }

  paths(name: string): CertificatePaths {
    const dir = this.certDir(name);
    const at = (kind: StableKind) => join(dir, this.stable.get(kind) ?? VERSION_FILES[kind]);
    return { dir, cert: at('cert'), chain: at('chain'), fullchain: at('fullchain'), privkey: at('privkey') };
  }

  /** Stable paths of the extra outputs (combined PEM, PKCS#12) when configured. */
  outputPaths(name: string): { combined?: string; pkcs12?: string } {
    const dir = this.certDir(name);
    const result: { combined?: string; pkcs12?: string } = {};
    const combined = this.stable.get('combined');
    const pkcs12 = this.stable.get('pkcs12');
    if (combined) result.combined = join(dir, combined);
    if (pkcs12) result.pkcs12 = join(dir, pkcs12);
    return result;
  }

  // ---- reading -------------------------------------------------------------------------------------

  async load(name: string): Promise<LoadResult> {
    return this.loadWith(asyncIo, name);
  }

  private async loadWith(io: ReadIo, name: string): Promise<LoadResult> {
    const dir = this.certDir(name);
    const [found, attempts] = await Promise.all([this.loadFiles(io, dir), this.readAttempts(io, dir)]);
    return attempts ? { ...found, attempts } : found;
  }

  /**
   * On a local disk: plain system calls in slices of LOAD_CONCURRENCY certificates, the event loop running
   * between slices. On a network filesystem: LOAD_CONCURRENCY loads in flight at once.
   */
  async loadMany(names: readonly string[]): Promise<Map<string, LoadResult>> {
    const results = new Map<string, LoadResult>();
    if (names.length === 0) return results;
    this.local ??= isLocalFilesystem(this.root);
    if (await this.local) {
      for (let start = 0; start < names.length; start += LOAD_CONCURRENCY) {
        for (const name of names.slice(start, start + LOAD_CONCURRENCY))
          results.set(name, await this.loadWith(syncIo, name));
        await new Promise((resolve) => setImmediate(resolve));
      }
      return results;
    }
    const loaded = new Map<string, LoadResult>();
    let next = 0;
    const worker = async () => {
      while (next < names.length) {
        const name = names[next++] as string;
        loaded.set(name, await this.loadWith(asyncIo, name));
      }
    };
    await Promise.all(Array.from({ length: Math.min(LOAD_CONCURRENCY, names.length) }, worker));
    // In the caller's order.
    for (const name of names) results.set(name, loaded.get(name) as LoadResult);
    return results;
  }

  private async loadFiles(io: ReadIo, dir: string): Promise<LoadResult> {
    let target: string;
    try {
      target = await io.readlink(join(dir, CURRENT));
    } catch (error) {
      if (isErrno(error, 'ENOENT', 'ENOTDIR')) return this.loadLegacy(io, dir);
      if (isErrno(error, 'EINVAL'))
        return { state: 'unreadable', error: `${join(dir, CURRENT)} is not a symlink` };
      return {
        state: 'unreadable',
        error: `cannot read ${join(dir, CURRENT)} (${errnoOf(error) ?? describeError(error)})`,
      };
    }
    // One readlink, then every file from that one directory: never a new cert with an old key.
    const versionDir = resolve(dir, target);
    if (!versionDir.startsWith(dir + sep)) {
      return { state: 'unreadable', error: `${join(dir, CURRENT)} points outside the certificate directory` };
    }
    return this.readSet(io, versionDir, VERSION_FILES);
  }

  /** Plain files in `<path>/<name>/` from before cert-renew managed it (certbot copies, manual installs). */
  private async loadLegacy(io: ReadIo, dir: string): Promise<LoadResult> {
    const certPath = join(dir, this.stable.get('cert') ?? VERSION_FILES.cert);
    try {
      if (!(await io.isFile(certPath))) return { state: 'missing' };
    } catch (error) {
      if (isErrno(error, 'ENOENT')) return { state: 'missing' };
      // ENOTDIR (the store path is a file), EACCES, EIO: not "missing", which would mean "issue one".
      return {
        state: 'unreadable',
        error: `cannot read ${certPath} (${errnoOf(error) ?? describeError(error)})`,
      };
    }
    const files = {
      cert: this.stable.get('cert') ?? VERSION_FILES.cert,
      chain: this.stable.get('chain') ?? VERSION_FILES.chain,
      fullchain: this.stable.get('fullchain') ?? VERSION_FILES.fullchain,
      privkey: this.stable.get('privkey') ?? VERSION_FILES.privkey,
      meta: VERSION_FILES.meta,
    };
    return this.readSet(io, dir, files);
  }

  private async readSet(
    io: ReadIo,
    dir: string,
    files: { cert: string; chain: string; fullchain: string; privkey: string; meta: string },
  ): Promise<LoadResult> {
    const read = (file: string) => io.readText(join(dir, file));
    const [cert, chain, fullchain, key, meta] = await Promise.allSettled([
      read(files.cert),
      read(files.chain),
      read(files.fullchain),
      read(files.privkey),
      read(files.meta),
    ]);
    const where = dir.slice(this.root.length + 1);
    const problem = (file: string, result: PromiseSettledResult<string>): string | undefined => {
      if (result.status === 'fulfilled') return undefined;
      return isErrno(result.reason, 'ENOENT')
        ? `${file} is missing in ${where}`
        : `cannot read ${file} in ${where} (${errnoOf(result.reason) ?? describeError(result.reason)})`;
    };
    const missing =
      problem(files.cert, cert) ??
      problem(files.chain, chain) ??
      problem(files.fullchain, fullchain) ??
      problem(files.privkey, key);
    if (missing) return { state: 'unreadable', error: missing };
    const certPem = (cert as PromiseFulfilledResult<string>).value;
    const chainPem = (chain as PromiseFulfilledResult<string>).value;
    const fullchainPem = (fullchain as PromiseFulfilledResult<string>).value;
    const keyPem = (key as PromiseFulfilledResult<string>).value;
    if (!CERT_BLOCK.test(certPem))
      return { state: 'unreadable', error: `${files.cert} in ${where} holds no PEM certificate` };
    if (chainPem.trim() !== '' && !CERT_BLOCK.test(chainPem)) {
      return { state: 'unreadable', error: `${files.chain} in ${where} holds no PEM certificate` };
    }
    if (!CERT_BLOCK.test(fullchainPem)) {
      return { state: 'unreadable', error: `${files.fullchain} in ${where} holds no PEM certificate` };
    }
    if (!KEY_BLOCK.test(keyPem))
      return { state: 'unreadable', error: `${files.privkey} in ${where} holds no PEM private key` };

    let parsed: StoredMeta | undefined;
    if (meta.status === 'fulfilled') {
      try {
        parsed = JSON.parse(meta.value) as StoredMeta;
      } catch {
        return { state: 'unreadable', error: `${files.meta} in ${where} is not valid JSON` };
      }
      if (typeof parsed !== 'object' || parsed === null || typeof parsed.notAfter !== 'string') {
        return { state: 'unreadable', error: `${files.meta} in ${where} is not certificate metadata` };
      }
    } else if (!isErrno(meta.reason, 'ENOENT')) {
      return { state: 'unreadable', error: problem(files.meta, meta) as string };
    }
    return { state: 'present', cert: { certPem, chainPem, keyPem, meta: parsed } };
  }

  private async readAttempts(io: ReadIo, dir: string): Promise<AttemptInfo | undefined> {
    try {
      const value = JSON.parse(await io.readText(join(dir, ATTEMPTS))) as AttemptInfo;
      return typeof value === 'object' && value !== null && typeof value.failureCount === 'number'
        ? value
        : undefined;
    } catch {
      // Usually there is none; an unreadable one only loses the back-off information.
      return undefined;
    }
  }

  // ---- writing -------------------------------------------------------------------------------------

  private owners(): Promise<{ uid?: number; gid?: number }> {
    this.ids ??= (async () => {
      const ids: { uid?: number; gid?: number } = {};
      if (this.config.owner !== undefined) ids.uid = await resolveId(this.config.owner, 'owner', this.name);
      if (this.config.group !== undefined) ids.gid = await resolveId(this.config.group, 'group', this.name);
      return ids;
    })();
    this.ids.catch(() => {
      this.ids = undefined;
    });
    return this.ids;
  }

  /** The files of one version, with their modes. */
  private async renderVersion(
    name: string,
    bundle: CertificateBundle,
    meta: StoredMeta,
  ): Promise<{ file: string; data: string | Uint8Array; key: boolean }[]> {
    const certPem = withNewline(bundle.certPem);
    const chainPem = bundle.chainPem.trim() === '' ? '' : withNewline(bundle.chainPem);
    const keyPem = withNewline(bundle.keyPem);
    const fullchain = certPem + chainPem;
    const files: { file: string; data: string | Uint8Array; key: boolean }[] = [
      { file: VERSION_FILES.cert, data: certPem, key: false },
      { file: VERSION_FILES.chain, data: chainPem, key: false },
      { file: VERSION_FILES.fullchain, data: fullchain, key: false },
      { file: VERSION_FILES.privkey, data: keyPem, key: true },
      { file: VERSION_FILES.meta, data: `${JSON.stringify(meta, null, 2)}\n`, key: false },
    ];
    if (this.stable.has('combined'))
      files.push({ file: VERSION_FILES.combined, data: fullchain + keyPem, key: true });
    const pkcs12 = this.config.outputs?.pkcs12;
    if (pkcs12) {
      const password = pkcs12.password ? await this.context.readSecret(pkcs12.password) : '';
      const { buildPkcs12 } = await import('./pkcs12.js');
      let data: Uint8Array;
      try {
        data = buildPkcs12({ certPem, chainPem, keyPem, password, friendlyName: name });
      } catch (error) {
        throw new CertRenewError(
          ErrorCode.storeWrite,
          `certificate ${name}: cannot build the PKCS#12 bundle for store ${this.name} (${describeError(error)})`,
          { cause: error, hint: 'check that the key and certificate are valid PEM' },
        );
      }
      files.push({ file: VERSION_FILES.pkcs12, data, key: true });
    }
    return files;
  }

  async save(name: string, bundle: CertificateBundle, meta: StoredMeta): Promise<void> {
    const dir = this.certDir(name);
    const versionsDir = join(dir, VERSIONS);
    const files = await this.renderVersion(name, bundle, meta);
    const ids = await this.owners();
    const writeFailed = (what: string, path: string, error: unknown) =>
      fsError(ErrorCode.storeWrite, `certificate ${name}: ${what} in store ${this.name}`, path, error);

    try {
      await mkdir(versionsDir, { recursive: true, mode: 0o755 });
    } catch (error) {
      throw writeFailed('cannot create the directory', versionsDir, error);
    }
    let previous = await this.currentId(dir);
    if (previous === undefined && (await this.adoptLegacy(name, dir, versionsDir, ids))) {
      // Serve the old files through `current` and the links before anything switches: the stable names
      // change one at a time, and each must keep showing the same (old) set until `current` moves.
      previous = LEGACY_ID;
      await this.pointCurrent(name, dir, `${VERSIONS}/${LEGACY_ID}`);
    }
    // Created before the switch (dangling until the first `current` exists), so a crash after the switch
    // never leaves the stable names missing or pointing at a mix.
    await this.ensureStableLinks(name, dir);

    // Written under a temporary name, so a directory with a version id is always complete.
    const staging = join(versionsDir, `.new-${randomId()}`);
    let id: string | undefined;
    let switched = false;
    try {
      try {
        await mkdir(staging, { mode: 0o755 });
      } catch (error) {
        throw writeFailed('cannot create the directory', staging, error);
      }
      await Promise.all(
        files.map(({ file, data, key }) =>
          writeNewFile(join(staging, file), data, { mode: key ? this.keyMode : this.certMode, ...ids }).catch(
            (error) => {
              throw writeFailed('cannot write', join(staging, file), error);
            },
          ),
        ),
      );
      try {
        await fsyncDir(staging);
      } catch (error) {
        throw writeFailed('cannot flush', staging, error);
      }
      id = await this.publishVersion(name, versionsDir, staging);
      await this.pointCurrent(name, dir, `${VERSIONS}/${id}`);
      switched = true;
    } finally {
      if (!switched)
        await rm(id ? join(versionsDir, id) : staging, { recursive: true, force: true }).catch(() => {});
    }
    await this.prune(name, dir, id as string, previous);
  }

  /** Gives a complete staged version the next id (a rename; another writer's id is never overwritten). */
  private async publishVersion(name: string, versionsDir: string, staging: string): Promise<string> {
    const ids = await this.listVersions(versionsDir);
    let seq = Math.max(0, ...ids.map((id) => versionSeq(id) ?? 0)) + 1;
    const stamp = compactTime(this.context.clock.now());
    for (;;) {
      const id = `${String(seq).padStart(6, '0')}-${stamp}`;
      const path = join(versionsDir, id);
      try {
        // rename(2) would replace an empty directory: make sure the id is free first (mkdir claims it).
        await mkdir(path, { mode: 0o755 });
        await rename(staging, path);
        await fsyncDir(versionsDir);
        return id;
      } catch (error) {
        if (!isErrno(error, 'EEXIST')) {
          throw fsError(
            ErrorCode.storeWrite,
            `certificate ${name}: cannot create the version in store ${this.name}`,
            path,
            error,
          );
        }
        seq++;
      }
    }
  }

  private async listVersions(versionsDir: string): Promise<string[]> {
    try {
      return (await readdir(versionsDir)).filter((entry) => versionSeq(entry) !== undefined);
    } catch (error) {
      if (isErrno(error, 'ENOENT')) return [];
      throw fsError(
        ErrorCode.storeWrite,
        `cannot list the versions in store ${this.name}`,
        versionsDir,
        error,
      );
    }
  }

  private async currentId(dir: string): Promise<string | undefined> {
    try {
      const target = await readlink(join(dir, CURRENT));
      const id = target.split('/').pop() ?? '';
      return versionSeq(id) === undefined ? undefined : id;
    } catch {
      return undefined;
    }
  }

  /** Replaces `<dir>/current` with a symlink to `target` in one rename, and makes it durable. */
  private async pointCurrent(name: string, dir: string, target: string): Promise<void> {
    const temp = join(dir, `.current-${randomId()}.tmp`);
    try {
      await symlink(target, temp);
      await rename(temp, join(dir, CURRENT));
    } catch (error) {
      await unlinkQuietly(temp);
      throw fsError(
        ErrorCode.storeWrite,
        `certificate ${name}: cannot switch to the new version in store ${this.name}`,
        join(dir, CURRENT),
        error,
      );
    }
    // The switch has happened: a failed flush (NFS: EIO, ESTALE) must not make the caller undo it.
    await fsyncDir(dir).catch((error: unknown) => {
      this.context.logger.warn(
        `certificate ${name}: switched to the new version, but flushing ${dir} failed: ${describeError(error)}`,
      );
    });
  }

  /** The stable names (`cert.pem` …) as symlinks into `current/`, created once (replacing plain files). */
  private async ensureStableLinks(name: string, dir: string): Promise<void> {
    for (const [kind, file] of this.stable) {
      const path = join(dir, file);
      const target = `${CURRENT}/${VERSION_FILES[kind]}`;
      try {
        if ((await readlink(path)) === target) continue;
      } catch {
        // missing, or a plain file: (re)create below
      }
      const temp = join(dir, `.link-${randomId()}.tmp`);
      try {
        await symlink(target, temp);
        await rename(temp, path);
      } catch (error) {
        await unlinkQuietly(temp);
        throw fsError(
          ErrorCode.storeWrite,
          `certificate ${name}: cannot create the link in store ${this.name}`,
          path,
          error,
        );
      }
    }
    await fsyncDir(dir).catch(() => {});
  }

  /**
   * Plain files from before cert-renew managed this directory become version 000000-legacy, so the first
   * save keeps them as the previous version (rollback restores them).
   */
  private async adoptLegacy(
    name: string,
    dir: string,
    versionsDir: string,
    ids: { uid?: number; gid?: number },
  ): Promise<boolean> {
    const legacy = await this.loadLegacy(asyncIo, dir);
    if (legacy.state !== 'present') return false;
    const versionDir = join(versionsDir, LEGACY_ID);
    const { certPem, chainPem, keyPem, meta } = legacy.cert;
    try {
      await rm(versionDir, { recursive: true, force: true });
      await mkdir(versionDir, { mode: 0o755 });
      const fullchain = await readFile(
        join(dir, this.stable.get('fullchain') ?? VERSION_FILES.fullchain),
        'utf8',
      );
      const files: [string, string, boolean][] = [
        [VERSION_FILES.cert, certPem, false],
        [VERSION_FILES.chain, chainPem, false],
        [VERSION_FILES.fullchain, fullchain, false],
        [VERSION_FILES.privkey, keyPem, true],
      ];
      if (meta) files.push([VERSION_FILES.meta, `${JSON.stringify(meta, null, 2)}\n`, false]);
      for (const [file, data, key] of files) {
        await writeNewFile(join(versionDir, file), data, {
          mode: key ? this.keyMode : this.certMode,
          ...ids,
        });
      }
      await fsyncDir(versionDir);
      this.context.logger.info(
        `certificate ${name}: kept the existing files as version ${LEGACY_ID} in ${versionsDir}`,
      );
      return true;
    } catch (error) {
      await rm(versionDir, { recursive: true, force: true }).catch(() => {});
      throw fsError(
        ErrorCode.storeWrite,
        `certificate ${name}: cannot keep the existing files in store ${this.name}`,
        versionDir,
        error,
      );
    }
  }

  /** Whether a version directory holds every file a reader needs. */
  private async isComplete(versionDir: string): Promise<boolean> {
    try {
      const entries = new Set(await readdir(versionDir));
      return REQUIRED.every((file) => entries.has(file));
    } catch {
      return false;
    }
  }

  /**
   * After a successful switch: keep the newest `keep` complete versions before the current one; remove older
   * ones, incomplete ones and any newer than current (left by a crash before its switch), and temp files.
   */
  private async prune(
    name: string,
    dir: string,
    currentId: string,
    previousId: string | undefined,
  ): Promise<void> {
    try {
      const versionsDir = join(dir, VERSIONS);
      const current = versionSeq(currentId) ?? 0;
      // Versions after the previous current were never switched to (a crash before the switch).
      const previous = previousId === undefined ? current : (versionSeq(previousId) ?? current);
      const ids = (await this.listVersions(versionsDir)).sort(
        (a, b) => (versionSeq(b) ?? 0) - (versionSeq(a) ?? 0),
      );
      const remove: string[] = [];
      let kept = 0;
      for (const id of ids) {
        if (id === currentId) continue;
        const seq = versionSeq(id) ?? 0;
        if (
          seq <= previous &&
          seq < current &&
          kept < this.keep &&
          (await this.isComplete(join(versionsDir, id)))
        ) {
          kept++;
          continue;
        }
        remove.push(id);
      }
      const strays = (await readdir(versionsDir)).filter((entry) => versionSeq(entry) === undefined);
      const temps = (await readdir(dir)).filter(
        (entry) => entry.startsWith('.tmp-') || (entry.startsWith('.') && entry.endsWith('.tmp')),
      );
      await Promise.all([
        ...remove.map((id) => rm(join(versionsDir, id), { recursive: true, force: true })),
        ...strays.map((entry) => rm(join(versionsDir, entry), { recursive: true, force: true })),
        ...temps.map((entry) => unlinkQuietly(join(dir, entry))),
      ]);
    } catch (error) {
      // The new version is in place; leftovers are retried by the next save.
      this.context.logger.warn(
        `certificate ${name}: cannot remove old versions in store ${this.name}: ${describeError(error)}`,
      );
    }
  }

  async rollback(name: string): Promise<boolean> {
    const dir = this.certDir(name);
    const currentId = await this.currentId(dir);
    if (currentId === undefined) return false;
    const versionsDir = join(dir, VERSIONS);
    const current = versionSeq(currentId) ?? 0;
    let ids: string[];
    try {
      ids = await this.listVersions(versionsDir);
    } catch (error) {
      throw fsError(
        ErrorCode.storeWrite,
        `certificate ${name}: cannot list versions in store ${this.name}`,
        versionsDir,
        error,
      );
    }
    const older = ids
      .filter((id) => (versionSeq(id) ?? 0) < current)
      .sort((a, b) => (versionSeq(b) ?? 0) - (versionSeq(a) ?? 0));
    for (const id of older) {
      if (!(await this.isComplete(join(versionsDir, id)))) continue;
      await this.pointCurrent(name, dir, `${VERSIONS}/${id}`);
      await this.ensureStableLinks(name, dir);
      // The abandoned version goes, so "previous" always means the one before current.
      await rm(join(versionsDir, currentId), { recursive: true, force: true }).catch(() => {});
      this.context.logger.info(
        `certificate ${name}: rolled back from version ${currentId} to ${id} in store ${this.name}`,
      );
      return true;
    }
    return false;
  }

  async recordAttempt(name: string, attempt: AttemptInfo | undefined): Promise<void> {
    const dir = this.certDir(name);
    const path = join(dir, ATTEMPTS);
    try {
      if (attempt === undefined) {
        await unlink(path).catch((error: unknown) => {
          if (!isErrno(error, 'ENOENT')) throw error;
        });
        return;
      }
      await mkdir(dir, { recursive: true, mode: 0o755 });
      await writeAtomic(path, `${JSON.stringify(attempt, null, 2)}\n`, {
        mode: this.certMode,
        ...(await this.owners()),
      });
    } catch (error) {
      throw fsError(
        ErrorCode.storeWrite,
        `certificate ${name}: cannot record the attempt in store ${this.name}`,
        path,
        error,
      );
    }
  }

  // ---- blobs ---------------------------------------------------------------------------------------

  private blobPath(key: string): string {
    const segments = key.split('/');
    for (const segment of segments) {
      if (
        segment === '' ||
        segment === '.' ||
        segment === '..' ||
        segment.includes('\0') ||
        segment.includes('\\')
      ) {
        throw new CertRenewError(ErrorCode.internal, `store ${this.name}: invalid blob key "${key}"`);
      }
    }
    return join(this.root, INTERNAL_DIR, 'blobs', ...segments);
  }

  async getBlob(key: string): Promise<string | undefined> {
    const path = this.blobPath(key);
    try {
      return await readOptional(path);
    } catch (error) {
      throw fsError(ErrorCode.storeUnavailable, `store ${this.name}: cannot read`, path, error);
    }
  }

  async putBlob(key: string, value: string, options: { ifAbsent?: boolean } = {}): Promise<boolean> {
    const path = this.blobPath(key);
    try {
      await mkdir(dirname(path), { recursive: true, mode: 0o700 });
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

  // ---- checks and locks ----------------------------------------------------------------------------

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
            {
              hint: 'point the store path at a directory',
            },
          );
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
      try {
        await access(existing, constants.W_OK | constants.X_OK);
      } catch (error) {
        throw unavailable(`cannot create ${this.root} in`, existing, error);
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

  locker(): Locker {
    if (this.fileLocker) return this.fileLocker;
    const delegate = this.config.locks;
    if (delegate !== undefined) {
      // Locks kept in another (Redis) store, shared by hosts that do not share this filesystem's locks.
      const context = this.context;
      this.fileLocker = {
        async acquire(name: string, options: AcquireOptions): Promise<Lock | undefined> {
          return (await context.getStore(delegate)).locker().acquire(name, options);
        },
      };
      return this.fileLocker;
    }
    this.fileLocker = new FileLocker({
      dir: join(this.root, INTERNAL_DIR, 'locks'),
      storeName: this.name,
      lockTimeoutMs: this.lockTimeoutMs,
      hostname: this.context.hostname,
      pid: this.context.pid,
      clock: this.context.clock,
      logger: this.context.logger,
    });
    return this.fileLocker;
  }

  async close(): Promise<void> {}
}

function withNewline(pem: string): string {
  return pem.endsWith('\n') ? pem : `${pem}\n`;
}
