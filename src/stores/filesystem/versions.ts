/**
 * Writing a filesystem store: versions, publishing one, rolling back, and the attempts file.
 *
 * A new version is written completely and flushed in a directory of its own (under a temporary name, so a
 * directory with a version id is always complete), given the next id with a rename, then `current` is
 * replaced by a symlink to it with rename(2), which is atomic on local filesystems and NFS alike. A crash at
 * any point leaves `current` at a complete set (the previous or the new); leftovers are removed by the next
 * save. Callers hold the certificate's lock around save/rollback/recordAttempt.
 */
import { mkdir, readdir, readlink, rename, rm, symlink, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { describeError, ErrorCode } from '../../errors.js';
import { mkdirp } from '../../util/mkdirp.js';
import { keyMatchesCertificate } from '../../x509/index.js';
import { currentTarget, LEGACY_ID, STABLE_TARGETS, VERSION_FILES, versionId, versionSeq } from '../keys.js';
import type { AttemptInfo, CertificateBundle, StoredCertificate, StoredMeta } from '../types.js';
import { type FilesystemSettings, stableName } from './config.js';
import {
  assertRealDirectories,
  asyncIo,
  fsError,
  fsyncDir,
  isErrno,
  OwnershipError,
  randomId,
  unlinkQuietly,
  writeAtomic,
  writeNewFile,
} from './fs-util.js';
import { loadLegacy, readVersion } from './read.js';
import { renderVersion } from './render.js';

type Owners = { uid?: number; gid?: number };

/** Files that must be in a version directory for a reader to use it. */
const REQUIRED = [VERSION_FILES.cert, VERSION_FILES.chain, VERSION_FILES.fullchain, VERSION_FILES.privkey];

/** Writes a new version and switches `current` to it (see the file header). Throws STORE_WRITE_FAILED. */
export async function saveVersion(
  settings: FilesystemSettings,
  name: string,
  bundle: CertificateBundle,
  meta: StoredMeta,
): Promise<void> {
  const { layout } = settings;
  const versionsDir = layout.versionsDir(name);
  const files = await renderVersion(settings, name, bundle, meta);
  const ids = await settings.owners();
  const writeFailed = (what: string, path: string, error: unknown) =>
    fsError(ErrorCode.storeWrite, `certificate ${name}: ${what} in store ${settings.storeName}`, path, error);

  try {
    // Never through a link someone planted as <name>/ or versions/ (mkdir -p would follow it).
    await assertRealDirectories(layout.root, versionsDir);
    await mkdirp(versionsDir, 0o755);
    await assertRealDirectories(layout.root, versionsDir);
  } catch (error) {
    throw writeFailed('cannot create the directory', versionsDir, error);
  }
  let previous = await currentId(settings, name);
  if (previous === undefined && (await adoptLegacy(settings, name, ids))) {
    // Serve the old files through `current` and the links before anything switches: the stable names
    // change one at a time, and each must keep showing the same (old) set until `current` moves.
    previous = LEGACY_ID;
    await pointCurrent(settings, name, LEGACY_ID);
  }
  // Created before the switch (dangling until the first `current` exists), so a crash after the switch
  // never leaves the stable names missing or pointing at a mix.
  await ensureStableLinks(settings, name);

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
        writeNewFile(join(staging, file), data, {
          mode: key ? settings.keyMode : settings.certMode,
          ...ids,
        }).catch((error) => {
          throw writeFailed('cannot write', join(staging, file), error);
        }),
      ),
    );
    try {
      await fsyncDir(staging);
    } catch (error) {
      throw writeFailed('cannot flush', staging, error);
    }
    id = await publishVersion(settings, name, staging);
    await pointCurrent(settings, name, id);
    switched = true;
  } finally {
    if (!switched)
      await rm(id ? join(versionsDir, id) : staging, { recursive: true, force: true }).catch(() => {});
  }
  await prune(settings, name, id as string, previous);
}

/** Gives a complete staged version the next id (a rename; another writer's id is never overwritten). */
async function publishVersion(settings: FilesystemSettings, name: string, staging: string): Promise<string> {
  const versionsDir = settings.layout.versionsDir(name);
  const ids = await listVersions(settings, name);
  let seq = Math.max(0, ...ids.map((id) => versionSeq(id) ?? 0)) + 1;
  const now = settings.context.clock.now();
  for (;;) {
    const path = settings.layout.versionDir(name, versionId(seq, now));
    try {
      // rename(2) would replace an empty directory: make sure the id is free first (mkdir claims it).
      await mkdir(path, { mode: 0o755 });
      await rename(staging, path);
      await fsyncDir(versionsDir);
      return versionId(seq, now);
    } catch (error) {
      if (!isErrno(error, 'EEXIST')) {
        throw fsError(
          ErrorCode.storeWrite,
          `certificate ${name}: cannot create the version in store ${settings.storeName}`,
          path,
          error,
        );
      }
      seq++;
    }
  }
}

/** The ids of the versions of a certificate (unordered); none when it has no versions directory. */
async function listVersions(settings: FilesystemSettings, name: string): Promise<string[]> {
  const versionsDir = settings.layout.versionsDir(name);
  try {
    return (await readdir(versionsDir)).filter((entry) => versionSeq(entry) !== undefined);
  } catch (error) {
    if (isErrno(error, 'ENOENT')) return [];
    throw fsError(
      ErrorCode.storeWrite,
      `cannot list the versions in store ${settings.storeName}`,
      versionsDir,
      error,
    );
  }
}

async function currentId(settings: FilesystemSettings, name: string): Promise<string | undefined> {
  try {
    const target = await readlink(settings.layout.current(name));
    const id = target.split('/').pop() ?? '';
    return versionSeq(id) === undefined ? undefined : id;
  } catch {
    return undefined;
  }
}

/** Replaces `<dir>/current` with a symlink to version `id` in one rename, and makes it durable. */
async function pointCurrent(settings: FilesystemSettings, name: string, id: string): Promise<void> {
  const dir = settings.layout.certDir(name);
  const temp = join(dir, `.current-${randomId()}.tmp`);
  try {
    await symlink(currentTarget(id), temp);
    await rename(temp, settings.layout.current(name));
  } catch (error) {
    await unlinkQuietly(temp);
    throw fsError(
      ErrorCode.storeWrite,
      `certificate ${name}: cannot switch to the new version in store ${settings.storeName}`,
      settings.layout.current(name),
      error,
    );
  }
  // The switch has happened: a failed flush (NFS: EIO, ESTALE) must not make the caller undo it.
  await fsyncDir(dir).catch((error: unknown) => {
    settings.context.logger.warn(
      `certificate ${name}: switched to the new version, but flushing ${dir} failed: ${describeError(error)}`,
    );
  });
}

/** The stable names (`cert.pem` …) as symlinks into `current/`, created once (replacing plain files). */
async function ensureStableLinks(settings: FilesystemSettings, name: string): Promise<void> {
  const dir = settings.layout.certDir(name);
  for (const [kind, file] of settings.stable) {
    const path = settings.layout.stable(name, file);
    const target = STABLE_TARGETS[kind];
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
        `certificate ${name}: cannot create the link in store ${settings.storeName}`,
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
async function adoptLegacy(settings: FilesystemSettings, name: string, ids: Owners): Promise<boolean> {
  // Read without following links (a planted privkey.pem link makes the set unreadable, not adopted).
  const legacy = await loadLegacy(settings, asyncIo, name);
  if (legacy.state !== 'present') return false;
  const versionDir = settings.layout.versionDir(name, LEGACY_ID);
  const { certPem, chainPem, keyPem, meta } = legacy.cert;
  let matches = false;
  try {
    matches = keyMatchesCertificate(keyPem, certPem);
  } catch {
    matches = false;
  }
  if (!matches) {
    // A pair that does not match is nothing to roll back to: it is replaced, never copied.
    settings.context.logger.warn(
      `certificate ${name}: the existing files in ${settings.layout.certDir(name)} are not a matching certificate and key; they are not kept as a version`,
    );
    return false;
  }
  try {
    await rm(versionDir, { recursive: true, force: true });
    await mkdir(versionDir, { mode: 0o755 });
    const fullchain = await asyncIo.readText(settings.layout.stable(name, stableName(settings, 'fullchain')));
    const files: [string, string, boolean][] = [
      [VERSION_FILES.cert, certPem, false],
      [VERSION_FILES.chain, chainPem, false],
      [VERSION_FILES.fullchain, fullchain, false],
      [VERSION_FILES.privkey, keyPem, true],
    ];
    if (meta) files.push([VERSION_FILES.meta, `${JSON.stringify(meta, null, 2)}\n`, false]);
    for (const [file, data, key] of files) {
      await writeNewFile(join(versionDir, file), data, {
        mode: key ? settings.keyMode : settings.certMode,
        ...ids,
      });
    }
    await fsyncDir(versionDir);
    settings.context.logger.info(
      `certificate ${name}: kept the existing files as version ${LEGACY_ID} in ${settings.layout.versionsDir(name)}`,
    );
    return true;
  } catch (error) {
    await rm(versionDir, { recursive: true, force: true }).catch(() => {});
    throw fsError(
      ErrorCode.storeWrite,
      `certificate ${name}: cannot keep the existing files in store ${settings.storeName}`,
      versionDir,
      error,
    );
  }
}

/** Whether a version directory holds every file a reader needs. */
async function isComplete(versionDir: string): Promise<boolean> {
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
 * Never throws: leftovers are retried by the next save.
 */
async function prune(
  settings: FilesystemSettings,
  name: string,
  currentVersion: string,
  previousVersion: string | undefined,
): Promise<void> {
  const dir = settings.layout.certDir(name);
  const versionsDir = settings.layout.versionsDir(name);
  try {
    const current = versionSeq(currentVersion) ?? 0;
    // Versions after the previous current were never switched to (a crash before the switch).
    const previous = previousVersion === undefined ? current : (versionSeq(previousVersion) ?? current);
    const ids = (await listVersions(settings, name)).sort(
      (a, b) => (versionSeq(b) ?? 0) - (versionSeq(a) ?? 0),
    );
    const remove: string[] = [];
    let kept = 0;
    for (const id of ids) {
      if (id === currentVersion) continue;
      const seq = versionSeq(id) ?? 0;
      if (
        seq <= previous &&
        seq < current &&
        kept < settings.keep &&
        (await isComplete(join(versionsDir, id)))
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
    settings.context.logger.warn(
      `certificate ${name}: cannot remove old versions in store ${settings.storeName}: ${describeError(error)}`,
    );
  }
}

/**
 * Points `current` at the newest complete older version that `usable` accepts (every complete one without
 * it) and drops the abandoned one; false when none.
 */
export async function rollbackVersion(
  settings: FilesystemSettings,
  name: string,
  usable?: (previous: StoredCertificate) => boolean,
): Promise<boolean> {
  try {
    await assertRealDirectories(settings.layout.root, settings.layout.versionsDir(name));
  } catch (error) {
    throw fsError(
      ErrorCode.storeWrite,
      `certificate ${name}: cannot roll back in store ${settings.storeName}`,
      settings.layout.versionsDir(name),
      error,
    );
  }
  const from = await currentId(settings, name);
  if (from === undefined) return false;
  const current = versionSeq(from) ?? 0;
  const older = (await listVersions(settings, name))
    .filter((id) => (versionSeq(id) ?? 0) < current)
    .sort((a, b) => (versionSeq(b) ?? 0) - (versionSeq(a) ?? 0));
  for (const id of older) {
    if (!(await isComplete(settings.layout.versionDir(name, id)))) continue;
    if (usable) {
      const previous = await readVersion(settings, asyncIo, name, id);
      if (previous.state !== 'present' || !usable(previous.cert)) {
        settings.context.logger.info(
          `certificate ${name}: version ${id} in store ${settings.storeName} is not valid now; not restored`,
        );
        continue;
      }
    }
    await pointCurrent(settings, name, id);
    await ensureStableLinks(settings, name);
    // The abandoned version goes, so "previous" always means the one before current.
    await rm(settings.layout.versionDir(name, from), { recursive: true, force: true }).catch(() => {});
    settings.context.logger.info(
      `certificate ${name}: rolled back from version ${from} to ${id} in store ${settings.storeName}`,
    );
    return true;
  }
  return false;
}

/** Writes (atomically) or, with `undefined`, removes `<name>/attempts.json`. Throws STORE_WRITE_FAILED. */
export async function writeAttempt(
  settings: FilesystemSettings,
  name: string,
  attempt: AttemptInfo | undefined,
): Promise<void> {
  const dir = settings.layout.certDir(name);
  const path = settings.layout.attempts(name);
  try {
    await assertRealDirectories(settings.layout.root, dir);
    if (attempt === undefined) {
      await unlink(path).catch((error: unknown) => {
        if (!isErrno(error, 'ENOENT')) throw error;
      });
      return;
    }
    await mkdirp(dir, 0o755);
    await assertRealDirectories(settings.layout.root, dir);
    // The last error may quote what a command or server printed: kept as private as the keys (keyMode,
    // owner/group). A store whose owner/group cannot be set still records why every run fails (status
    // shows it): then the file is cert-renew's own, readable by its user only.
    const data = `${JSON.stringify(attempt, null, 2)}\n`;
    const ids = await settings.owners().catch(() => undefined);
    try {
      await writeAtomic(
        path,
        data,
        ids ? { mode: settings.keyMode, ...ids } : { mode: settings.keyMode & 0o600 },
      );
    } catch (error) {
      if (!(error instanceof OwnershipError)) throw error;
      await writeAtomic(path, data, { mode: settings.keyMode & 0o600 });
    }
  } catch (error) {
    throw fsError(
      ErrorCode.storeWrite,
      `certificate ${name}: cannot record the attempt in store ${settings.storeName}`,
      path,
      error,
    );
  }
}
