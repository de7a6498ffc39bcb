/**
 * The few asynchronous file calls every run makes (reading the manifest, a store's first `stat`s, its
 * deployments listing, `statfs`), as promises over node:fs's callback functions. They go through libuv's
 * thread pool exactly as node:fs/promises' do, so a hung network mount holds only the promise; what they
 * save is loading node:fs/promises itself (its FileHandle brings node's streams, readline and event-target
 * modules), ~1 ms of a nothing-due run that uses nothing else of it. Errors are node's (`code`, `syscall`,
 * `path`), the same as node:fs/promises gives.
 */
import { close, fstat, open, read, readdir, stat, statfs } from 'node:fs';
import { promisify } from 'node:util';

/** open(2): resolves with the file descriptor, which the caller must `closeFd`. */
export const openFd = promisify(open);
/** fstat(2) of an open descriptor. */
export const fstatFd = promisify(fstat);
/** read(2) into `buffer` at `offset`, at most `length` bytes from `position`: resolves with `bytesRead`. */
export const readFd = promisify(read);
/** close(2). */
export const closeFd = promisify(close);
/** stat(2), following symbolic links. */
export const statPath = promisify(stat);
/** The names in a directory (not `.` or `..`), as strings. */
export const readdirNames = (path: string): Promise<string[]> => promisify(readdir)(path);
/** statfs(2): what filesystem holds `path`. */
export const statfsPath = promisify(statfs);
