/**
 * Durations as the manifest writes them: an integer with a unit, or several (`"90d"`, `"12h"`, `"1h30m"`,
 * `"45s"`, `"500ms"`). Units: ms, s, m, h, d, w. Returned in milliseconds.
 */
export const DURATION_PATTERN = '^(?:[0-9]+(?:ms|s|m|h|d|w))+$';

const unitMs: Record<string, number> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
};

export function parseDuration(text: string): number | undefined {
  if (!new RegExp(DURATION_PATTERN).test(text)) return undefined;
  let total = 0;
  for (const match of text.matchAll(/([0-9]+)(ms|s|m|h|d|w)/g)) {
    total += Number(match[1]) * (unitMs[match[2] as string] as number);
  }
  return Number.isSafeInteger(total) ? total : undefined;
}

/** Like parseDuration, for values the schema has already checked. */
export function durationMs(text: string): number {
  const ms = parseDuration(text);
  if (ms === undefined) throw new RangeError(`not a duration: ${JSON.stringify(text)}`);
  return ms;
}

/** A short human form: "89d 23h", "3h 5m", "42s". */
export function formatDuration(ms: number): string {
  const sign = ms < 0 ? '-' : '';
  let s = Math.floor(Math.abs(ms) / 1000);
  const d = Math.floor(s / 86400);
  s -= d * 86400;
  const h = Math.floor(s / 3600);
  s -= h * 3600;
  const m = Math.floor(s / 60);
  s -= m * 60;
  if (d > 0) return `${sign}${d}d${h ? ` ${h}h` : ''}`;
  if (h > 0) return `${sign}${h}h${m ? ` ${m}m` : ''}`;
  if (m > 0) return `${sign}${m}m${s ? ` ${s}s` : ''}`;
  return `${sign}${s}s`;
}

/** The longest delay a Node timer can wait (about 24.8 days); longer ones would fire at once. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** A delay safe to give setTimeout: longer durations are capped (they mean "practically never"). */
export function timerMs(ms: number): number {
  return Math.min(Math.max(ms, 1), MAX_TIMER_MS);
}
