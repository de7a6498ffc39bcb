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
