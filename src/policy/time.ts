/** The time maths of the policy, pure: windows, the safety floor, the ARI point. */
import { formatDuration } from '../util/duration.js';

/** How often the renewal job runs unless `--interval` says otherwise: once a day. */
export const DEFAULT_RUN_INTERVAL_MS = 24 * 3_600_000;
/** DEFAULT_RUN_INTERVAL_MS as `--interval` writes it ("24h"), for option defaults and help. */
export const DEFAULT_RUN_INTERVAL = formatDuration(DEFAULT_RUN_INTERVAL_MS, 'manifest');
/**
 * Clock skew tolerated between this host and a CA, in ms, for notBefore only (a CA's clock a little ahead
 * of ours must not make a fresh certificate "not yet valid"); notAfter is judged against the present.
 */
export const CLOCK_SKEW_MS = 5 * 60_000;
/** At or below this lifetime the default window is one half instead of one third. */
export const SHORT_LIFETIME_MS = 10 * 86_400_000;

/**
 * How long before notAfter a certificate becomes due: `renewBeforeMs` when set, else `renewBeforePercent`
 * of the lifetime, else one third of the lifetime (one half when the lifetime is 10 days or less). Whole
 * milliseconds, rounded down. A fraction, not a fixed "30 days": a fixed 30 days would renew a 30-day
 * certificate on every run.
 */
export function renewalWindowMs(
  lifetimeMs: number,
  entry: { renewBeforeMs?: number | undefined; renewBeforePercent?: number | undefined },
): number {
  if (entry.renewBeforeMs !== undefined) return entry.renewBeforeMs;
  if (entry.renewBeforePercent !== undefined)
    return Math.floor((lifetimeMs * entry.renewBeforePercent) / 100);
  return Math.floor(lifetimeMs / (lifetimeMs <= SHORT_LIFETIME_MS ? 2 : 3));
}

/**
 * Renew at or below this much remaining lifetime whatever the window or ARI said: max(lifetime / 20,
 * 2 × run interval), so at least one more run gets a chance when one fails.
 */
export function safetyFloorMs(lifetimeMs: number, runIntervalMs: number): number {
  return Math.max(Math.floor(lifetimeMs / 20), 2 * runIntervalMs);
}

/**
 * A deterministic point in [start, end) of an ARI window (RFC 9773 asks clients to pick one at random;
 * hashing the seed — the serial — spreads certificates across the window yet gives every host and every
 * run the same answer, so hosts agree and a plan is stable). Degenerate windows (end ≤ start) give start.
 * The hash needs no secrecy, only spread: `mix32`, not SHA-256, so a nothing-due run never loads
 * node:crypto (~3 ms of its start-up).
 */
export function ariRenewAt(window: { start: Date; end: Date }, seed: string): Date {
  const start = window.start.getTime();
  const span = window.end.getTime() - start;
  if (!(span > 0)) return new Date(start);
  const fraction = mix32(seed) / 2 ** 32;
  return new Date(start + Math.floor(fraction * span));
}

/**
 * A 32-bit hash of `text` (its UTF-16 code units), as an unsigned integer in [0, 2^32): FNV-1a, then
 * MurmurHash3's 32-bit finaliser so that seeds differing only in their last characters (sequential
 * serials) land far apart. Deterministic across hosts and versions of node.
 */
function mix32(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) hash = Math.imul(hash ^ text.charCodeAt(i), 0x01000193);
  hash = Math.imul(hash ^ (hash >>> 16), 0x85ebca6b);
  hash = Math.imul(hash ^ (hash >>> 13), 0xc2b2ae35);
  return (hash ^ (hash >>> 16)) >>> 0;
}
