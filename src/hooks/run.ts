/**
 * Runs one hook command: argv without a shell (a string only with `shell: true`, through `/bin/sh -c`), in
 * its own process group, with a timeout that kills the whole group, stdin closed, and the tail of its
 * output kept for the report. Scheduling (which hooks, dedupe across certificates, onFailure, rollback)
 * lives above this module; `runHook` only runs one and never throws for a hook that fails.
 *
 * Why `node:child_process` and not execa: execa's timeout, cancelSignal and forceKillAfterDelay all signal
 * the direct child only (`subprocess.kill()`), so children a hook started (`sleep 1000 &`) would survive.
 * Killing the group (`process.kill(-pid)`) with our own SIGTERM → SIGKILL escalation, and keeping only the
 * last bytes of the output (execa's maxBuffer fails the command instead), are simpler done directly.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readdir, readFile, stat } from 'node:fs/promises';
import { posix, resolve as resolvePath } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import type { HookSpec } from '../manifest/types.js';
import type { Clock } from '../runtime/clock.js';
import { formatDuration, parseDuration, timerMs } from '../util/duration.js';

export const DEFAULT_HOOK_TIMEOUT_MS = 60_000;
/** Time between SIGTERM and SIGKILL to the hook's process group. */
export const HOOK_KILL_GRACE_MS = 5_000;
/** Each of stdout and stderr keeps at most this many of its last bytes. */
export const HOOK_OUTPUT_CAP_BYTES = 8 * 1024;
export const TRUNCATED_MARKER = '…(truncated)\n';
/** The shell used for `shell: true` hooks. */
export const HOOK_SHELL = '/bin/sh';
/** After the hook itself exited, how long to wait for a background child to release its stdout/stderr. */
const STDIO_GRACE_MS = 500;
const GROUP_POLL_MS = 50;

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
  /** For `durationMs`; `performance.now()` when absent. */
  clock?: Clock;
  /** SIGTERM → SIGKILL grace. Default 5s. */
  killGraceMs?: number;
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
 * an outer run never leaks in), then `spec.env`, then the `CERT_RENEW_*` variables of this run.
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
  return { ...env, ...specEnv, ...extraEnv };
}

/** Keeps the last `cap` bytes written to a stream. */
class OutputTail {
  private chunks: Buffer[] = [];
  private size = 0;
  private truncated = false;

  constructor(private readonly cap: number) {}

  push(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.size += chunk.length;
    if (this.size > 2 * this.cap) this.compact();
  }

  private compact(): void {
    const all = Buffer.concat(this.chunks);
    if (all.length > this.cap) {
      this.truncated = true;
      this.chunks = [Buffer.from(all.subarray(all.length - this.cap))];
      this.size = this.cap;
    } else {
      this.chunks = [all];
    }
  }

  text(): string {
    this.compact();
    let bytes = this.chunks[0] ?? Buffer.alloc(0);
    if (!this.truncated) return bytes.toString('utf8');
    // Do not start in the middle of a UTF-8 sequence.
    let start = 0;
    while (start < bytes.length && start < 4 && ((bytes[start] as number) & 0xc0) === 0x80) start++;
    bytes = bytes.subarray(start);
    return TRUNCATED_MARKER + bytes.toString('utf8');
  }
}

function lastLine(text: string): string | undefined {
  const lines = text.split('\n').map((line) => line.trim());
  for (let i = lines.length - 1; i >= 0; i--) {
    const line = lines[i] as string;
    if (line !== '' && line !== TRUNCATED_MARKER.trim())
      return line.length > 200 ? `${line.slice(0, 200)}…` : line;
  }
  return undefined;
}

/**
 * True while some process of the group is alive. kill(2) also reaches zombies, which stay in the group
 * until reaped (and a container's init may never reap them), so on Linux the group's members are looked
 * up in /proc and zombies are not counted.
 */
async function groupAlive(pgid: number): Promise<boolean> {
  try {
    process.kill(-pgid, 0);
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
  if (process.platform !== 'linux') return true;
  let entries: string[];
  try {
    entries = await readdir('/proc');
  } catch {
    return true;
  }
  for (const entry of entries) {
    if (!/^[0-9]+$/.test(entry)) continue;
    let text: string;
    try {
      text = await readFile(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue;
    }
    // "pid (comm) state ppid pgrp …": comm may hold spaces and parentheses, so split after the last ')'.
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
    if (Number(fields[2]) === pgid && fields[0] !== 'Z' && fields[0] !== 'X') return true;
  }
  return false;
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

  let file: string;
  let args: string[];
  if (typeof spec.run === 'string') {
    if (spec.shell !== true) {
      return failed('was not run: a string command needs "shell": true (or write "run" as an argv array)');
    }
    file = HOOK_SHELL;
    args = ['-c', spec.run];
  } else {
    const [first, ...rest] = spec.run;
    if (first === undefined || first === '') return failed('was not run: "run" is empty');
    file = first;
    args = rest;
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
  if (options.signal?.aborted) return failed('was not run: the run was cancelled');

  const child = spawn(file, args, {
    cwd,
    env: hookEnvironment(options.baseEnv, spec.env, options.extraEnv),
    // Leader of its own process group (and session), so the timeout can kill everything it started.
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    shell: false,
    windowsHide: true,
  });
  const stdout = new OutputTail(HOOK_OUTPUT_CAP_BYTES);
  const stderr = new OutputTail(HOOK_OUTPUT_CAP_BYTES);
  child.stdout?.on('data', (chunk: Buffer) => stdout.push(chunk));
  child.stderr?.on('data', (chunk: Buffer) => stderr.push(chunk));

  const started = await new Promise<NodeJS.ErrnoException | undefined>((resolve) => {
    child.once('spawn', () => resolve(undefined));
    child.once('error', (error) => resolve(error));
  });
  // Later 'error' events (a failed kill) are not the hook's failure; the listener keeps them from throwing.
  child.on('error', () => {});
  if (started) return failed(await spawnFailure(started, file, cwd));

  return supervise(child, {
    label,
    name,
    command,
    timeoutMs,
    killGraceMs: options.killGraceMs ?? HOOK_KILL_GRACE_MS,
    signal: options.signal,
    stdout,
    stderr,
    elapsed,
  });
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

interface Supervision {
  label: string;
  name: string;
  command: string;
  timeoutMs: number;
  killGraceMs: number;
  signal: AbortSignal | undefined;
  stdout: OutputTail;
  stderr: OutputTail;
  elapsed: () => number;
}

async function supervise(child: ChildProcess, s: Supervision): Promise<HookResult> {
  const pgid = child.pid as number;
  let killReason: 'timeout' | 'abort' | undefined;
  let sigkillSent = false;
  let graceTimer: NodeJS.Timeout | undefined;
  const signalGroup = (sig: NodeJS.Signals) => {
    try {
      process.kill(-pgid, sig);
    } catch {
      // the group is already gone
    }
  };
  const terminate = (reason: 'timeout' | 'abort') => {
    if (killReason) return;
    killReason = reason;
    signalGroup('SIGTERM');
    graceTimer = setTimeout(() => {
      sigkillSent = true;
      signalGroup('SIGKILL');
    }, s.killGraceMs);
  };

  const closed = new Promise<void>((resolve) => child.once('close', () => resolve()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) {
      resolve({ code: child.exitCode, signal: child.signalCode });
    } else {
      child.once('exit', (code, signal) => resolve({ code, signal }));
    }
  });
  const timer = setTimeout(() => terminate('timeout'), timerMs(s.timeoutMs));
  const onAbort = () => terminate('abort');
  s.signal?.addEventListener('abort', onAbort, { once: true });
  if (s.signal?.aborted) onAbort();

  const { code, signal } = await exited;
  clearTimeout(timer);
  s.signal?.removeEventListener('abort', onAbort);

  if (killReason) {
    // The leader is gone; wait for the rest of its group (SIGKILL comes after the grace period).
    while (!sigkillSent && (await groupAlive(pgid))) await sleep(GROUP_POLL_MS);
    if (!sigkillSent) clearTimeout(graceTimer);
  }
  // A background child may still hold stdout/stderr open; do not wait for it beyond a short grace.
  const stdioGrace = new AbortController();
  const released = await Promise.race([
    closed.then(() => true),
    sleep(STDIO_GRACE_MS, false, { signal: stdioGrace.signal }).catch(() => false),
  ]);
  stdioGrace.abort();
  if (!released) {
    child.stdout?.destroy();
    child.stderr?.destroy();
  }

  const result: HookResult = {
    name: s.name,
    command: s.command,
    ok: false,
    timedOut: killReason === 'timeout',
    durationMs: s.elapsed(),
    stdout: s.stdout.text(),
    stderr: s.stderr.text(),
  };
  if (code !== null) result.exitCode = code;
  if (signal !== null) result.signal = signal;
  const tail = lastLine(result.stderr);
  if (killReason === 'timeout') {
    result.error = `${s.label} timed out after ${formatDuration(s.timeoutMs, 'timeout')} and was killed`;
  } else if (killReason === 'abort') {
    result.error = `${s.label} was cancelled and killed`;
  } else if (code === 0) {
    result.ok = true;
  } else if (code !== null) {
    result.error = `${s.label} exited with code ${code}${tail ? `: ${tail}` : ''}`;
  } else {
    result.error = `${s.label} was killed by ${signal ?? 'a signal'}${tail ? `: ${tail}` : ''}`;
  }
  return result;
}
