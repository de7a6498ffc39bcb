/**
 * Lock files for the filesystem store, safe on NFS (no flock): `<locksDir>/<name>.lock` holds
 * `{token, pid, host, boot, pidns, createdAt}` from the moment it exists: it is written completely under a
 * unique temporary name and hard-linked into place (link(2) fails with EEXIST for all but one creator, on
 * NFS too), so a crash never leaves an empty lock file. While held, its holder rewrites it every
 * `lockTimeout / 4` (and at every phase boundary, through `refresh()`) so its mtime stays fresh. A lock is
 * stale when its mtime is older than `lockTimeout`, or at once when its owner is provably dead: the same
 * host name, the same boot id and the same PID namespace as ours, and no process with its PID. (Containers
 * that share a host name but not a PID namespace never judge each other's PIDs.) Ages are measured against
 * the filesystem's own clock (the mtime of a file we touch), so clients with skewed clocks agree.
 *
 * Taking over a stale lock is race-free between processes:
 *   1. create the claim `<name>.lock.break-<identity>` exclusively (written whole and linked into place,
 *      like a lock, carrying the breaker's own identity): only one process breaks a given stale lock; a
 *      claim left by a breaker that died is removed at once when that breaker is provably dead, else after
 *      BREAK_LEFTOVER_MS;
 *   2. the winner renames the lock file to a unique name, checks it still carries the stale identity
 *      (restoring the file if it changed) and deletes it;
 *   3. everyone goes back to creating the lock, where exactly one succeeds.
 *
 * Nothing here follows a symbolic link: files are opened with O_NOFOLLOW, the lock directory and its parent
 * are checked with lstat, and a link planted at a lock's name is removed (unlink never follows) rather than
 * read or written through.
 */

import { closeSync, constants, openSync, readSync, unlinkSync } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { link, open, readdir, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { CertRenewError, describeError, ErrorCode } from '../../errors.js';
import type { Clock } from '../../runtime/clock.js';
import { holdUntilExit } from '../../runtime/exit-cleanup.js';
import { type ProcessIdentity, processIdentity, provablyDead } from '../../runtime/identity.js';
import type { Logger } from '../../runtime/logger.js';
import { formatDuration } from '../../util/duration.js';
import { mkdirp } from '../../util/mkdirp.js';
import type { FilesystemLayout } from '../keys.js';
import type { AcquireOptions, Lock, Locker, LockHolder, LockLoss } from '../types.js';
import { assertRealDirectories, fsError, isErrno, randomId, unlinkQuietly } from './fs-util.js';

export interface LockFileContent {
  token: string;
  pid: number;
  host: string;
  /** The owner's boot id ('' or absent where unknown, e.g. written by an older cert-renew). */
  boot?: string;
  /** The inode of the owner's PID namespace ('' or absent where unknown). */
  pidns?: string;
  createdAt: string;
}

export interface FileLockerOptions {
  /** Where the lock files are (`layout.locksDir`, created when missing; `layout.lock(name)`). */
  layout: FilesystemLayout;
  /** Name of the store, for messages. */
  storeName: string;
  /** A lock whose file was not refreshed for this long is stale. */
  lockTimeoutMs: number;
  hostname: string;
  pid: number;
  /** Boot id and PID namespace of this process; read from /proc when not given. */
  identity?: ProcessIdentity;
  clock: Clock;
  logger: Logger;
}

/** A lock file with no readable content (written by an older cert-renew that died creating it) is stale sooner. */
const EMPTY_LOCK_GRACE_MS = 10_000;
/** A claim left by a breaker that died, and that cannot be proven dead (another host), is removed after this. */
const BREAK_LEFTOVER_MS = 30_000;
/** Lock files are small; more than this is not a lock file. */
const MAX_LOCK_BYTES = 4096;

const READ_FLAGS = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK;
const CREATE_FLAGS = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;

function parseLock(text: string): LockFileContent | undefined {
  try {
    const value = JSON.parse(text) as Partial<LockFileContent>;
    if (
      typeof value.token === 'string' &&
      /^[0-9a-f]{8,64}$/.test(value.token) &&
      typeof value.pid === 'number' &&
      typeof value.host === 'string'
    ) {
      return {
        token: value.token,
        pid: value.pid,
        host: value.host,
        boot: typeof value.boot === 'string' ? value.boot : '',
        pidns: typeof value.pidns === 'string' ? value.pidns : '',
        createdAt: String(value.createdAt ?? ''),
      };
    }
  } catch {
    // not JSON: a lock file whose creator died before writing it (older cert-renew), or not a lock file
  }
  return undefined;
}

interface Observed {
  /** The token, or for a file without content (or a planted link) its inode and mtime. */
  identity: string;
  content: LockFileContent | undefined;
  mtimeMs: number;
  /** A symbolic link (never made by cert-renew): stale at once, removed without being followed. */
  link: boolean;
}

/** Reads a lock (or claim) file without following a link; undefined when it does not exist. */
async function observe(path: string): Promise<Observed | undefined> {
  let handle: FileHandle;
  try {
    handle = await open(path, READ_FLAGS);
  } catch (error) {
    if (isErrno(error, 'ENOENT')) return undefined;
    if (isErrno(error, 'ELOOP'))
      return { identity: `link-${randomId()}`, content: undefined, mtimeMs: 0, link: true };
    throw error;
  }
  try {
    const info = await handle.stat();
    if (!info.isFile()) {
      throw new CertRenewError(
        ErrorCode.storeUnavailable,
        `${path} is not a lock file (not a regular file)`,
        {
          hint: 'remove it; cert-renew creates its lock files itself',
        },
      );
    }
    const buffer = Buffer.alloc(MAX_LOCK_BYTES);
    const { bytesRead } = await handle.read(buffer, 0, MAX_LOCK_BYTES, 0);
    const content = parseLock(buffer.toString('utf8', 0, bytesRead));
    return {
      identity: content?.token ?? `ino-${info.ino}-${Math.floor(info.mtimeMs)}`,
      content,
      mtimeMs: info.mtimeMs,
      link: false,
    };
  } finally {
    await handle.close().catch(() => {});
  }
}

/**
 * Creates `path` holding `text`, exclusively and never empty: written and flushed under a unique name, then
 * hard-linked into place. Resolves with an open descriptor of the new file (for refreshing it), or
 * undefined when `path` already exists.
 */
async function createWhole(path: string, text: string): Promise<FileHandle | undefined> {
  const temp = `${path}.new-${randomId()}`;
  const handle = await open(temp, CREATE_FLAGS, 0o644);
  let linked = false;
  try {
    await handle.writeFile(text);
    await handle.sync();
    try {
      await link(temp, path);
      linked = true;
    } catch (error) {
      if (!isErrno(error, 'EEXIST')) throw error;
    }
  } finally {
    await unlinkQuietly(temp);
    if (!linked) await handle.close().catch(() => {});
  }
  return linked ? handle : undefined;
}

export class FileLocker implements Locker {
  private readonly options: FileLockerOptions;
  private readonly identity: ProcessIdentity;
  private ready: Promise<void> | undefined;

  constructor(options: FileLockerOptions) {
    this.options = options;
    this.identity = options.identity ?? processIdentity();
  }

  lockPath(name: string): string {
    return this.options.layout.lock(name);
  }

  async acquire(name: string, { waitMs, signal }: AcquireOptions): Promise<Lock | undefined> {
    const path = this.lockPath(name);
    const started = performance.now();
    let announced = false;
    for (let attempt = 0; ; attempt++) {
      if (signal?.aborted) {
        throw new CertRenewError(
          ErrorCode.lockBusy,
          `certificate ${name}: waiting for the lock ${path} was cancelled`,
        );
      }
      const lock = await this.tryCreate(name, path);
      if (lock) return lock;
      if (await this.breakIfStale(name, path)) continue;
      if (!announced) {
        announced = true;
        const holder = await this.holder(name);
        if (holder) {
          this.options.logger.debug(
            `certificate ${name}: waiting for the lock ${path} of ${holder.owner} (it goes stale at ${holder.expiresAt?.toISOString()} unless its holder rewrites it)`,
          );
        }
      }
      const left = waitMs - (performance.now() - started);
      if (left <= 0) return undefined;
      // Jittered back-off from ~20 ms up to ~250 ms, so waiting processes do not poll in step.
      const base = Math.min(250, 20 * 1.5 ** Math.min(attempt, 6));
      const delay = Math.min(left, base / 2 + Math.random() * base);
      try {
        await sleep(delay, undefined, signal ? { signal } : undefined);
      } catch {
        // aborted: reported at the top of the loop
      }
    }
  }

  /** Who holds the lock file of `name` and when it goes stale unless rewritten; never throws. */
  async holder(name: string): Promise<LockHolder | undefined> {
    try {
      const seen = await observe(this.lockPath(name));
      if (!seen) return undefined;
      const owner = seen.link
        ? 'a symbolic link'
        : seen.content
          ? `${seen.content.host}:${seen.content.pid}`
          : 'an unfinished lock file';
      const age = (await this.filesystemNow()) - seen.mtimeMs;
      const timeout = seen.content
        ? this.options.lockTimeoutMs
        : Math.min(this.options.lockTimeoutMs, EMPTY_LOCK_GRACE_MS);
      return { owner, expiresAt: new Date(this.options.clock.now().getTime() + Math.max(0, timeout - age)) };
    } catch {
      return undefined;
    }
  }

  private async ensureDir(): Promise<void> {
    const { layout, storeName } = this.options;
    this.ready ??= (async () => {
      await mkdirp(layout.locksDir, 0o755);
      // mkdir -p follows a planted link: make sure the lock directory is the store's own.
      await assertRealDirectories(layout.root, layout.locksDir);
      await this.sweepLeftovers().catch((error: unknown) => {
        this.options.logger.debug(`cannot sweep ${layout.locksDir}: ${describeError(error)}`);
      });
    })().catch((error: unknown) => {
      this.ready = undefined;
      throw fsError(
        ErrorCode.storeUnavailable,
        `filesystem store ${storeName}: cannot use the lock directory`,
        layout.locksDir,
        error,
      );
    });
    return this.ready;
  }

  /**
   * Removes what crashed processes left in the lock directory, once per process (at the first lock taken
   * or asked for): a lock being created (`*.lock.new-*`) or a takeover claim (`*.lock.break-*`) whose
   * writer is provably dead or that is older than BREAK_LEFTOVER_MS, and a stale lock moved aside during a
   * takeover (`*.lock.stale-*`) older than that. Never a lock. A claim is removed only while it still holds
   * what was judged (a process may claim the same name again meanwhile).
   */
  private async sweepLeftovers(): Promise<void> {
    const dir = this.options.layout.locksDir;
    const entries = (await readdir(dir)).filter((entry) =>
      /\.lock\.(?:new|stale|break)-[0-9a-z.-]+$/.test(entry),
    );
    if (entries.length === 0) return;
    const now = await this.filesystemNow();
    for (const entry of entries) {
      // What it is, by its last suffix (a claim being created is `….lock.break-<id>.new-<id>`).
      const kind = /\.(new|stale|break)-[0-9a-z-]+$/.exec(entry)?.[1];
      const path = join(dir, entry);
      const seen = await observe(path).catch(() => undefined);
      if (!seen || kind === undefined) continue;
      const dead = kind !== 'stale' && this.provablyDead(seen.content);
      if (!(seen.link || dead || now - seen.mtimeMs > BREAK_LEFTOVER_MS)) continue;
      if (kind === 'break') {
        await this.removeIfStill(path, seen.identity, seen.link).catch(() => false);
      } else {
        await unlinkQuietly(path);
      }
    }
  }

  private content(): LockFileContent {
    return {
      token: randomId(16),
      pid: this.options.pid,
      host: this.options.hostname,
      boot: this.identity.bootId,
      pidns: this.identity.pidNamespace,
      createdAt: this.options.clock.now().toISOString(),
    };
  }

  private async tryCreate(name: string, path: string): Promise<Lock | undefined> {
    await this.ensureDir();
    const content = this.content();
    const text = `${JSON.stringify(content)}\n`;
    let handle: FileHandle | undefined;
    try {
      handle = await createWhole(path, text);
    } catch (error) {
      throw fsError(
        ErrorCode.storeUnavailable,
        `certificate ${name}: cannot create the lock file`,
        path,
        error,
      );
    }
    return handle && new HeldFileLock(name, path, content.token, text, handle, this.options);
  }

  /** The filesystem's idea of "now": the mtime of a file we just wrote (one per host), never through a link. */
  private async filesystemNow(): Promise<number> {
    const probe = join(
      this.options.layout.locksDir,
      `.clock-${this.options.hostname.replace(/[^A-Za-z0-9._-]/g, '_')}`,
    );
    const flags =
      constants.O_WRONLY |
      constants.O_CREAT |
      constants.O_TRUNC |
      constants.O_NOFOLLOW |
      constants.O_NONBLOCK;
    for (let attempt = 0; ; attempt++) {
      let handle: FileHandle | undefined;
      try {
        handle = await open(probe, flags, 0o644);
        const before = await handle.stat();
        if (before.isFile()) {
          await handle.write('clock\n', 0, 'utf8');
          return (await handle.stat()).mtimeMs;
        }
      } catch (error) {
        // ELOOP: a link planted at our name; ENXIO: a FIFO. Neither is followed or written: removed below.
        if (!isErrno(error, 'ELOOP', 'ENXIO', 'EISDIR') || attempt > 0) throw error;
      } finally {
        await handle?.close().catch(() => {});
      }
      if (attempt > 0) throw new CertRenewError(ErrorCode.storeUnavailable, `${probe} is not a regular file`);
      await unlink(probe);
    }
  }

  /** Whether the owner is a process of this very host, boot and PID namespace that no longer exists. */
  private provablyDead(content: LockFileContent | undefined): boolean {
    return provablyDead(content, this.options.hostname, this.identity);
  }

  private async isStale(seen: Observed): Promise<boolean> {
    const { content } = seen;
    if (seen.link || this.provablyDead(content)) return true;
    const age = (await this.filesystemNow()) - seen.mtimeMs;
    return (
      age > (content ? this.options.lockTimeoutMs : Math.min(this.options.lockTimeoutMs, EMPTY_LOCK_GRACE_MS))
    );
  }

  /**
   * Removes `path` when it still holds `identity`: renamed to a unique name first, checked there, put back
   * when it changed meanwhile. Resolves true when removed (or already gone).
   */
  private async removeIfStill(path: string, identity: string, link_: boolean): Promise<boolean> {
    const moved = `${path}.stale-${randomId()}`;
    try {
      await rename(path, moved);
    } catch (error) {
      if (isErrno(error, 'ENOENT')) return true;
      throw error;
    }
    const now = await observe(moved);
    if (!link_ && now?.identity !== identity) {
      // Only possible when the "stale" holder was alive and released meanwhile: put the new file back.
      await link(moved, path).catch(() => {});
      await unlinkQuietly(moved);
      return false;
    }
    await unlink(moved);
    return true;
  }

  /** Removes the lock file at `path` when it is stale. Resolves true when the caller should retry at once. */
  private async breakIfStale(name: string, path: string): Promise<boolean> {
    try {
      const seen = await observe(path);
      if (!seen) return true;
      if (!(await this.isStale(seen))) return false;

      const claimPath = `${path}.break-${seen.identity}`;
      const claimToken = randomId(16);
      const claim = await createWhole(
        claimPath,
        `${JSON.stringify({ ...this.content(), token: claimToken })}\n`,
      );
      if (!claim) {
        // Another process is breaking this lock right now, or died doing it.
        const other = await observe(claimPath);
        if (
          other &&
          (this.provablyDead(other.content) ||
            other.link ||
            (await this.filesystemNow()) - other.mtimeMs > BREAK_LEFTOVER_MS)
        ) {
          if (await this.removeIfStill(claimPath, other.identity, other.link)) return true;
        }
        return false;
      }
      await claim.close().catch(() => {});
      try {
        // The lock may have been replaced between observing and claiming: then this is not our stale lock.
        const again = await observe(path);
        if (!again) return true;
        if (again.identity !== seen.identity && !(seen.link && again.link)) return true;
        if (!(await this.removeIfStill(path, again.identity, again.link))) return false;
        const holder = seen.link
          ? 'a symbolic link cert-renew did not create; removed without following it'
          : seen.content
            ? `pid ${seen.content.pid} on ${seen.content.host} since ${seen.content.createdAt}`
            : 'an unfinished lock file';
        this.options.logger.warn(`certificate ${name}: took over the stale lock ${path} (held by ${holder})`);
        return true;
      } finally {
        const mine = await observe(claimPath).catch(() => undefined);
        if (mine?.content?.token === claimToken) await unlinkQuietly(claimPath);
      }
    } catch (error) {
      throw fsError(
        ErrorCode.storeUnavailable,
        `certificate ${name}: cannot inspect the lock file`,
        path,
        error,
      );
    }
  }
}

class HeldFileLock implements Lock {
  readonly name: string;
  private readonly path: string;
  private readonly token: string;
  private readonly text: string;
  private handle: FileHandle | undefined;
  private readonly timer: NodeJS.Timeout;
  private readonly logger: Logger;
  private readonly timeoutMs: number;
  private lastRefresh = performance.now();
  /** Forgets this lock in the exit path's list (runtime/exit-cleanup.ts) once it is released. */
  private readonly forget: () => void;

  constructor(
    name: string,
    path: string,
    token: string,
    text: string,
    handle: FileHandle,
    options: FileLockerOptions,
  ) {
    this.name = name;
    this.path = path;
    this.token = token;
    this.text = text;
    this.handle = handle;
    this.logger = options.logger;
    this.timeoutMs = options.lockTimeoutMs;
    // Four refreshes per lifetime: a busy machine may delay one or two ticks without the lock going stale.
    this.timer = setInterval(() => void this.refresh(), Math.max(50, Math.floor(options.lockTimeoutMs / 4)));
    this.timer.unref();
    this.forget = holdUntilExit({
      what: `lock file ${path}`,
      releaseNow: () => this.releaseNow(),
      release: () => this.release(),
    });
  }

  /**
   * Rewrites the content through our own descriptor: moves the mtime (set by the file server) and never
   * touches a lock file that replaced ours. Called by the timer and at every phase boundary; warns when the
   * previous refresh is more than half a lifetime ago (the event loop was blocked or the disk slow).
   */
  async refresh(): Promise<void> {
    const handle = this.handle;
    if (!handle) return;
    const gap = performance.now() - this.lastRefresh;
    if (gap > this.timeoutMs / 2) {
      this.logger.warn(
        `certificate ${this.name}: the lock file ${this.path} was refreshed late (${Math.round(gap)} ms after the last refresh, lockTimeout ${this.timeoutMs} ms): the machine is busy; a longer lockTimeout is safer`,
      );
    }
    try {
      await handle.write(this.text, 0, 'utf8');
      await handle.datasync();
      this.lastRefresh = performance.now();
    } catch (error) {
      this.logger.warn(
        `certificate ${this.name}: cannot refresh the lock file ${this.path} (${describeError(error)})`,
      );
    }
  }

  /** Our token is still in the lock file (a stale takeover replaces the file with another's). */
  async stillHeld(): Promise<boolean> {
    if (!this.handle) return false;
    try {
      return (await observe(this.path))?.content?.token === this.token;
    } catch {
      return false;
    }
  }

  /** How the lock was lost: `taken` when another process's lock file is there now, else `expired`. */
  async lostHow(): Promise<LockLoss> {
    try {
      const seen = await observe(this.path);
      if (seen?.content && seen.content.token !== this.token) {
        return { kind: 'taken', by: `${seen.content.host}:${seen.content.pid}` };
      }
    } catch {
      // cannot be read: say what is certain, that ours is gone
    }
    return { kind: 'expired' };
  }

  /**
   * Deletes the lock file when it still carries our token. One that cannot be deleted (the lock directory
   * made read-only, a failing file server) is warned about, naming the file: it stays until it goes stale.
   */
  async release(): Promise<void> {
    clearInterval(this.timer);
    this.forget();
    const handle = this.handle;
    if (!handle) return;
    this.handle = undefined;
    try {
      if ((await observe(this.path))?.content?.token === this.token) await unlink(this.path);
    } catch (error) {
      // ENOENT: lost already (taken over as stale and released) or removed: nothing to release.
      if (!isErrno(error, 'ENOENT')) {
        this.logger.warn(
          `certificate ${this.name}: cannot remove the lock file ${this.path} (${describeError(error)}); it is left behind: another host waits for it until it is older than lockTimeout (${formatDuration(this.timeoutMs)}), a run on this host takes it over once this process has exited; remove it by hand once the lock directory is writable`,
        );
      }
    } finally {
      await handle.close().catch(() => {});
    }
  }

  /**
   * `release` done synchronously, for a process that exits right after (a second SIGINT/SIGTERM, see
   * runtime/exit-cleanup.ts): the lock file is removed only while it still carries our token. Never throws.
   */
  releaseNow(): void {
    clearInterval(this.timer);
    this.forget();
    if (!this.handle) return;
    this.handle = undefined; // closed by the exit
    try {
      const fd = openSync(this.path, READ_FLAGS);
      let text: string;
      try {
        const buffer = Buffer.alloc(MAX_LOCK_BYTES);
        text = buffer.toString('utf8', 0, readSync(fd, buffer, 0, MAX_LOCK_BYTES, 0));
      } finally {
        closeSync(fd);
      }
      if (parseLock(text)?.token === this.token) unlinkSync(this.path);
    } catch {
      // lost already or removed: nothing to release
    }
  }
}
