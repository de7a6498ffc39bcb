/**
 * The one way cert-renew runs another program (hooks, the dns-01 `exec` provider): argv without a shell (a
 * `/bin/sh -c` string only when the caller asks for one), stdin closed, an environment given whole (nothing
 * inherited), in its own process group so a timeout or an abort kills everything it started (SIGTERM to the
 * group, SIGKILL after a grace period), and only the last bytes of stdout and stderr kept. Also the PATH
 * lookup that dry runs use to say whether a command would start. The runner never throws for a program that
 * fails; a program that cannot start comes back as `not-started`.
 *
 * Why `node:child_process` and not execa: execa's timeout, cancelSignal and forceKillAfterDelay all signal
 * the direct child only (`subprocess.kill()`), so children a script started (`sleep 1000 &`) would survive.
 * Killing the group (`process.kill(-pid)`) with our own SIGTERM → SIGKILL escalation, and keeping only the
 * last bytes of the output (execa's maxBuffer fails the command instead), are simpler done directly.
 */

import type { ChildProcess } from 'node:child_process';
import { constants } from 'node:fs';
import { access, readdir, readFile, stat } from 'node:fs/promises';
import { delimiter, resolve as resolvePath } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { timerMs } from '../util/duration.js';
import { safeText } from '../util/text.js';
import { trackProcessGroup } from './exit-cleanup.js';

/** The shell for commands given as one string (only where the manifest asks for a shell). */
export const SHELL = '/bin/sh';
/** Default time between SIGTERM and SIGKILL to the process group. */
export const KILL_GRACE_MS = 5_000;
/** Default: each of stdout and stderr keeps at most this many of its last bytes. */
export const OUTPUT_CAP_BYTES = 8 * 1024;
/** Starts captured output that was cut to its last bytes. */
export const TRUNCATED_MARKER = '…(truncated)\n';
/** What execvp searches when the environment has no PATH. */
const DEFAULT_PATH = '/usr/bin:/bin';
/** After the program itself exited, how long to wait for a background child to release stdout/stderr. */
const STDIO_GRACE_MS = 500;
const GROUP_POLL_MS = 50;

export interface ProcessRequest {
  /**
   * The program and its arguments, passed as they are (no shell). A program name without a slash is
   * looked up in `env.PATH` (else /usr/bin:/bin) like execvp does; with a slash it is relative to `cwd`.
   */
  argv?: readonly string[];
  /** Instead of `argv`: a command line run by `/bin/sh -c`. Only for callers asked for a shell. */
  shell?: string;
  cwd: string;
  /** The whole environment of the program; nothing is inherited. Undefined values are left out. */
  env: Readonly<Record<string, string | undefined>>;
  /** After this many milliseconds the process group is killed (`outcome: 'timed-out'`). */
  timeoutMs: number;
  /** Aborting kills the process group like a timeout does (`outcome: 'cancelled'`). */
  signal?: AbortSignal;
  /** SIGTERM → SIGKILL grace in milliseconds. Default KILL_GRACE_MS. */
  killGraceMs?: number;
  /** Bytes of the end of stdout and of stderr kept. Default OUTPUT_CAP_BYTES. */
  outputCapBytes?: number;
  /**
   * Written to the program's standard input, which is then closed (e.g. an nsupdate script that holds a
   * secret, so it never appears in an argv). Without it, standard input is closed from the start.
   */
  input?: string;
}

/** How a program that started ended. `stdout`/`stderr` are the kept tails (see TRUNCATED_MARKER). */
export interface ProcessFinished {
  /** `exited` (see exitCode), `killed` by a signal the runner did not send, or killed by the runner. */
  outcome: 'exited' | 'killed' | 'timed-out' | 'cancelled';
  exitCode?: number;
  signal?: NodeJS.Signals;
  stdout: string;
  stderr: string;
}

/** The program could not be started: `error.code` is ENOENT (not found, or its interpreter), EACCES, … */
export interface ProcessNotStarted {
  outcome: 'not-started';
  /** The program that was to be run (argv[0], or the shell). */
  file: string;
  error: NodeJS.ErrnoException;
}

export type ProcessResult = ProcessFinished | ProcessNotStarted;

/** Runs one program to its end (see the module header). Injected through deps; tests may pass their own. */
export type ProcessRunner = (request: ProcessRequest) => Promise<ProcessResult>;

/** The real runner. Never rejects. */
export const runProcess: ProcessRunner = async (request) => {
  const [file, args] =
    request.shell !== undefined
      ? [SHELL, ['-c', request.shell]]
      : [request.argv?.[0] ?? '', request.argv?.slice(1) ?? []];
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(request.env)) if (value !== undefined) env[key] = value;
  // Loaded on the first run of a program: a run with nothing to deploy starts none (~2 ms of start-up).
  const { spawn } = await import('node:child_process');
  let child: ChildProcess;
  try {
    child = spawn(file, args, {
      cwd: request.cwd,
      env,
      // Leader of its own process group (and session), so a timeout can kill everything it started.
      detached: true,
      stdio: [request.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
      shell: false,
      windowsHide: true,
    });
  } catch (error) {
    // Thrown at once for arguments spawn refuses (an empty program name, a NUL byte).
    return { outcome: 'not-started', file, error: error as NodeJS.ErrnoException };
  }
  const cap = request.outputCapBytes ?? OUTPUT_CAP_BYTES;
  const stdout = new OutputTail(cap);
  const stderr = new OutputTail(cap);
  child.stdout?.on('data', (chunk: Buffer) => stdout.push(chunk));
  child.stderr?.on('data', (chunk: Buffer) => stderr.push(chunk));

  const startError = await new Promise<NodeJS.ErrnoException | undefined>((resolve) => {
    child.once('spawn', () => resolve(undefined));
    child.once('error', (error) => resolve(error));
  });
  // Later 'error' events (a failed kill) are not the program's failure; the listener keeps them from throwing.
  child.on('error', () => {});
  if (startError) return { outcome: 'not-started', file, error: startError };
  if (request.input !== undefined && child.stdin) {
    // A program that exits without reading its input closes the pipe: EPIPE is its business, not ours.
    child.stdin.on('error', () => {});
    child.stdin.end(request.input);
  }
  return supervise(child, request, stdout, stderr);
};

async function supervise(
  child: ChildProcess,
  request: ProcessRequest,
  stdout: OutputTail,
  stderr: OutputTail,
): Promise<ProcessFinished> {
  const pgid = child.pid as number;
  // Until it is known to be gone, a second SIGINT/SIGTERM kills the group from the exit path.
  const forgetGroup = trackProcessGroup(pgid);
  let killReason: 'timed-out' | 'cancelled' | undefined;
  let sigkillSent = false;
  let graceTimer: NodeJS.Timeout | undefined;
  const signalGroup = (sig: NodeJS.Signals) => {
    try {
      process.kill(-pgid, sig);
    } catch {
      // the group is already gone
    }
  };
  const terminate = (reason: 'timed-out' | 'cancelled') => {
    if (killReason) return;
    killReason = reason;
    signalGroup('SIGTERM');
    graceTimer = setTimeout(() => {
      sigkillSent = true;
      signalGroup('SIGKILL');
    }, request.killGraceMs ?? KILL_GRACE_MS);
  };

  const closed = new Promise<void>((resolve) => child.once('close', () => resolve()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) {
      resolve({ code: child.exitCode, signal: child.signalCode });
    } else {
      child.once('exit', (code, signal) => resolve({ code, signal }));
    }
  });
  const timer = setTimeout(() => terminate('timed-out'), timerMs(request.timeoutMs));
  const onAbort = () => terminate('cancelled');
  request.signal?.addEventListener('abort', onAbort, { once: true });
  if (request.signal?.aborted) onAbort();

  const { code, signal } = await exited;
  clearTimeout(timer);
  request.signal?.removeEventListener('abort', onAbort);

  if (killReason) {
    // The leader is gone; wait for the rest of its group (SIGKILL comes after the grace period).
    while (!sigkillSent && (await groupAlive(pgid))) await sleep(GROUP_POLL_MS);
    if (!sigkillSent) clearTimeout(graceTimer);
  }
  // A program that exited on its own may leave a daemon it started on purpose: never killed at exit.
  forgetGroup();
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

  const result: ProcessFinished = {
    outcome: killReason ?? (code !== null ? 'exited' : 'killed'),
    stdout: stdout.text(),
    stderr: stderr.text(),
  };
  if (code !== null) result.exitCode = code;
  if (signal !== null) result.signal = signal;
  return result;
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

/** The last non-empty line of captured output (at most 200 characters), for one-line messages. */
export function lastLine(text: string): string | undefined {
  const lines = text.split('\n').map((line) => line.trim());
  for (let i = lines.length - 1; i >= 0; i--) {
    const line = lines[i] as string;
    if (line === '' || line === TRUNCATED_MARKER.trim()) continue;
    // A child's output may carry terminal escape sequences (shown as visible escapes, never sent raw) and
    // credentials it printed (hidden: the line goes into reports and the store's attempt records), hidden
    // before the line is cut so that a cut never leaves part of one behind.
    const safe = safeText(line);
    return safe.length > 200 ? `${safe.slice(0, 200)}…` : safe;
  }
  return undefined;
}

/** What a PATH lookup found: the program, or why there is none. `denied`: a match we may not execute. */
export type ExecutableLookup =
  | { found: true; path: string }
  | { found: false; why: 'missing' | 'not-a-file' | 'not-executable'; path?: string };

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

/**
 * Finds the program `command` the way execvp (and so `runProcess`) would start it: a name with a slash is a
 * path resolved against `cwd`; otherwise each entry of `searchPath` (the environment's PATH; /usr/bin:/bin
 * when it has none) in turn, an empty entry meaning `cwd`. The program must be a regular file we may
 * execute. For a name with a slash, `why` says what is wrong with that file; for a PATH search, `missing`
 * unless some entry held a match we may not execute (`not-executable`, with its `path`). Never throws.
 */
export async function findExecutable(
  command: string,
  cwd: string,
  searchPath: string | undefined,
): Promise<ExecutableLookup> {
  if (command.includes('/')) {
    const path = resolvePath(cwd, command);
    const state = await executableState(path);
    return state === 'ok' ? { found: true, path } : { found: false, why: state, path };
  }
  let denied: string | undefined;
  for (const entry of (searchPath ?? DEFAULT_PATH).split(delimiter)) {
    const path = resolvePath(cwd, entry === '' ? '.' : entry, command);
    const state = await executableState(path);
    if (state === 'ok') return { found: true, path };
    if (state === 'not-executable') denied ??= path;
  }
  return denied ? { found: false, why: 'not-executable', path: denied } : { found: false, why: 'missing' };
}
