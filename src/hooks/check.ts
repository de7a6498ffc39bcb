/**
 * The dry-run check of a hook: would it start? The command is looked up the way the kernel's execvp would
 * (a name with a slash as a path against the hook's cwd, otherwise each PATH entry in turn) and must be a
 * regular file we may execute; the working directory must exist. Nothing is ever run, and a shell string
 * is never parsed: for `shell: true` only `/bin/sh` is checked.
 */
import { constants } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import { delimiter, resolve as resolvePath } from 'node:path';
import type { HookSpec } from '../manifest/types.js';
import { HOOK_SHELL, hookCwd, hookDisplayName, hookEnvironment } from './run.js';

export type HookCheckResult = { ok: true; resolved: string } | { ok: false; message: string };

/** What execvp searches when the environment has no PATH. */
const DEFAULT_PATH = '/usr/bin:/bin';

type FileState = 'ok' | 'missing' | 'not-a-file' | 'not-executable';

async function executableState(path: string): Promise<FileState> {
  try {
    if (!(await stat(path)).isFile()) return 'not-a-file';
  } catch {
    return 'missing';
  }
  try {
    await access(path, constants.X_OK);
    return 'ok';
  } catch {
    return 'not-executable';
  }
}

export async function checkHookRunnable(
  spec: HookSpec,
  baseEnv: Record<string, string | undefined>,
  baseDir: string,
): Promise<HookCheckResult> {
  const label = `hook '${hookDisplayName(spec)}'`;
  const fail = (message: string): HookCheckResult => ({ ok: false, message: `${label}: ${message}` });

  const cwd = hookCwd(spec, baseDir);
  try {
    if (!(await stat(cwd)).isDirectory()) return fail(`working directory is not a directory: ${cwd}`);
  } catch {
    return fail(`working directory does not exist: ${cwd}`);
  }

  let command: string;
  if (typeof spec.run === 'string') {
    if (spec.shell !== true)
      return fail('a string command needs "shell": true (or write "run" as an argv array)');
    command = HOOK_SHELL;
  } else {
    const first = spec.run[0];
    if (first === undefined || first === '') return fail('"run" is empty');
    command = first;
  }

  if (command.includes('/')) {
    const path = resolvePath(cwd, command);
    const state = await executableState(path);
    if (state === 'ok') return { ok: true, resolved: path };
    if (state === 'missing') return fail(`not found: ${command}`);
    if (state === 'not-a-file') return fail(`not a file: ${command}`);
    return fail(`not executable: ${command} (permission denied)`);
  }

  const env = hookEnvironment(baseEnv, spec.env, {});
  const searchPath = env.PATH ?? DEFAULT_PATH;
  let denied: string | undefined;
  for (const entry of searchPath.split(delimiter)) {
    // An empty PATH entry means the current directory, as for execvp.
    const path = resolvePath(cwd, entry === '' ? '.' : entry, command);
    const state = await executableState(path);
    if (state === 'ok') return { ok: true, resolved: path };
    if (state === 'not-executable') denied ??= path;
  }
  if (denied) return fail(`not executable: ${denied} (permission denied)`);
  return fail(`not found on PATH: ${command}`);
}
