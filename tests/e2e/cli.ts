/**
 * Runs the built CLI as an operator would: a child process with a stripped environment and NO_COLOR, so
 * tests assert exit code, stdout and stderr separately.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const BIN = fileURLToPath(new URL('../../../bin/cert-renew', import.meta.url));
export const REPO = fileURLToPath(new URL('../../../', import.meta.url));

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface CliOptions {
  cwd?: string;
  env?: Record<string, string>;
  /** Kill the CLI after this long (a hang guard, not an assertion; default 5 minutes). */
  killAfterMs?: number;
  /** A command that runs the CLI (e.g. `unshare --pid --fork --mount-proc`), argv first. */
  prefix?: string[];
  /** Run bin/cert-renew as an executable (as an operator does), not as `node bin/cert-renew`. */
  direct?: boolean;
  /** Close the reading end of the CLI's stdout at once, as `| head -1` does once it has its line. */
  closeStdout?: boolean;
}

export function cliEnv(extra: Record<string, string> = {}): Record<string, string> {
  return {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: process.env.HOME ?? '/tmp',
    NO_COLOR: '1',
    ...extra,
  };
}

export function runCli(args: string[], options: CliOptions = {}): Promise<CliResult> {
  return startCli(args, options).done;
}

/** Like runCli, with the child at hand (to signal it). */
export function startCli(
  args: string[],
  options: CliOptions = {},
): { child: ChildProcess; done: Promise<CliResult> } {
  const cli = options.direct ? [BIN] : [process.execPath, BIN];
  const [command, ...prefixArgs] = [...(options.prefix ?? []), ...cli, ...args];
  const child = spawn(command as string, prefixArgs, {
    cwd: options.cwd ?? REPO,
    env: cliEnv(options.env),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const done = new Promise<CliResult>((resolve, reject) => {
    let stdout = '';
    let stderr = '';
    if (options.closeStdout) child.stdout.destroy();
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), options.killAfterMs ?? 300_000);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
  return { child, done };
}

/** No stack traces reach the operator. */
export function hasStackTrace(text: string): boolean {
  return /^\s+at .+[(:]\d+/m.test(text);
}
