/**
 * Lock files for the filesystem store, safe on NFS (no flock): `<locksDir>/<name>.lock` is created with
 * O_EXCL and holds `{token, pid, host, createdAt}`. While held, its holder rewrites it every
 * `lockTimeout / 3` so its mtime stays fresh. A lock is stale when its mtime is older than `lockTimeout`,
 * or when it was taken on this host by a process that no longer exists. Ages are measured against the
 * filesystem's own clock (the mtime of a file we touch), so clients with skewed clocks agree.
 *
 * Taking over a stale lock is race-free between processes:
 *   1. hard-link the lock file to `<name>.lock.break-<token>`: link fails with EEXIST for all but one
 *      process, so only one breaks a given stale lock;
 *   2. the winner checks the linked file still carries the stale token (the lock may have been replaced
 *      between reading and linking), then renames the lock file to a unique name, checks the token once more
 *      (restoring the file if it changed) and deletes it;
 *   3. everyone goes back to creating the lock with O_EXCL, where exactly one succeeds.
 */

import type { FileHandle } from 'node:fs/promises';
import { link, mkdir, open, readFile, rename, stat, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { CertRenewError, describeError, ErrorCode } from '../../errors.js';
import type { Clock } from '../../runtime/clock.js';
import type { Logger } from '../../runtime/logger.js';
import type { FilesystemLayout } from '../keys.js';
import type { AcquireOptions, Lock, Locker } from '../types.js';
import { fsError, isErrno, randomId, unlinkQuietly } from './fs-util.js';

export interface LockFileContent {
  token: string;
  pid: number;
  host: string;
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
  clock: Clock;
  logger: Logger;
}

/** A lock file with no readable content (its creator died between creating and writing it) is stale sooner. */
const EMPTY_LOCK_GRACE_MS = 10_000;
/** A `.break-*` link left by a process that died while taking over a stale lock is removed after this. */
const BREAK_LEFTOVER_MS = 30_000;

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
        createdAt: String(value.createdAt ?? ''),
      };
    }
  } catch {
    // not JSON: a lock file whose creator died before writing it
  }
  return undefined;
}

function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return !isErrno(error, 'ESRCH');
  }
}

interface Observed {
  /** The token, or for a lock file without content its inode and mtime. */
  identity: string;
  content: LockFileContent | undefined;
  mtimeMs: number;
}

async function observe(path: string): Promise<Observed | undefined> {
  try {
    const [info, text] = await Promise.all([stat(path), readFile(path, 'utf8')]);
    const content = parseLock(text);
    return {
      identity: content?.token ?? `ino-${info.ino}-${Math.floor(info.mtimeMs)}`,
      content,
      mtimeMs: info.mtimeMs,
    };
  } catch (error) {
    if (isErrno(error, 'ENOENT')) return undefined;
    throw error;
  }
}

export class FileLocker implements Locker {
  private readonly options: FileLockerOptions;
  private ready: Promise<void> | undefined;

  constructor(options: FileLockerOptions) {
    this.options = options;
  }

  lockPath(name: string): string {
    return this.options.layout.lock(name);
  }

  async acquire(name: string, { waitMs, signal }: AcquireOptions): Promise<Lock | undefined> {
    const path = this.lockPath(name);
    const started = performance.now();
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

  private async ensureDir(): Promise<void> {
    this.ready ??= mkdir(this.options.layout.locksDir, { recursive: true, mode: 0o755 }).then(
      () => undefined,
      (error: unknown) => {
        this.ready = undefined;
        throw fsError(
          ErrorCode.storeUnavailable,
          `filesystem store ${this.options.storeName}: cannot create the lock directory`,
          this.options.layout.locksDir,
          error,
        );
      },
    );
    return this.ready;
  }

  private async tryCreate(name: string, path: string): Promise<Lock | undefined> {
    await this.ensureDir();
    const content: LockFileContent = {
      token: randomId(16),
      pid: this.options.pid,
      host: this.options.hostname,
      createdAt: this.options.clock.now().toISOString(),
    };
    const text = `${JSON.stringify(content)}\n`;
    let handle: FileHandle;
    try {
      handle = await open(path, 'wx', 0o644);
    } catch (error) {
      if (isErrno(error, 'EEXIST')) return undefined;
      throw fsError(
        ErrorCode.storeUnavailable,
        `certificate ${name}: cannot create the lock file`,
        path,
        error,
      );
    }
    try {
      await handle.writeFile(text);
      await handle.sync();
    } catch (error) {
      await handle.close().catch(() => {});
      await unlinkQuietly(path);
      throw fsError(
        ErrorCode.storeUnavailable,
        `certificate ${name}: cannot write the lock file`,
        path,
        error,
      );
    }
    return new HeldFileLock(name, path, content.token, text, handle, this.options);
  }

  /** The filesystem's idea of "now": the mtime of a file we just wrote (one per host). */
  private async filesystemNow(): Promise<number> {
    const probe = join(
      this.options.layout.locksDir,
      `.clock-${this.options.hostname.replace(/[^A-Za-z0-9._-]/g, '_')}`,
    );
    await writeFile(probe, 'clock\n');
    return (await stat(probe)).mtimeMs;
  }

  private async isStale(seen: Observed): Promise<boolean> {
    const { content } = seen;
    if (content && content.host === this.options.hostname && !processExists(content.pid)) return true;
    const age = (await this.filesystemNow()) - seen.mtimeMs;
    return (
      age > (content ? this.options.lockTimeoutMs : Math.min(this.options.lockTimeoutMs, EMPTY_LOCK_GRACE_MS))
    );
  }

  /** Removes the lock file at `path` when it is stale. Resolves true when the caller should retry at once. */
  private async breakIfStale(name: string, path: string): Promise<boolean> {
    try {
      const seen = await observe(path);
      if (!seen) return true;
      if (!(await this.isStale(seen))) return false;

      const breakPath = `${path}.break-${seen.identity}`;
      try {
        await link(path, breakPath);
      } catch (error) {
        if (isErrno(error, 'ENOENT')) return true;
        if (!isErrno(error, 'EEXIST')) throw error;
        // Another process is breaking this lock right now, or died doing it long ago.
        const leftover = await stat(breakPath).catch(() => undefined);
        if (leftover && (await this.filesystemNow()) - leftover.ctimeMs > BREAK_LEFTOVER_MS) {
          await unlinkQuietly(breakPath);
        }
        return false;
      }
      try {
        // The lock may have been replaced between observing and linking: then this is not our stale lock.
        if ((await observe(breakPath))?.identity !== seen.identity) return false;
        const moved = `${path}.stale-${randomId()}`;
        try {
          await rename(path, moved);
        } catch (error) {
          if (isErrno(error, 'ENOENT')) return true;
          throw error;
        }
        if ((await observe(moved))?.identity !== seen.identity) {
          // Only possible when the "stale" holder was alive and released meanwhile: put the new lock back.
          await link(moved, path).catch(() => {});
          await unlinkQuietly(moved);
          return false;
        }
        await unlink(moved);
        const holder = seen.content
          ? `pid ${seen.content.pid} on ${seen.content.host} since ${seen.content.createdAt}`
          : 'an unfinished lock file';
        this.options.logger.warn(`certificate ${name}: took over the stale lock ${path} (held by ${holder})`);
        return true;
      } finally {
        await unlinkQuietly(breakPath);
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
    // Rewriting the content through our own descriptor moves the mtime (set by the file server) and never
    // touches a lock file that replaced ours.
    this.timer = setInterval(() => void this.refresh(), Math.max(50, Math.floor(options.lockTimeoutMs / 3)));
    this.timer.unref();
  }

  private async refresh(): Promise<void> {
    try {
      await this.handle?.write(this.text, 0, 'utf8');
      await this.handle?.datasync();
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
      return parseLock(await readFile(this.path, 'utf8'))?.token === this.token;
    } catch {
      return false;
    }
  }

  async release(): Promise<void> {
    clearInterval(this.timer);
    const handle = this.handle;
    if (!handle) return;
    this.handle = undefined;
    try {
      const content = parseLock(await readFile(this.path, 'utf8'));
      if (content?.token === this.token) await unlink(this.path);
    } catch {
      // lost already (taken over as stale) or removed: nothing to release
    } finally {
      await handle.close().catch(() => {});
    }
  }
}
