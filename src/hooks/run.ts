/**
 * Runs one hook command: argv without a shell (a string only with `shell: true`, through `/bin/sh -c`), in
 * its own process group, with a timeout that kills the whole group, stdin closed, and the tail of its
 * output kept for the report. Scheduling (which hooks, dedupe across certificates, onFailure, rollback)
 * lives above this module; `runHook` only runs one and never throws for a hook that fails.
 *
 * The process itself (no shell, process group, kill on timeout, output tail) is src/runtime/process.ts.
 */
import { stat } from 'node:fs/promises';
import { posix, resolve as resolvePath } from 'node:path';
import type { HookSpec } from '../manifest/types.js';
import type { Clock } from '../runtime/clock.js';
import {
  KILL_GRACE_MS,
  lastLine,
  OUTPUT_CAP_BYTES,
  type ProcessRunner,
  runProcess,
  SHELL,
  TRUNCATED_MARKER,
} from '../runtime/process.js';
import { formatDuration, parseDuration } from '../util/duration.js';
import { rememberSecretEnvironment, safeText } from '../util/text.js';

export { TRUNCATED_MARKER };

export const DEFAULT_HOOK_TIMEOUT_MS = 60_000;
/** Time between SIGTERM and SIGKILL to the hook's process group. */
export const HOOK_KILL_GRACE_MS = KILL_GRACE_MS;
/** Each of stdout and stderr keeps at most this many of its last bytes. */
export const HOOK_OUTPUT_CAP_BYTES = OUTPUT_CAP_BYTES;
/** The shell used for `shell: true` hooks. */
export const HOOK_SHELL = SHELL;

export interface HookResult {
  /** `spec.name`, or the command. */
  name: string;
  /** Display form: argv joined with shell quoting, or the shell string. */
  command: string;
  ok: boolean;
  exitCode?: number;
  signal?: string;
  timedOut: boolean;
  durationMs: number;
  /** The last 8 KiB, starting with "…(truncated)" when more was written. */
  stdout: string;
  stderr: string;
  /** One line naming the hook, when `ok` is false. */
  error?: string;
  /**
   * The run was interrupted (SIGINT, SIGTERM, SIGHUP): the hook was killed for it, or not started. Not a
   * failure of the hook (`ok` is false: it did not succeed); absent otherwise.
   */
  cancelled?: true;
}

export interface RunHookOptions {
  /** The process environment, passed in by the entry point. */
  baseEnv: Record<string, string | undefined>;
  /** `CERT_RENEW_*` variables (src/hooks/env.ts); they win over everything else. */
  extraEnv: Record<string, string>;
  /** Directory of the manifest: a relative `cwd` (and the default cwd) resolve against it. */
  baseDir: string;
  /** Used when the spec has no `timeout`. Default 60s. */
  defaultTimeoutMs?: number;
  /** Aborting kills the hook (its whole process group) like a timeout does. */
  signal?: AbortSignal;
  /** For `durationMs`; the global `performance.now()` when absent (node loads it on first use). */
  clock?: Clock;
  /** SIGTERM → SIGKILL grace. Default 5s. */
  killGraceMs?: number;
  /** Runs the process; the real runner (src/runtime/process.ts) when absent. */
  runner?: ProcessRunner;
}

const SAFE_ARG = /^[A-Za-z0-9_@%+=:,./-]+$/;

/** Quotes one argument for display the way a POSIX shell would read it back. */
export function shellQuote(arg: string): string {
  if (SAFE_ARG.test(arg)) return arg;
  return `'${arg.replaceAll("'", `'\\''`)}'`;
}

/** The command as a reader would type it: argv quoted and joined, or the shell string as written. */
export function hookCommand(spec: HookSpec): string {
  return typeof spec.run === 'string' ? spec.run : spec.run.map(shellQuote).join(' ');
}

/** `spec.name`, or the command. */
export function hookDisplayName(spec: HookSpec): string {
  return spec.name !== undefined && spec.name !== '' ? spec.name : hookCommand(spec);
}

/**
 * A stable key for "identical hooks run once per run": run, shell, cwd, env and timeout in a canonical
 * order (env keys sorted, timeout in milliseconds, `shell` false when absent). `name` is not part of it.
 */
export function hookIdentity(spec: HookSpec): string {
  const env = Object.entries(spec.env ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const timeout = spec.timeout === undefined ? null : (parseDuration(spec.timeout) ?? spec.timeout);
  let cwd = posix.normalize(spec.cwd ?? '.');
  if (cwd.length > 1 && cwd.endsWith('/')) cwd = cwd.slice(0, -1);
  return JSON.stringify({ run: spec.run, shell: spec.shell === true, cwd, env, timeout });
}

/** The hook's working directory: `spec.cwd` resolved against the manifest's directory (default: it). */
export function hookCwd(spec: HookSpec, baseDir: string): string {
  return resolvePath(baseDir, spec.cwd ?? '.');
}

/**
 * The hook's environment: the process environment without any inherited `CERT_RENEW_*` (so a value from
 * an outer run never leaks in), then `spec.env`, then the `CERT_RENEW_*` variables of this run. The values
 * of `spec.env` whose names say they are secrets are remembered as such (src/util/text.ts), so the hook's
 * output and errors show them as `***`.
 */
export function hookEnvironment(
  baseEnv: Record<string, string | undefined>,
  specEnv: Record<string, string> | undefined,
  extraEnv: Record<string, string>,
): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(baseEnv)) {
    if (value !== undefined && !key.startsWith('CERT_RENEW_')) env[key] = value;
  }
  if (specEnv) rememberSecretEnvironment(specEnv);
  return { ...env, ...specEnv, ...extraEnv };
}

/** Runs one hook. Resolves with its result in every case; a failing hook is `ok: false`, never a throw. */
export async function runHook(spec: HookSpec, options: RunHookOptions): Promise<HookResult> {
  const clock = options.clock;
  const startedAt = clock ? clock.now().getTime() : performance.now();
  const elapsed = () =>
    Math.max(0, Math.round((clock ? clock.now().getTime() : performance.now()) - startedAt));
  const name = hookDisplayName(spec);
  const command = hookCommand(spec);
  const label = `hook '${name}'`;
  const failed = (message: string): HookResult => ({
    name,
    command,
    ok: false,
    timedOut: false,
    durationMs: elapsed(),
    stdout: '',
    stderr: '',
    error: `${label} ${message}`,
  });

  if (typeof spec.run === 'string') {
    if (spec.shell !== true) {
      return failed('was not run: a string command needs "shell": true (or write "run" as an argv array)');
    }
  } else if (spec.run[0] === undefined || spec.run[0] === '') {
    return failed('was not run: "run" is empty');
  }

  let timeoutMs = options.defaultTimeoutMs ?? DEFAULT_HOOK_TIMEOUT_MS;
  if (spec.timeout !== undefined) {
    const parsed = parseDuration(spec.timeout);
    if (parsed === undefined || parsed <= 0) {
      return failed(`was not run: invalid timeout ${JSON.stringify(spec.timeout)} (use e.g. "30s")`);
    }
    timeoutMs = parsed;
  }

  const cwd = hookCwd(spec, options.baseDir);
  try {
    if (!(await stat(cwd)).isDirectory())
      return failed(`was not run: working directory is not a directory: ${cwd}`);
  } catch {
    return failed(`was not run: working directory does not exist: ${cwd}`);
  }
  if (options.signal?.aborted) return { ...failed('was not run: the run was interrupted'), cancelled: true };

  const run = await (options.runner ?? runProcess)({
    ...(typeof spec.run === 'string' ? { shell: spec.run } : { argv: spec.run }),
    cwd,
    env: hookEnvironment(options.baseEnv, spec.env, options.extraEnv),
    timeoutMs,
    killGraceMs: options.killGraceMs ?? HOOK_KILL_GRACE_MS,
    outputCapBytes: HOOK_OUTPUT_CAP_BYTES,
    ...(options.signal ? { signal: options.signal } : {}),
  });
  if (run.outcome === 'not-started') return failed(await spawnFailure(run.error, run.file, cwd));

  const result: HookResult = {
    name,
    command,
    ok: false,
    timedOut: run.outcome === 'timed-out',
    durationMs: elapsed(),
    // What it printed goes into the report (--json) as text: credentials hidden, control characters escaped.
    stdout: safeText(run.stdout, true),
    stderr: safeText(run.stderr, true),
  };
  if (run.exitCode !== undefined) result.exitCode = run.exitCode;
  if (run.signal !== undefined) result.signal = run.signal;
  const tail = lastLine(result.stderr);
  if (run.outcome === 'timed-out') {
    result.error = `${label} timed out after ${formatDuration(timeoutMs, 'timeout')} and was killed`;
  } else if (run.outcome === 'cancelled') {
    result.error = `${label} was killed: the run was interrupted`;
    result.cancelled = true;
  } else if (run.exitCode === 0) {
    result.ok = true;
  } else if (run.exitCode !== undefined) {
    result.error = `${label} exited with code ${run.exitCode}${tail ? `: ${tail}` : ''}`;
  } else {
    result.error = `${label} was killed by ${run.signal ?? 'a signal'}${tail ? `: ${tail}` : ''}`;
  }
  return result;
}

async function spawnFailure(error: NodeJS.ErrnoException, file: string, cwd: string): Promise<string> {
  if (error.code === 'ENOENT') {
    if (file.includes('/')) {
      try {
        await stat(resolvePath(cwd, file));
        return `could not start: the interpreter named on the first line of ${file} was not found`;
      } catch {
        return `failed: not found: ${file}`;
      }
    }
    return `failed: not found: ${file} (not on PATH)`;
  }
  if (error.code === 'EACCES') return `failed: not executable (permission denied): ${file}`;
  return `could not start: ${error.message.split('\n')[0]}`;
}
