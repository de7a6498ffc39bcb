/**
 * `mkdir -p` that always returns. Node's own `mkdir(path, { recursive: true })` never settles (it loops in
 * the thread pool, and a signal cannot stop it) when a parent exists but cannot hold directories and says
 * ENOENT, as `/proc` does: a store configured at `/proc/nope/certs` hung `run` and `import` for good.
 */
import { mkdir, stat } from 'node:fs/promises';
import { dirname } from 'node:path';

function errno(error: unknown): string | undefined {
  return (error as NodeJS.ErrnoException | undefined)?.code;
}

async function isDirectory(path: string): Promise<boolean> {
  return (await stat(path).catch(() => undefined))?.isDirectory() ?? false;
}

/**
 * Creates `path` and its missing parents (each with `mode`, before the umask); resolves when `path` is a
 * directory (an existing one too, through links as `mkdir -p` does). Each level is tried at most twice,
 * so it settles. Rejects with the system error of the level that could not be made (ENOENT, EACCES,
 * ENOTDIR, EEXIST for a file in the way, …).
 */
export async function mkdirp(path: string, mode = 0o777): Promise<void> {
  try {
    await mkdir(path, { mode });
    return;
  } catch (error) {
    if (errno(error) === 'EEXIST' && (await isDirectory(path))) return;
    const parent = dirname(path);
    if (errno(error) !== 'ENOENT' || parent === path) throw error;
  }
  await mkdirp(dirname(path), mode);
  try {
    await mkdir(path, { mode });
  } catch (error) {
    if (errno(error) === 'EEXIST' && (await isDirectory(path))) return;
    throw error;
  }
}
