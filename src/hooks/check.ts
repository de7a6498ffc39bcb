/**
 * The dry-run check of a hook: would it start? The command is looked up the way the kernel's execvp would
 * (a name with a slash as a path against the hook's cwd, otherwise each PATH entry in turn) and must be a
 * regular file we may execute; the working directory must exist. Nothing is ever run, and a shell string
 * is never parsed: for `shell: true` only `/bin/sh` is checked.
 */
import { stat } from 'node:fs/promises';
import type { HookSpec } from '../manifest/types.js';
import { findExecutable } from '../runtime/process.js';
import { HOOK_SHELL, hookCwd, hookEnvironment } from './run.js';

/** `message`: what keeps the hook from starting, without the hook's name (the caller gives it). */
export type HookCheckResult = { ok: true; resolved: string } | { ok: false; message: string };

export async function checkHookRunnable(
  spec: HookSpec,
  baseEnv: Record<string, string | undefined>,
  baseDir: string,
): Promise<HookCheckResult> {
  // The caller names the hook (`hook NAME: …`): the message says only what is wrong with it.
  const fail = (message: string): HookCheckResult => ({ ok: false, message });

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

  const env = hookEnvironment(baseEnv, spec.env, {});
  const found = await findExecutable(command, cwd, env.PATH);
  if (found.found) return { ok: true, resolved: found.path };
  if (command.includes('/')) {
    if (found.why === 'missing')
      return fail(`not found: ${command}${command.startsWith('/') ? '' : ` (relative to ${cwd})`}`);
    if (found.why === 'not-a-file') return fail(`not a file: ${command}`);
    return fail(`not executable: ${command} (permission denied)`);
  }
  if (found.why === 'not-executable') return fail(`not executable: ${found.path} (permission denied)`);
  return fail(`not found on PATH: ${command}`);
}
