/**
 * The timing of one `issue()`: retrying transient ACME failures and polling what the CA is still working
 * on, both inside the certificate's deadline (its AbortSignal).
 *
 * Retry: capped exponential backoff (1 s, 2 s, 4 s … at most 30 s), the server's Retry-After honoured when
 * it is within that cap — a longer one (a rate limit) fails the attempt at once, carrying the CA's time — a
 * bounded number of attempts. When the deadline cuts a retry short, the last transient error is what the
 * operator sees ("cannot reach the CA"), not a bare timeout.
 *
 * Poll (RFC 8555 §7.5.1, §7.4): a pending authorization or a processing order is fetched again after a
 * short wait that doubles up to a cap, until it settles, the waiting budget is spent or the deadline passes.
 *
 * Sleeping goes through an injectable `sleep` so the timing can be tested without waiting.
 */
import { setTimeout as timersSleep } from 'node:timers/promises';
import type { CertRenewError } from '../../errors.js';

/**
 * Waits `ms` milliseconds; rejects (with anything) when `signal` fires first. The default is node's
 * `timers/promises` setTimeout.
 */
export type Sleep = (ms: number, signal: AbortSignal) => Promise<void>;

const defaultSleep: Sleep = async (ms, signal) => {
  await timersSleep(ms, undefined, { signal });
};

export interface RetryPolicy {
  /** Delay before the second attempt, in ms; doubled for each further one. */
  initialDelayMs: number;
  /** Cap on the backoff, in ms (a longer Retry-After still wins). */
  maxDelayMs: number;
  /** Attempts in all, the first included. */
  maxAttempts: number;
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = { initialDelayMs: 1000, maxDelayMs: 30_000, maxAttempts: 6 };

/** The same policy with a single attempt (dry runs and ARI: report, never wait). */
export function once(policy: RetryPolicy): RetryPolicy {
  return { ...policy, maxAttempts: 1 };
}

/**
 * Milliseconds to wait after `failures` failed attempts (1 → initialDelayMs). A Retry-After (in seconds)
 * longer than the backoff wins (the server asked for it), even above maxDelayMs.
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
  /** Before each wait: the error, the wait in ms, and the attempt that failed (1-based). */
  onRetry?(error: CertRenewError, delayMs: number, attempt: number): void;
  sleep?: Sleep;
}

/**
 * Runs `fn` until it succeeds, fails permanently, runs out of attempts, or the deadline passes. Throws
 * only what `classify` or `deadline` return.
 */
export async function withRetry<T>(fn: (attempt: number) => Promise<T>, options: RetryOptions): Promise<T> {
  const sleep = options.sleep ?? defaultSleep;
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
      // A Retry-After longer than any backoff of ours (a rate limit for a day): waiting it out would only
      // hold a concurrency slot until the deadline. Fail now; the caller records the CA's time and backoff
      // holds the certificate back until then.
      if (coded.retryAfter !== undefined && coded.retryAfter * 1000 > options.policy.maxDelayMs) throw coded;
      const delay = backoffDelay(options.policy, attempt, coded.retryAfter);
      options.onRetry?.(coded, delay, attempt);
      try {
        await sleep(delay, options.signal);
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
export async function pause(ms: number, signal: AbortSignal, sleep: Sleep = defaultSleep): Promise<boolean> {
  try {
    await sleep(ms, signal);
    return true;
  } catch {
    return false;
  }
}

export interface PollPolicy {
  /** First wait (ms) before asking again for a pending authorization or a processing order. */
  initialMs: number;
  /** Cap on one wait (ms). */
  maxMs: number;
  /** Give up waiting (ISSUER_TIMEOUT) after this much waiting in all (ms), deadline or not. */
  timeoutMs: number;
}

export const DEFAULT_POLL_POLICY: PollPolicy = { initialMs: 150, maxMs: 3000, timeoutMs: 5 * 60_000 };

export interface PollOptions {
  policy: PollPolicy;
  signal: AbortSignal;
  /** What to throw when the waiting budget or the deadline runs out. */
  timeout(): CertRenewError;
  sleep?: Sleep;
}

/**
 * Calls `fetch` until the item's status is neither `pending` nor `processing`, and returns it (whatever
 * that status is: the caller judges `valid` vs `invalid`). Waits initialMs, then twice as long each time
 * up to maxMs. Errors from `fetch` pass through.
 */
export async function pollUntilSettled<T extends { status: string }>(
  fetch: () => Promise<T>,
  options: PollOptions,
): Promise<T> {
  const { policy } = options;
  let delay = policy.initialMs;
  let waited = 0;
  for (;;) {
    const item = await fetch();
    if (item.status !== 'pending' && item.status !== 'processing') return item;
    if (waited >= policy.timeoutMs || !(await pause(delay, options.signal, options.sleep))) {
      throw options.timeout();
    }
    waited += delay;
    delay = Math.min(policy.maxMs, delay * 2);
  }
}
