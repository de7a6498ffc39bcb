/**
 * A failed-attempt record (stores/types.ts AttemptInfo) as either store reads it back: the filesystem's
 * `attempts.json` (camelCase) and Redis's `attempts:{name}` (snake_case) hold the same fields. Reading
 * never trusts: a record without `lastAttempt` and `failureCount` is none, an optional field of the wrong
 * type is dropped.
 */
import { isErrorCode } from '../errors.js';
import type { AttemptInfo } from './types.js';

/** The fields of one record, whatever the store calls them. */
export interface AttemptFields {
  lastAttempt: unknown;
  failureCount: unknown;
  lastErrorCode: unknown;
  lastError: unknown;
  retryAfter: unknown;
  hooksPending: unknown;
}

/** The record those fields make, or undefined when `lastAttempt` (a string) or `failureCount` (a number) is missing. */
export function attemptFromFields(r: AttemptFields): AttemptInfo | undefined {
  if (typeof r.lastAttempt !== 'string' || typeof r.failureCount !== 'number') return undefined;
  return {
    lastAttempt: r.lastAttempt,
    failureCount: r.failureCount,
    ...(isErrorCode(r.lastErrorCode) ? { lastErrorCode: r.lastErrorCode } : {}),
    ...(typeof r.lastError === 'string' ? { lastError: r.lastError } : {}),
    ...(typeof r.retryAfter === 'string' ? { retryAfter: r.retryAfter } : {}),
    ...(r.hooksPending === true ? { hooksPending: true } : {}),
  };
}
