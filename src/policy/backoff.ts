/**
 * Backoff, a policy check after the renewal decision: a due certificate whose recent attempts failed waits
 * before the next one. Pure: the attempts come from the store, the clock from the caller.
 */
import type { AttemptInfo } from '../stores/types.js';
import { Reason } from './reasons.js';
import { CLOCK_SKEW_MS } from './time.js';

/** The first wait after one failure, in ms. */
export const BACKOFF_BASE_MS = 5 * 60_000;
/** The longest wait, in ms. */
export const BACKOFF_MAX_MS = 6 * 3_600_000;
/**
 * The shortest wait after a failure, in ms, whatever is left of the certificate: an expired (or nearly
 * expired) certificate whose renewal fails must not be retried — and rolled back — on every run.
 */
export const BACKOFF_FLOOR_MS = BACKOFF_BASE_MS;
/**
 * The longest a recorded CA Retry-After holds a certificate back, counted from the attempt that got it, in
 * ms: a week, the longest rate-limit window of the CAs in use (a value beyond it — an edit by hand, a clock
 * far ahead — would otherwise stop renewals until then).
 */
export const CA_RETRY_AFTER_MAX_MS = 7 * 86_400_000;

/**
 * When the next attempt may start: after n consecutive failures, lastAttempt + 5 min × 2^(n−1), at most 6 h
 * — and not longer than a tenth of what is left of the certificate (`remainingMs`, ms; undefined when
 * unknown), so backing off cannot let it expire, but never shorter than BACKOFF_FLOOR_MS. A daily timer is
 * never held back; a five-minute timer stops hammering a CA that says no. The CA's own Retry-After
 * (`attempts.retryAfter`, recorded from a rate limit) is a lower bound: never earlier than that.
 * A lastAttempt that is not a date counts as long ago (no wait of our own). See `fromTheFuture` for one
 * later than now.
 */
export function retryAt(attempts: AttemptInfo, remainingMs: number | undefined): Date {
  const exponent = Math.min(Math.max(attempts.failureCount - 1, 0), 20);
  let wait = Math.min(BACKOFF_BASE_MS * 2 ** exponent, BACKOFF_MAX_MS);
  if (remainingMs !== undefined) wait = Math.min(wait, Math.max(remainingMs / 10, 0));
  wait = Math.max(wait, BACKOFF_FLOOR_MS);
  const last = Date.parse(attempts.lastAttempt);
  const ours = (Number.isNaN(last) ? 0 : last) + wait;
  const theirs = caRetryAfterMs(attempts);
  return new Date(Number.isNaN(theirs) ? ours : Math.max(ours, theirs));
}

/** The recorded CA Retry-After (ms since the epoch), at most CA_RETRY_AFTER_MAX_MS after lastAttempt; NaN when none. */
function caRetryAfterMs(attempts: AttemptInfo): number {
  const theirs = attempts.retryAfter === undefined ? Number.NaN : Date.parse(attempts.retryAfter);
  const last = Date.parse(attempts.lastAttempt);
  return Number.isNaN(last) ? theirs : Math.min(theirs, last + CA_RETRY_AFTER_MAX_MS);
}

/**
 * Whether the record's lastAttempt is later than `now` by more than CLOCK_SKEW_MS: written by a host whose
 * clock runs ahead, or by hand. Its timing means nothing here, and no wait counted from it could end (a
 * wait counted from now would start again at every run): it holds nothing back. The next failure rewrites
 * the record with this host's time; its CA Retry-After, if any, was measured on that clock too.
 */
export function fromTheFuture(attempts: AttemptInfo, now: Date): boolean {
  return Date.parse(attempts.lastAttempt) > now.getTime() + CLOCK_SKEW_MS;
}

export interface BackoffInput {
  /** The renewal decision for the certificate. */
  decision: { renew: boolean; reason: Reason; remainingMs?: number };
  /** What the store recorded about failed attempts since the last success. */
  attempts: AttemptInfo | undefined;
  now: Date;
  /** `--force` retries now. */
  force: boolean;
}

/**
 * The backoff check: fires (with the moment it ends) when the certificate is due, has failed attempts and
 * `retryAt` is still ahead; null when it may be renewed now. A forced renewal backs off only before the CA's
 * recorded Retry-After (`caRetryAfter`), and neither
 * does one whose recorded failures are post-renew hooks that failed after the certificate was stored
 * (`hooksPending`): the CA did not refuse anything, and with a shared store that record may come from
 * another host's failed reload, which must not hold back this host's renewals. `caRetryAfter`: the CA's
 * recorded Retry-After is what holds it back (`until` is it); `caUntil`: our own wait ends later, but the
 * CA's is still ahead too, until then (a forced run waits for it).
 */
export function backingOff(
  input: BackoffInput,
): { until: Date; failures: number; caRetryAfter?: boolean; caUntil?: Date } | null {
  const { decision, attempts } = input;
  if (!decision.renew) return null;
  // A record from a clock ahead of ours holds nothing back (see fromTheFuture), the CA's time in it neither.
  if (attempts && fromTheFuture(attempts, input.now)) return null;
  if (input.force || decision.reason === Reason.forced) {
    // --force overrides our own backoff, never the CA's recorded Retry-After (RFC 8555 §6.6): asking again
    // before it only meets the same refusal and counts against the account's limits.
    const theirs = attempts ? caRetryAfterMs(attempts) : Number.NaN;
    return attempts && !Number.isNaN(theirs) && theirs > input.now.getTime()
      ? { until: new Date(theirs), failures: attempts.failureCount, caRetryAfter: true }
      : null;
  }
  if (!attempts || attempts.failureCount <= 0 || attempts.hooksPending) return null;
  const until = retryAt(attempts, decision.remainingMs);
  if (until <= input.now) return null;
  // The CA's time, when it is what holds it back: --force does not override that (said so by the plan);
  // when it ends before our own wait, --force retries from then, not now.
  const theirs = caRetryAfterMs(attempts);
  if (theirs >= until.getTime()) return { until, failures: attempts.failureCount, caRetryAfter: true };
  return theirs > input.now.getTime()
    ? { until, failures: attempts.failureCount, caUntil: new Date(theirs) }
    : { until, failures: attempts.failureCount };
}
