/**
 * What a process about to exit at once must still undo (docs/operations.md "Interrupted runs"): the process
 * groups of the programs it started (hooks, the dns-01 `exec` provider) and the certificate locks it holds.
 * A first SIGINT/SIGTERM/SIGHUP stops a run in order (each hook killed, each lock released where it was
 * taken); a second one cannot wait for that, so `src/cli.ts` calls `killProcessGroupsNow`,
 * `releaseRemoteLocks` and `releaseLocalLocksNow` here and exits.
 *
 * Process groups are registered by the process runner (runtime/process.ts) while their leader may still
 * have members; locks by the stores' lockers while they are held; temporary files by atomic writes while
 * they are written (an exit at once removes them: `removeTemporaryFilesNow`). Registration returns the
 * function that forgets the entry again.
 */
import { rmSync } from 'node:fs';

/** A held lock, as the exit path may release it. */
export interface HeldForExit {
  /** What it is, for the one line said at exit (`lock file /…/web.lock`, `Redis lock cert-renew:lock:{web}`). */
  readonly what: string;
  /**
   * Releases it synchronously (only when it is still ours), so nothing else of the process runs between the
   * release and the exit; absent when the store cannot (a network store). Never throws.
   */
  releaseNow?(): void;
  /** Releases it (only when it is still ours). Never throws. */
  release(): Promise<void>;
}

const groups = new Set<number>();
const temporaries = new Set<string>();

/**
 * Registers `path`, a file an atomic write is filling before it renames it into place (a metrics file, a
 * store's file); returns its forget function (call it once it is renamed or removed).
 */
export function temporaryUntilExit(path: string): () => void {
  temporaries.add(path);
  return () => {
    temporaries.delete(path);
  };
}

/**
 * Removes the temporary files atomic writes were filling, synchronously, for an exit at once: a stopped
 * `status --metrics-file` left a half-written `.tmp-*` beside the metrics file. Returns how many. Never
 * throws.
 */
export function removeTemporaryFilesNow(): number {
  let removed = 0;
  for (const path of temporaries) {
    try {
      rmSync(path, { force: true });
      removed++;
    } catch {
      // gone, or not ours to remove: nothing more to do at exit
    }
  }
  temporaries.clear();
  return removed;
}
const locks = new Set<HeldForExit>();

/** Registers the process group `pgid` (its leader's pid) as possibly alive; returns its forget function. */
export function trackProcessGroup(pgid: number): () => void {
  groups.add(pgid);
  return () => {
    groups.delete(pgid);
  };
}

/** Registers a held lock; returns its forget function (call it when the lock is released or lost). */
export function holdUntilExit(lock: HeldForExit): () => void {
  locks.add(lock);
  return () => {
    locks.delete(lock);
  };
}

/**
 * Sends SIGKILL to every registered process group, at once, and forgets them. Returns how many groups
 * still had a process to signal.
 */
export function killProcessGroupsNow(): number {
  let killed = 0;
  for (const pgid of groups) {
    try {
      process.kill(-pgid, 'SIGKILL');
      killed += 1;
    } catch {
      // the group is already gone
    }
  }
  groups.clear();
  return killed;
}

/**
 * Releases the registered locks that can only be released asynchronously (a network store's), together,
 * waiting at most `waitMs` for them. Resolves with how many were released and what is left (each `what`):
 * a lock still being released at `waitMs` is left to expire by itself. Never rejects. Call
 * `releaseLocalLocksNow` after it, right before exiting.
 */
export async function releaseRemoteLocks(waitMs: number): Promise<{ released: number; left: string[] }> {
  const pending = [...locks].filter((lock) => !lock.releaseNow);
  if (pending.length === 0) return { released: 0, left: [] };
  for (const lock of pending) locks.delete(lock);
  const done = new Set<HeldForExit>();
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    Promise.all(pending.map((lock) => lock.release().then(() => done.add(lock)))),
    new Promise<void>((resolve) => {
      timer = setTimeout(resolve, waitMs);
    }),
  ]);
  clearTimeout(timer);
  return { released: done.size, left: pending.filter((l) => !done.has(l)).map((l) => l.what) };
}

/**
 * Releases every registered lock that can be released synchronously (lock files), at once, so that nothing
 * else of the process runs between the release and an exit that follows in the same tick. A lock that
 * cannot be released so is left (its `what` in `left`). Returns how many were released.
 */
export function releaseLocalLocksNow(): { released: number; left: string[] } {
  const held = [...locks];
  locks.clear();
  let released = 0;
  const left: string[] = [];
  for (const lock of held) {
    if (lock.releaseNow) {
      lock.releaseNow();
      released += 1;
    } else {
      left.push(lock.what);
    }
  }
  return { released, left };
}
