/**
 * The filesystem store's lifecycle abilities (stores/types.ts `RevocationLog`, `Inventory`):
 *
 *   <path>/<name>/revocations.json          the certificate's revocation log, newest first
 *   <path>/.cert-renew/archive/<name>-<UTC>/  a retired certificate directory, moved there whole by `prune`
 *
 * Retiring is one rename(2) of `<name>/` into the archive (same filesystem, so atomic, and the relative
 * `current` and stable-name links inside keep working). Restoring by hand is the reverse rename
 * (docs/operations.md). Archives older than ARCHIVE_RETENTION_MS are deleted by later prunes.
 */
import { readdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { ErrorCode } from '../../errors.js';
import { readdirEntries, readdirNames } from '../../util/fs-async.js';
import { mkdirp } from '../../util/mkdirp.js';
import { CERT_NAME_PATTERN, CURRENT, VERSIONS } from '../keys.js';
import { decodeRevocations } from '../revocation-record.js';
import type { RetireResult, RevocationRecord } from '../types.js';
import type { FilesystemSettings } from './config.js';
import { fsError, fsyncDir, isErrno, readOptional, writeAtomic } from './fs-util.js';
import { readEach } from './read.js';

/** How long `prune` keeps a retired directory in `.cert-renew/archive/` (30 days). */
export const ARCHIVE_RETENTION_MS = 30 * 86_400_000;

const ARCHIVE_PATTERN = /^(.+)-([0-9]{8}T[0-9]{6}Z)$/;

/** `2026-11-30T00:50:13.123Z` → `20261130T005013Z`. */
export function archiveStamp(at: Date): string {
  return at
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.[0-9]+Z$/, 'Z');
}

function parseStamp(stamp: string): Date | undefined {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(stamp);
  if (!m) return undefined;
  return new Date(`${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6]}Z`);
}

/**
 * Each certificate's revocation log (newest first; empty when it has none), read like certificates are
 * (`readEach`: no exception per absent file on a local disk, bounded on NFS). Throws STORE_UNAVAILABLE.
 */
export function readRevocations(
  settings: FilesystemSettings,
  isLocal: () => Promise<boolean>,
  names: readonly string[],
  knownAbsent?: (name: string) => boolean,
): Promise<Map<string, RevocationRecord[]>> {
  return readEach(isLocal, names, (io, name) => {
    // The load cache vouches for it (no revocations.json when this process took or made its entry).
    if (knownAbsent?.(name)) return [];
    const path = settings.layout.revocations(name);
    const failed = (error: unknown): RevocationRecord[] => {
      // No certificate directory (or a file where it should be): nothing was revoked there.
      if (isErrno(error, 'ENOTDIR')) return [];
      throw fsError(ErrorCode.storeUnavailable, `store ${settings.storeName}: cannot read`, path, error);
    };
    // With plain system calls (a local disk) no promise is made: 10,000 certificates in a large plan.
    try {
      const text = io.readTextIfPresent(path);
      return text instanceof Promise ? text.then(decodeRevocations).catch(failed) : decodeRevocations(text);
    } catch (error) {
      return failed(error);
    }
  });
}

export async function appendRevocation(
  settings: FilesystemSettings,
  name: string,
  record: RevocationRecord,
): Promise<void> {
  const path = settings.layout.revocations(name);
  try {
    const log = decodeRevocations(await readOptional(path));
    await mkdirp(settings.layout.certDir(name), 0o755);
    await writeAtomic(path, `${JSON.stringify([record, ...log], null, 2)}\n`, {
      mode: settings.certMode,
      ...(await settings.owners()),
    });
  } catch (error) {
    throw fsError(
      ErrorCode.storeWrite,
      `certificate ${name}: cannot record the revocation in store ${settings.storeName}`,
      path,
      error,
    );
  }
}

/** Directories under the store's path that hold a certificate (a `current` link, `versions/`, or legacy files). */
export async function listCertificateNames(
  settings: FilesystemSettings,
  except: ReadonlySet<string> = new Set(),
): Promise<string[]> {
  const root = settings.layout.root;
  let entries: import('node:fs').Dirent[];
  try {
    entries = await readdirEntries(root);
  } catch (error) {
    if (isErrno(error, 'ENOENT')) return [];
    throw fsError(ErrorCode.storeUnavailable, `store ${settings.storeName}: cannot list`, root, error);
  }
  const names: string[] = [];
  const legacy = new Set(['cert.pem', 'fullchain.pem', 'privkey.pem']);
  await Promise.all(
    entries
      .filter((e) => e.isDirectory() && CERT_NAME_PATTERN.test(e.name) && !except.has(e.name))
      .map(async (e) => {
        try {
          const inside = await readdirNames(join(root, e.name));
          if (inside.some((f) => f === CURRENT || f === VERSIONS || legacy.has(f))) names.push(e.name);
        } catch {
          // vanished or unreadable: not a certificate we can say anything about
        }
      }),
  );
  return names.sort();
}

/**
 * Moves `<name>/` to `.cert-renew/archive/<name>-<UTC time>/` (one rename), removes its deployment records,
 * then deletes archives older than ARCHIVE_RETENTION_MS. Throws STORE_WRITE_FAILED; a failed rename leaves the directory where it was.
 */
export async function retireDirectory(
  settings: FilesystemSettings,
  name: string,
  now: Date,
): Promise<RetireResult> {
  const dir = settings.layout.certDir(name);
  const archiveDir = settings.layout.archiveDir;
  const target = join(archiveDir, `${name}-${archiveStamp(now)}`);
  try {
    await mkdirp(archiveDir, 0o700);
    await rename(dir, target);
    await fsyncDir(settings.layout.root);
    await fsyncDir(archiveDir);
  } catch (error) {
    throw fsError(
      ErrorCode.storeWrite,
      `certificate ${name}: cannot move it into the archive of store ${settings.storeName}`,
      dir,
      error,
    );
  }
  // Which hosts deployed it is no longer true of anything the store holds (and would be taken for the
  // deployments of a new certificate given the same name later): removed, not archived.
  const deployments = settings.layout.deploymentsDir(name);
  const removed = [dir];
  try {
    await rm(deployments, { recursive: true });
    removed.push(deployments);
  } catch (error) {
    if (!isErrno(error, 'ENOENT')) {
      throw fsError(
        ErrorCode.storeWrite,
        `certificate ${name}: archived, but its deployment records in store ${settings.storeName} could not be removed`,
        deployments,
        error,
      );
    }
  }
  await sweepArchive(archiveDir, now);
  return { archivedTo: target, removed };
}

/** Deletes archived directories older than the retention; failures are left for the next prune. */
async function sweepArchive(archiveDir: string, now: Date): Promise<void> {
  let entries: string[];
  try {
    entries = await readdir(archiveDir);
  } catch {
    return;
  }
  for (const entry of entries) {
    const at = parseStamp(ARCHIVE_PATTERN.exec(entry)?.[2] ?? '');
    if (at && now.getTime() - at.getTime() > ARCHIVE_RETENTION_MS) {
      await rm(join(archiveDir, entry), { recursive: true, force: true }).catch(() => {});
    }
  }
}
