/**
 * dns-01 through a command, lego's `exec` convention: `COMMAND present <fqdn> <value>` before
 * validation and `COMMAND cleanup <fqdn> <value>` after, where fqdn is `_acme-challenge.<domain>.` (for
 * `*.example.com` the record is `_acme-challenge.example.com.`) and value is the TXT record's content.
 * Run without a shell, with the manifest's environment only and a timeout that kills the command and
 * everything it started (src/runtime/process.ts). After every record of an order is present: wait
 * `propagationDelay` (default 0s), then, when a propagation check is plugged in, poll it until
 * `propagationTimeout` (default 60s).
 */
import { resolve } from 'node:path';
import { CertRenewError, ErrorCode } from '../../../errors.js';
import type { Dns01Exec } from '../../../manifest/types.js';
import { findExecutable, type ProcessRunner, runProcess } from '../../../runtime/process.js';
import { durationMs } from '../../../util/duration.js';
import { rememberSecretEnvironment } from '../../../util/text.js';
import { pause } from '../retry.js';
import type { ChallengeTask, DnsProvider, SolverContext } from './types.js';

export const COMMAND_TIMEOUT_MS = 60_000;
export const DEFAULT_PROPAGATION_TIMEOUT_MS = 60_000;
const CHECK_INTERVAL_MS = 2000;
/** SIGTERM → SIGKILL grace for the command's process group. */
const KILL_GRACE_MS = 2000;
/** The command's stdout and stderr keep this many of their last bytes (stderr's last line is reported). */
const OUTPUT_CAP_BYTES = 64 * 1024;

/** For tests: a shorter command timeout than the 60 s a real DNS API may need. */
export interface DnsExecOptions {
  commandTimeoutMs?: number;
}

export function dnsRecordName(identifier: string): string {
  return `_acme-challenge.${identifier.replace(/^\*\./, '').replace(/\.$/, '')}.`;
}

export class DnsExecSolver implements DnsProvider {
  readonly type = 'dns-01' as const;
  readonly description: string;
  readonly failureHint: string;
  readonly command: string;
  private readonly delayMs: number;
  private readonly timeoutMs: number;
  private readonly commandTimeoutMs: number;
  private readonly runner: ProcessRunner;
  /** `cleanup` is killed at the command's timeout (ms). */
  readonly removeTimeoutMs: number;

  constructor(
    config: Dns01Exec,
    private readonly context: SolverContext,
    options: DnsExecOptions = {},
  ) {
    this.commandTimeoutMs = options.commandTimeoutMs ?? COMMAND_TIMEOUT_MS;
    this.removeTimeoutMs = this.commandTimeoutMs;
    this.runner = context.runProcess ?? runProcess;
    // The command gets the whole environment: what it may echo of its secrets is shown as ***.
    rememberSecretEnvironment(context.env);
    // A bare name is looked up in PATH; a path is relative to the manifest.
    this.command = config.exec.includes('/') ? resolve(context.baseDir, config.exec) : config.exec;
    this.delayMs = config.propagationDelay ? durationMs(config.propagationDelay) : 0;
    this.timeoutMs = config.propagationTimeout
      ? durationMs(config.propagationTimeout)
      : DEFAULT_PROPAGATION_TIMEOUT_MS;
    this.description = `dns-01 exec ${this.command}`;
    this.failureHint = `check that ${this.command} publishes the TXT record where the CA looks (raise propagationDelay if it is slow)`;
  }

  private async run(action: 'present' | 'cleanup', task: ChallengeTask, signal: AbortSignal): Promise<void> {
    const record = task.recordName ?? dnsRecordName(task.identifier);
    const result = await this.runner({
      argv: [this.command, action, record, task.value],
      cwd: this.context.baseDir,
      env: this.context.env,
      timeoutMs: this.commandTimeoutMs,
      signal,
      killGraceMs: KILL_GRACE_MS,
      outputCapBytes: OUTPUT_CAP_BYTES,
    });
    if (result.outcome === 'exited' && result.exitCode === 0) return;
    let why: string;
    if (result.outcome === 'not-started') {
      why =
        result.error.code === 'ENOENT' && !this.command.includes('/')
          ? 'could not run: not found in PATH'
          : `could not run (${result.error.code ?? result.error.message})`;
    } else if (result.outcome === 'timed-out') {
      why = `timed out after ${this.commandTimeoutMs / 1000}s`;
    } else if (result.outcome === 'cancelled') {
      why = 'was stopped at the deadline';
    } else {
      const stderr = result.stderr.trim().split('\n').pop();
      why =
        result.exitCode !== undefined
          ? `exited with status ${result.exitCode}${stderr ? `: ${stderr}` : ''}`
          : `was killed by ${result.signal ?? 'a signal'}`;
    }
    throw new CertRenewError(
      ErrorCode.challengeFailed,
      `dns-01 command ${this.command} ${action} ${record} ${why}`,
      result.outcome === 'not-started' ? { cause: result.error } : {},
    );
  }

  async present(task: ChallengeTask, signal: AbortSignal): Promise<void> {
    await this.run('present', task, signal);
  }

  async settle(tasks: readonly ChallengeTask[], signal: AbortSignal): Promise<void> {
    if (this.delayMs > 0 && !(await pause(this.delayMs, signal))) return;
    const check = this.context.propagationCheck;
    if (!check) return;
    let remaining = tasks.map((t) => ({ name: t.recordName ?? dnsRecordName(t.identifier), value: t.value }));
    const checks = Math.max(1, Math.floor(this.timeoutMs / CHECK_INTERVAL_MS) + 1);
    for (let round = 1; ; round++) {
      const results = await Promise.all(
        remaining.map((r) => check(r.name, r.value, signal).catch(() => false)),
      );
      remaining = remaining.filter((_, i) => !results[i]);
      if (remaining.length === 0) return;
      if (round >= checks) {
        throw new CertRenewError(
          ErrorCode.challengeFailed,
          `TXT record ${remaining[0]?.name} did not propagate within ${this.timeoutMs / 1000}s`,
          { hint: 'raise propagationTimeout, or check the dns-01 command' },
        );
      }
      if (!(await pause(CHECK_INTERVAL_MS, signal))) return;
    }
  }

  /** `COMMAND cleanup …`; throws CertRenewError when it fails (DnsProvider). */
  async remove(task: ChallengeTask): Promise<void> {
    // Its own time limit only (the command's timeout): the deadline may have passed already, and a
    // cleanup that hangs is reported as timed out, not as stopped at the deadline. An interrupted run
    // waits for it too (so no TXT record is left behind), says so (Dns01Solver), and a second signal
    // kills it (cli.ts).
    await this.run('cleanup', task, new AbortController().signal);
  }

  async cleanup(task: ChallengeTask): Promise<void> {
    try {
      await this.remove(task);
    } catch (error) {
      this.context.logger.warn(`issuer ${this.context.issuerName}: ${(error as Error).message}`);
    }
  }

  async check(): Promise<string> {
    const found = await findExecutable(this.command, this.context.baseDir, this.context.env.PATH);
    if (!found.found) {
      const bare = !this.command.includes('/');
      const what =
        found.why === 'missing'
          ? bare
            ? 'is not found in PATH'
            : 'does not exist'
          : found.why === 'not-a-file'
            ? 'is not a file'
            : `is not executable${bare && found.path ? ` (${found.path})` : ''}`;
      throw new CertRenewError(ErrorCode.challengeFailed, `dns-01 command ${this.command} ${what}`, {
        hint: bare
          ? 'install it, or give its path in "exec" (relative paths are resolved from the manifest)'
          : 'fix the path in "exec" (relative paths are resolved from the manifest), or make the file executable',
      });
    }
    return `dns-01 exec ${found.path} is executable`;
  }
}
