/**
 * `mkdir -p` that always returns. Node's own `mkdir(path, { recursive: true })` never settles (it loops in
 * the thread pool, and a signal cannot stop it) when a parent exists but cannot hold directories and says
 * ENOENT, as `/proc` does: a store configured at `/proc/nope/certs` hung `run` and `import` for good.
 */
import { mkdir, readlink, stat } from 'node:fs/promises';
import { dirname } from 'node:path';

function errno(error: unknown): string | undefined {
  return (error as NodeJS.ErrnoException | undefined)?.code;
}

async function isDirectory(path: string): Promise<boolean> {
  return (await stat(path).catch(() => undefined))?.isDirectory() ?? false;
}

/**
 * The error for `path` when it is a symbolic link whose target is not a directory (node's mkdir says
 * EEXIST there, which reads as "already there"); undefined when `path` is no link or leads to a directory.
 * `code` is what following the link gives (ENOENT when the target does not exist, ENOTDIR when it is no
 * directory) and `linkTarget` the link's text, for messages.
 */
export async function brokenLinkError(path: string): Promise<NodeJS.ErrnoException | undefined> {
  const target = await readlink(path).catch(() => undefined);
  if (target === undefined) return undefined;
  let code: string;
  try {
    if ((await stat(path)).isDirectory()) return undefined;
    code = 'ENOTDIR';
  } catch (error) {
    code = errno(error) ?? 'ENOENT';
  }
  const what = code === 'ENOENT' ? 'which does not exist' : 'which is not a directory';
  return Object.assign(new Error(`${path} is a symbolic link to ${target}, ${what}`), {
    code,
    path,
    linkTarget: target,
  });
}

/**
 * Creates `path` and its missing parents (each with `mode`, before the umask); resolves when `path` is a
 * directory (an existing one too, through links as `mkdir -p` does). Each level is tried at most twice,
 * so it settles. Rejects with the system error of the level that could not be made (ENOENT, EACCES,
 * ENOTDIR, EEXIST for a file in the way, …). A symbolic link in the way whose target is not a directory
 * rejects with what following it gives (ENOENT for a dangling link) and the link's text in `linkTarget`.
 */
export async function mkdirp(path: string, mode = 0o777): Promise<void> {
  try {
    await mkdir(path, { mode });
    return;
  } catch (error) {
    if (errno(error) === 'EEXIST') {
      if (await isDirectory(path)) return;
      throw (await brokenLinkError(path)) ?? error;
    }
    const parent = dirname(path);
    if (errno(error) !== 'ENOENT' || parent === path) throw error;
  }
  await mkdirp(dirname(path), mode);
  try {
    await mkdir(path, { mode });
  } catch (error) {
    if (errno(error) === 'EEXIST') {
      if (await isDirectory(path)) return;
      throw (await brokenLinkError(path)) ?? error;
    }
    throw error;
  }
}
