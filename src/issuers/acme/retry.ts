/**
 * Retrying transient ACME failures inside one `issue()`: capped exponential backoff (1 s, 2 s, 4 s …
 * at most 30 s), the server's Retry-After honoured, a bounded number of attempts, and never past the
 * certificate's deadline (its AbortSignal). When the deadline cuts a retry short, the last transient
 * error is what the operator sees ("cannot reach the CA"), not a bare timeout.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { CertRenewError } from '../../errors.js';

export interface RetryPolicy {
  /** Delay before the second attempt; doubled for each further one. */
  initialDelayMs: number;
  maxDelayMs: number;
  /** Attempts in all, the first included. */
  maxAttempts: number;
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = { initialDelayMs: 1000, maxDelayMs: 30_000, maxAttempts: 6 };

/**
 * Milliseconds to wait after `failures` failed attempts (1 → initialDelayMs). A Retry-After longer than
 * the backoff wins (the server asked for it), even above maxDelayMs.
 */
export function backoffDelay(policy: RetryPolicy, failures: number, retryAfterSeconds?: number): number {
  const exponential = Math.min(policy.maxDelayMs, policy.initialDelayMs * 2 ** Math.max(0, failures - 1));
  const asked = retryAfterSeconds === undefined ? 0 : retryAfterSeconds * 1000;
  return Math.max(exponential, asked);
}

export interface RetryOptions {
  policy: RetryPolicy;
  signal: AbortSignal;
  /** Turns whatever was thrown into a coded error; `transient` decides whether to try again. */
  classify(error: unknown): CertRenewError;
  /** What to throw when the deadline passes with no transient error seen. */
  deadline(): CertRenewError;
  onRetry?(error: CertRenewError, delayMs: number, attempt: number): void;
}

/** Runs `fn` until it succeeds, fails permanently, runs out of attempts, or the deadline passes. */
export async function withRetry<T>(fn: (attempt: number) => Promise<T>, options: RetryOptions): Promise<T> {
  let lastTransient: CertRenewError | undefined;
  for (let attempt = 1; ; attempt++) {
    if (options.signal.aborted) throw lastTransient ?? options.deadline();
    try {
      return await fn(attempt);
    } catch (error) {
      if (options.signal.aborted && isAbort(error, options.signal)) throw lastTransient ?? options.deadline();
      const coded = options.classify(error);
      if (options.signal.aborted) throw coded;
      if (!coded.transient || attempt >= options.policy.maxAttempts) throw coded;
      lastTransient = coded;
      const delay = backoffDelay(options.policy, attempt, coded.retryAfter);
      options.onRetry?.(coded, delay, attempt);
      try {
        await sleep(delay, undefined, { signal: options.signal });
      } catch {
        throw coded;
      }
    }
  }
}

function isAbort(error: unknown, signal: AbortSignal): boolean {
  return (
    error === signal.reason ||
    (error instanceof Error && (error.name === 'AbortError' || error.name === 'TimeoutError'))
  );
}

/** Sleeps unless the signal fires first; resolves false when it did. */
export async function pause(ms: number, signal: AbortSignal): Promise<boolean> {
  try {
    await sleep(ms, undefined, { signal });
    return true;
  } catch {
    return false;
  }
}
