/**
 * Small durable-write helpers for the filesystem store (local disks and NFS alike): files are written to a
 * temporary name beside their target, flushed, then renamed (or hard-linked) into place, and directories
 * are fsync'ed so a rename survives a crash. No helper leaves a temporary file behind when it fails.
 */
import { randomBytes } from 'node:crypto';
import type * as fs from 'node:fs';
import {
  closeSync,
  constants,
  fstatSync,
  lstatSync,
  openSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  readSync,
} from 'node:fs';
import { link, lstat, open, readdir, readFile, readlink, rename, unlink } from 'node:fs/promises';
import { dirname, join, relative, sep } from 'node:path';
import { CertRenewError, ErrorCode } from '../../errors.js';
import { temporaryUntilExit } from '../../runtime/exit-cleanup.js';
import { statfsPath } from '../../util/fs-async.js';

export function randomId(bytes = 8): string {
  return randomBytes(bytes).toString('hex');
}

export function errnoOf(error: unknown): string | undefined {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  return typeof code === 'string' ? code : undefined;
}

export function isErrno(error: unknown, ...codes: string[]): boolean {
  const code = errnoOf(error);
  return code !== undefined && codes.includes(code);
}

const transientCodes = ['EIO', 'ESTALE', 'ETIMEDOUT', 'EAGAIN', 'EBUSY', 'EINTR'];

/** What to tell the operator for a failed filesystem call. */
function hintFor(code: string | undefined): string {
  switch (code) {
    case 'EACCES':
    case 'EPERM':
      return 'run cert-renew as a user that may write there, or fix the owner/mode of the directory';
    case 'ENOSPC':
    case 'EDQUOT':
      return 'free space on that filesystem';
    case 'EROFS':
      return 'the filesystem is read-only: remount it read-write or choose another store path';
    case 'ESTALE':
    case 'EIO':
    case 'ETIMEDOUT':
      return 'check the NFS mount and try again';
    default:
      return 'check the store path in the manifest';
  }
}

/** Wraps a filesystem error into a one-line CertRenewError naming what failed and where. */
/**
 * chown(2) refused (EPERM: an unprivileged user may only give a file to a group it is a member of): says
 * which of the store's `owner`/`group` could not be set, keeping the errno `code`.
 */
export class OwnershipError extends Error {
  readonly code: string | undefined;
  constructor(
    readonly setting: 'owner' | 'group' | 'owner and group',
    /** The ids asked for, e.g. "gid 33". */
    readonly ids: string,
    cause: unknown,
  ) {
    super(`cannot set the ${setting} of the file (${errnoOf(cause) ?? describeCause(cause)})`, { cause });
    this.name = 'OwnershipError';
    this.code = errnoOf(cause);
  }
}

function describeCause(error: unknown): string {
  return error instanceof Error ? (error.message.split('\n')[0] ?? error.name) : String(error);
}

export function fsError(code: ErrorCode, what: string, path: string, error: unknown): CertRenewError {
  if (error instanceof CertRenewError) return error;
  if (error instanceof OwnershipError) {
    const which = error.setting === 'owner' ? 'user' : 'group';
    const field =
      error.setting === 'owner' ? '"owner"' : error.setting === 'group' ? '"group"' : '"owner"/"group"';
    return new CertRenewError(
      code,
      `${what}: ${path} (${error.code ?? 'error'}: cannot set its ${error.setting} to ${error.ids})`,
      {
        cause: error,
        hint: `the store's ${field} cannot be set by this user: run cert-renew as root${which === 'group' ? ' or as a member of that group' : ''}, or remove ${field} from the store`,
      },
    );
  }
  const errno = errnoOf(error) ?? (error instanceof Error ? error.message.split('\n')[0] : String(error));
  // mkdirp's error for a symbolic link in the way whose target is not a directory (a dangling link).
  const link = error as { linkTarget?: string; path?: string } | undefined;
  const detail =
    typeof link?.linkTarget === 'string'
      ? `${errno}: ${link.path === path ? '' : `${link.path} is `}a symbolic link to ${link.linkTarget}, which ${errno === 'ENOENT' ? 'does not exist' : 'is not a directory'}`
      : errno;
  return new CertRenewError(code, `${what}: ${path} (${detail})`, {
    cause: error,
    hint: hintFor(errnoOf(error)),
    transient: transientCodes.includes(errnoOf(error) ?? ''),
  });
}

/**
 * Refuses symbolic links (and anything not a directory) in the store tree: every path component below
 * `root` down to `dir` must be a real directory, so nothing cert-renew writes or reads there can be
 * redirected outside the store by a link someone else planted. `root` itself (the configured store path)
 * may be a link. Components that do not exist yet are fine (they will be created). `lstatOf` is fs/promises'
 * lstat, or lstatSync on a local disk (a few microseconds instead of a thread-pool hop each). Throws a
 * STORE_WRITE_FAILED CertRenewError naming the link.
 */
export async function assertRealDirectories(
  root: string,
  dir: string,
  lstatOf: (path: string) => fs.Stats | Promise<fs.Stats> = lstat,
): Promise<void> {
  const rel = relative(root, dir);
  if (rel === '' || rel.startsWith('..')) return;
  let at = root;
  for (const part of rel.split(sep)) {
    at = join(at, part);
    let info: fs.Stats;
    try {
      info = await lstatOf(at);
    } catch (error) {
      if (isErrno(error, 'ENOENT')) return;
      throw error;
    }
    if (info.isSymbolicLink() || !info.isDirectory()) {
      throw new CertRenewError(
        ErrorCode.storeWrite,
        `${at} is ${info.isSymbolicLink() ? 'a symbolic link' : 'not a directory'} inside the store; cert-renew never follows links it did not create`,
        { hint: 'remove it (and check who planted it); cert-renew recreates its directories itself' },
      );
    }
  }
}

export async function unlinkQuietly(path: string): Promise<void> {
  try {
    await unlink(path);
  } catch {
    // already gone, or nothing we can do about it here
  }
}

/** Flushes a directory so the renames/creations in it are durable. Some filesystems refuse: ignored. */
export async function fsyncDir(path: string): Promise<void> {
  let handle: Awaited<ReturnType<typeof open>> | undefined;
  try {
    handle = await open(path, 'r');
    await handle.sync();
  } catch (error) {
    if (!isErrno(error, 'EINVAL', 'EISDIR', 'EPERM', 'EACCES', 'EBADF', 'ENOTSUP')) throw error;
  } finally {
    await handle?.close().catch(() => {});
  }
}

export interface WriteOptions {
  /** File mode, applied with chmod after creation (so the umask does not matter). */
  mode: number;
  uid?: number;
  gid?: number;
}

/** Creates `path` exclusively, writes, flushes. Removes the file again when anything fails. */
export async function writeNewFile(
  path: string,
  data: string | Uint8Array,
  options: WriteOptions,
): Promise<void> {
  const handle = await open(path, 'wx', options.mode);
  let ok = false;
  try {
    await handle.writeFile(data);
    await handle.chmod(options.mode);
    if (options.uid !== undefined || options.gid !== undefined) {
      try {
        await handle.chown(options.uid ?? -1, options.gid ?? -1);
      } catch (error) {
        const setting =
          options.uid === undefined ? 'group' : options.gid === undefined ? 'owner' : 'owner and group';
        const ids = [
          ...(options.uid === undefined ? [] : [`uid ${options.uid}`]),
          ...(options.gid === undefined ? [] : [`gid ${options.gid}`]),
        ].join(', ');
        throw new OwnershipError(setting, ids, error);
      }
    }
    await handle.sync();
    ok = true;
  } finally {
    await handle.close().catch(() => {});
    if (!ok) await unlinkQuietly(path);
  }
}

function tempBeside(path: string): string {
  return join(dirname(path), `.tmp-${randomId()}`);
}

/** Replaces `path` atomically: readers see the old content or the new, never a part. */
export async function writeAtomic(
  path: string,
  data: string | Uint8Array,
  options: WriteOptions,
): Promise<void> {
  const temp = tempBeside(path);
  // An exit at once (a second signal, a stopped `status`) removes it rather than leave it half written.
  const forget = temporaryUntilExit(temp);
  let renamed = false;
  try {
    await writeNewFile(temp, data, options);
    await rename(temp, path);
    renamed = true;
    forget();
    await fsyncDir(dirname(path));
  } finally {
    if (!renamed) {
      await unlinkQuietly(temp);
      forget();
    }
  }
}

/**
 * Creates `path` only when it does not exist, atomically even on NFS: the content is written to a temporary
 * file which is then hard-linked to the target (link fails with EEXIST when another writer won).
 * Resolves false when the target already existed.
 */
export async function writeIfAbsent(
  path: string,
  data: string | Uint8Array,
  options: WriteOptions,
): Promise<boolean> {
  const temp = tempBeside(path);
  try {
    await writeNewFile(temp, data, options);
    try {
      await link(temp, path);
    } catch (error) {
      if (isErrno(error, 'EEXIST')) return false;
      throw error;
    }
    await fsyncDir(dirname(path));
    return true;
  } finally {
    await unlinkQuietly(temp);
  }
}

/** Reads a text file without following a link at its name; undefined when it does not exist. */
export async function readOptional(path: string, io: ReadIo = asyncIo): Promise<string | undefined> {
  try {
    return await io.readTextIfPresent(path);
  } catch (error) {
    if (isErrno(error, 'ENOENT', 'ENOTDIR')) return undefined;
    throw error;
  }
}

/**
 * A user or group as a numeric id: numbers (or digit strings) as they are, names looked up in /etc/passwd or
 * /etc/group. Unknown names fail with STORE_WRITE_FAILED.
 */
export async function resolveId(
  value: string | number,
  kind: 'owner' | 'group',
  storeName: string,
  database = kind === 'owner' ? '/etc/passwd' : '/etc/group',
): Promise<number> {
  if (typeof value === 'number') return value;
  if (/^[0-9]+$/.test(value)) return Number(value);
  let text = '';
  try {
    text = await readFile(database, 'utf8');
  } catch (error) {
    throw fsError(
      ErrorCode.storeWrite,
      `filesystem store ${storeName}: cannot look up ${kind} "${value}"`,
      database,
      error,
    );
  }
  for (const line of text.split('\n')) {
    const fields = line.split(':');
    if (fields[0] === value && fields[2] !== undefined && /^[0-9]+$/.test(fields[2]))
      return Number(fields[2]);
  }
  throw new CertRenewError(
    ErrorCode.storeWrite,
    `filesystem store ${storeName}: unknown ${kind === 'owner' ? 'user' : 'group'} "${value}" (not in ${database})`,
    { hint: `create it or give a numeric id as the store's ${kind}` },
  );
}

/** What a ReadIo call gives: the value itself (plain system calls) or its promise (fs/promises). */
export type Step<T> = T | Promise<T>;

/**
 * The reads a load needs, in two flavours with one interface. Reading 10,000 certificates means some
 * 70,000 small reads: through the libuv thread pool (fs/promises) each costs a thread hop, while a plain
 * system call on a local disk costs a few microseconds — about five times faster. The sync flavour
 * (`syncIo`) returns values and throws, so reading a certificate makes no promise at all (read.ts drives
 * the same code both ways); it is used in small slices between which the event loop runs. Network
 * filesystems (NFS, SMB, FUSE …), where each call may wait on the network, keep the concurrent async
 * flavour (`asyncIo`), whose calls return promises. `await` takes either.
 *
 * Neither follows a symbolic link at the last component (`readText` opens with O_NOFOLLOW: a link fails
 * with ELOOP, a FIFO or device is refused with EINVAL), and `isRealDir` is false for a link to a directory.
 */
export interface ReadIo {
  readlink(path: string): Step<string>;
  readText(path: string): Step<string>;
  /**
   * Like readText, undefined when there is no file (ENOENT). For files that are usually absent (the last
   * failed attempt): a failed open throws an error with a stack trace, ~20 µs each, 10,000 in a large plan.
   */
  readTextIfPresent(path: string): Step<string | undefined>;
  isFile(path: string): Step<boolean>;
  isRealDir(path: string): Step<boolean>;
  /** The names in a directory (following a link to one, as readdir does). */
  readdir(path: string): Step<string[]>;
}

/** Files in a store are small; a bigger one is refused rather than read (EFBIG). */
export const MAX_STORE_FILE_BYTES = 4 * 1024 * 1024;

/** open(2) flags of every read of a store's file: never through a link, never blocking on a FIFO. */
export const READ_NOFOLLOW = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK;

/** An error as node gives it (`code`, the path in the message) for a file a read refuses. */
export function refused(code: string, path: string): NodeJS.ErrnoException {
  const error: NodeJS.ErrnoException = new Error(`${code}: ${path}`);
  error.code = code;
  return error;
}

async function readTextNoFollow(path: string): Promise<string> {
  const handle = await open(path, READ_NOFOLLOW);
  try {
    const info = await handle.stat();
    if (!info.isFile()) throw refused('EINVAL', path);
    if (info.size > MAX_STORE_FILE_BYTES) throw refused('EFBIG', path);
    return await handle.readFile('utf8');
  } finally {
    await handle.close().catch(() => {});
  }
}

export const asyncIo: ReadIo = {
  readlink: (path) => readlink(path),
  readText: readTextNoFollow,
  readTextIfPresent: (path) =>
    readTextNoFollow(path).catch((error: unknown) => {
      if (isErrno(error, 'ENOENT')) return undefined;
      throw error;
    }),
  isFile: async (path) => (await lstat(path)).isFile(),
  isRealDir: async (path) => (await lstat(path)).isDirectory(),
  readdir: (path) => readdir(path),
};

const scratch = Buffer.allocUnsafe(64 * 1024);

function readTextSync(path: string): string {
  const fd = openSync(path, READ_NOFOLLOW);
  try {
    // One read for the usual small PEM file; larger ones (long chains) are read on. A FIFO (ESPIPE) or a
    // directory (EISDIR) fails it: said as asyncIo says it, after the fstat it makes first.
    let length: number;
    try {
      length = readSync(fd, scratch, 0, scratch.length, 0);
    } catch (error) {
      if (!fstatSync(fd).isFile()) throw refused('EINVAL', path);
      throw error;
    }
    if (length < scratch.length) {
      if (length === 0 && !fstatSync(fd).isFile()) throw refused('EINVAL', path);
      return scratch.toString('utf8', 0, length);
    }
    const info = fstatSync(fd);
    if (!info.isFile()) throw refused('EINVAL', path);
    if (info.size > MAX_STORE_FILE_BYTES) throw refused('EFBIG', path);
    return readFileSync(fd, 'utf8');
  } finally {
    closeSync(fd);
  }
}

export const syncIo: ReadIo = {
  readlink: (path) => readlinkSync(path),
  readText: readTextSync,
  // lstat with throwIfNoEntry reports absence without an exception (and follows nothing); a file removed
  // in between still throws ENOENT.
  readTextIfPresent: (path) =>
    lstatSync(path, { throwIfNoEntry: false }) === undefined ? undefined : readTextSync(path),
  isFile: (path) => lstatSync(path).isFile(),
  isRealDir: (path) => lstatSync(path).isDirectory(),
  readdir: (path) => readdirSync(path),
};

/** statfs magic numbers of network and FUSE filesystems (linux/magic.h). */
const NETWORK_FILESYSTEMS = new Set([
  0x6969, // NFS
  0xff534d42, // CIFS
  0xfe534d42, // SMB2
  0x517b, // SMB
  0x65735546, // FUSE (sshfs, glusterfs …)
  0x00c36400, // Ceph
  0x5346414f, // AFS
  0x01021997, // 9P
  0x0bd00bd0, // Lustre
  0x47504653, // GPFS
]);

/** Whether `path` (or its nearest existing parent) is on a local filesystem; false when unknown. */
export async function isLocalFilesystem(path: string): Promise<boolean> {
  let at = path;
  for (;;) {
    try {
      const info = await statfsPath(at);
      return !NETWORK_FILESYSTEMS.has(Number(info.type));
    } catch (error) {
      const parent = dirname(at);
      if (!isErrno(error, 'ENOENT') || parent === at) return false;
      at = parent;
    }
  }
}
