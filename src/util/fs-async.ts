/**
 * The few asynchronous file calls every run makes (a filesystem store's first `stat`s, its listings,
 * `statfs`), as promises over node:fs's callback functions. They go through libuv's
 * thread pool exactly as node:fs/promises' do, so a hung network mount holds only the promise; what they
 * save is loading node:fs/promises itself (its FileHandle brings node's streams, readline and event-target
 * modules), ~1 ms of a nothing-due run that uses nothing else of it. Errors are node's (`code`, `syscall`,
 * `path`), the same as node:fs/promises gives.
 */
import { type Dirent, readdir, stat, statfs } from 'node:fs';
import { promisify } from 'node:util';

/** stat(2), following symbolic links. */
export const statPath = promisify(stat);
/** The names in a directory (not `.` or `..`), as strings. */
export function readdirNames(path: string): Promise<string[]> {
  return new Promise((resolve, reject) => {
    readdir(path, (error, names) => (error ? reject(error) : resolve(names)));
  });
}
/** The entries of a directory (not `.` or `..`), with their types as the directory lists them. */
export function readdirEntries(path: string): Promise<Dirent[]> {
  return new Promise((resolve, reject) => {
    readdir(path, { withFileTypes: true }, (error, entries) => (error ? reject(error) : resolve(entries)));
  });
}
/** statfs(2): what filesystem holds `path`. */
export const statfsPath = promisify(statfs);

/** A listing kept by `listedSinceChange`, with the directory's stat(2) taken just before it was made. */
export interface KeptListing<T> {
  ino: number;
  mtimeMs: number;
  ctimeMs: number;
  listing: T;
}

/**
 * What `list` makes of `dir`, made again only when the directory changed since the listing kept in
 * `kept` under `key` (its inode, mtime or ctime differ): for listings a plan needs batch after batch (10,000
 * certificates are read in 100 batches, and listing 10,000 names for each cost more than what they spare).
 * The stat comes first, so a change during a listing is seen at the next call. A change made within the
 * same timestamp tick as the listing, on a filesystem with coarse timestamps, is seen at the next change of
 * the directory or the next process; callers that change the directory themselves delete their key.
 * Rejects with the stat's or the listing's error (ENOENT for a directory not there).
 */
export async function listedSinceChange<T>(
  kept: WeakMap<object, KeptListing<T>>,
  key: object,
  dir: string,
  list: (dir: string) => Promise<T>,
): Promise<T> {
  const info = await statPath(dir);
  const known = kept.get(key);
  if (known && known.ino === info.ino && known.mtimeMs === info.mtimeMs && known.ctimeMs === info.ctimeMs)
    return known.listing;
  const listing = await list(dir);
  kept.set(key, { ino: info.ino, mtimeMs: info.mtimeMs, ctimeMs: info.ctimeMs, listing });
  return listing;
}
