/**
 * Decide: a pure function from what was gathered and the clock to the plan. `cert-renew plan --json`
 * prints exactly this object; `run` executes it.
 */
import { decide } from '../policy/decide.js';
import { Reason } from '../policy/reasons.js';
import type { AttemptInfo } from '../stores/types.js';
import type { Gathered } from './gather.js';

export const PLAN_VERSION = 1;

/** renew: due now; keep: nothing to do; backoff: due but failed recently; error: the store could not be read. */
export type PlanAction = 'renew' | 'keep' | 'backoff' | 'error';

export interface PlanItem {
  name: string;
  domains: string[];
  issuer: string;
  store: string;
  action: PlanAction;
  /** The policy's reason code (DESIGN.md "When to renew"); absent only for `error`. */
  reason?: string;
  message: string;
  notBefore?: string;
  notAfter?: string;
  /** Remaining lifetime at plan time, in seconds (negative when expired). */
  remainingSeconds?: number;
  /** When the certificate becomes due, if it is not yet. */
  renewAt?: string;
  /** Failed attempts since the last success (from the store). */
  failures?: { count: number; lastAttempt: string; lastError?: string; retryAt?: string };
  /** The stored certificate's post-renew hooks have not succeeded yet: `run` runs them again. */
  hooksPending?: boolean;
  error?: { code: string; message: string };
}

export interface Plan {
  version: typeof PLAN_VERSION;
  generatedAt: string;
  runIntervalSeconds: number;
  forced: boolean;
  summary: { total: number; renew: number; keep: number; backoff: number; error: number };
  items: PlanItem[];
}

export interface PlanOptions {
  now: Date;
  runIntervalMs: number;
  force?: boolean;
}

const BACKOFF_BASE_MS = 5 * 60_000;
const BACKOFF_MAX_MS = 6 * 3_600_000;

/**
 * After n consecutive failures the next attempt waits 5 min × 2^(n−1), at most 6 h — and never longer than
 * a tenth of what is left of the certificate, so backing off cannot let it expire. A daily timer is never
 * held back; a five-minute timer stops hammering a CA that says no. `--force` ignores it.
 */
export function retryAt(attempts: AttemptInfo, remainingMs: number | undefined): Date {
  const exponent = Math.min(Math.max(attempts.failureCount - 1, 0), 20);
  let wait = Math.min(BACKOFF_BASE_MS * 2 ** exponent, BACKOFF_MAX_MS);
  if (remainingMs !== undefined) wait = Math.min(wait, Math.max(remainingMs / 10, 0));
  return new Date(new Date(attempts.lastAttempt).getTime() + wait);
}

export function planItem(g: Gathered, options: PlanOptions): PlanItem {
  const base = {
    name: g.entry.name,
    domains: g.entry.domains,
    issuer: g.entry.issuerName,
    store: g.entry.storeName,
  };
  if (!g.stored) {
    const error = {
      code: g.error?.code ?? 'STORE_UNAVAILABLE',
      message: g.error?.oneLine ?? 'store unavailable',
    };
    return { ...base, action: 'error', message: error.message, error };
  }
  const decision = decide({
    entry: g.entry,
    stored: g.stored,
    now: options.now,
    runIntervalMs: options.runIntervalMs,
    force: options.force ?? false,
    ...(g.ari ? { ari: g.ari } : {}),
  });
  const item: PlanItem = {
    ...base,
    action: decision.renew ? 'renew' : 'keep',
    reason: decision.reason,
    message: decision.message,
  };
  if (decision.notBefore) item.notBefore = decision.notBefore.toISOString();
  if (decision.notAfter) item.notAfter = decision.notAfter.toISOString();
  if (decision.remainingMs !== undefined) item.remainingSeconds = Math.round(decision.remainingMs / 1000);
  if (decision.renewAt && !decision.renew) item.renewAt = decision.renewAt.toISOString();
  const attempts = g.stored.attempts;
  if (attempts && attempts.failureCount > 0) {
    const at = retryAt(attempts, decision.remainingMs);
    item.failures = {
      count: attempts.failureCount,
      lastAttempt: attempts.lastAttempt,
      ...(attempts.lastError ? { lastError: attempts.lastError } : {}),
      retryAt: at.toISOString(),
    };
    if (attempts.hooksPending) item.hooksPending = true;
    if (decision.renew && !options.force && decision.reason !== Reason.forced && at > options.now) {
      item.action = 'backoff';
      item.message = `${decision.message}; backing off after ${attempts.failureCount} failed attempt(s) until ${at.toISOString()} (--force retries now)`;
    }
  }
  return item;
}

/** Puts decided items together with their summary. */
export function assemblePlan(items: PlanItem[], options: PlanOptions): Plan {
  const count = (action: PlanAction) => items.filter((i) => i.action === action).length;
  return {
    version: PLAN_VERSION,
    generatedAt: options.now.toISOString(),
    runIntervalSeconds: Math.round(options.runIntervalMs / 1000),
    forced: options.force ?? false,
    summary: {
      total: items.length,
      renew: count('renew'),
      keep: count('keep'),
      backoff: count('backoff'),
      error: count('error'),
    },
    items,
  };
}
