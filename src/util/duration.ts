/**
 * Durations as the manifest writes them: an integer with a unit, or several (`"90d"`, `"12h"`, `"1h30m"`,
 * `"45s"`, `"500ms"`). Units: ms, s, m, h, d, w. Returned in milliseconds.
 */
export const DURATION_PATTERN = '^(?:[0-9]+(?:ms|s|m|h|d|w))+$';

/** Milliseconds per unit of DURATION_PATTERN. */
export const UNIT_MS: Readonly<Record<string, number>> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
};

/**
 * The milliseconds `text` says when it is written as DURATION_PATTERN says, however many (an unsafe
 * integer, or Infinity, for absurd ones); NaN when it is not. Read character by character (a manifest of
 * 10,000 certificates has tens of thousands of durations to read).
 */
export function scanDuration(text: string): number {
  let total = 0;
  let at = 0;
  if (text === '') return Number.NaN;
  while (at < text.length) {
    const start = at;
    while (at < text.length && text.charCodeAt(at) >= 0x30 && text.charCodeAt(at) <= 0x39) at++;
    if (at === start) return Number.NaN;
    // `ms` before `m`, as the pattern's alternation tries them (an `m` is never followed by an `s`).
    const unit = text.startsWith('ms', at) ? 'ms' : text.charAt(at);
    const ms = Object.hasOwn(UNIT_MS, unit) ? UNIT_MS[unit] : undefined;
    if (ms === undefined) return Number.NaN;
    total += Number(text.slice(start, at)) * ms;
    at += unit.length;
  }
  return total;
}

/** The milliseconds of a duration written as DURATION_PATTERN says; undefined when it is not one, or absurd. */
export function parseDuration(text: string): number | undefined {
  const total = scanDuration(text);
  return Number.isSafeInteger(total) ? total : undefined;
}

/** Like parseDuration, for values the schema has already checked. */
export function durationMs(text: string): number {
  const ms = parseDuration(text);
  if (ms === undefined) throw new RangeError(`not a duration: ${JSON.stringify(text)}`);
  return ms;
}

/** How `formatDuration` writes a duration (see DURATION_STYLES). */
export type DurationStyle = 'short' | 'manifest' | 'table' | 'timeout';

type Unit = 'd' | 'h' | 'm' | 's';
const UNITS: readonly [Unit, number][] = [
  ['d', 86_400_000],
  ['h', 3_600_000],
  ['m', 60_000],
  ['s', 1000],
];
const UNIT_INDEX: Record<Unit, number> = { d: 0, h: 1, m: 2, s: 3 };

interface StyleRule {
  /** At most this many units, from the largest non-zero one down; what is below them is dropped. */
  units: number;
  separator: string;
  largest: Unit;
  smallest: Unit;
  /** Days only from this length on ("36h" reads better than "1d12h"). */
  daysFromMs: number;
  /** When to give the whole value in milliseconds instead: never, under one second, or unless whole seconds. */
  milliseconds: 'never' | 'under-a-second' | 'unless-whole-seconds';
  /** Negative values: with a leading '-', or as zero. */
  negative: 'sign' | 'zero';
}

/**
 * The styles, each a row of the one algorithm below:
 * - `short` — messages and logs: "89d 23h", "3h 5m", "42s", "-2d" (largest non-zero unit and the next one).
 * - `manifest` — a duration the manifest and `--interval` accept: "90d", "36h", "2h40m", "500ms"
 *   (days only from two days up; under a second in ms; rounded down to the second otherwise).
 * - `table` — remaining lifetime in a table cell: "42d", "5h", "-3m" (one unit, minutes at the least).
 * - `timeout` — a timeout as configured: "30s", "1m30s", "90m", "250ms" (at most minutes; exact).
 */
const DURATION_STYLES: Record<DurationStyle, StyleRule> = {
  short: {
    units: 2,
    separator: ' ',
    largest: 'd',
    smallest: 's',
    daysFromMs: 86_400_000,
    milliseconds: 'never',
    negative: 'sign',
  },
  manifest: {
    units: 4,
    separator: '',
    largest: 'd',
    smallest: 's',
    daysFromMs: 2 * 86_400_000,
    milliseconds: 'under-a-second',
    negative: 'zero',
  },
  table: {
    units: 1,
    separator: '',
    largest: 'd',
    smallest: 'm',
    daysFromMs: 86_400_000,
    milliseconds: 'never',
    negative: 'sign',
  },
  timeout: {
    units: 4,
    separator: '',
    largest: 'm',
    smallest: 's',
    daysFromMs: 86_400_000,
    milliseconds: 'unless-whole-seconds',
    negative: 'sign',
  },
};

/**
 * A duration in milliseconds as text, in one of the styles above (default `short`). The one formatter of
 * the code base: messages, validate's suggestions, table cells and hook timeouts all come through here.
 */
export function formatDuration(ms: number, style: DurationStyle = 'short'): string {
  const rule = DURATION_STYLES[style];
  const sign = ms < 0 && rule.negative === 'sign' ? '-' : '';
  const abs = ms < 0 ? (rule.negative === 'sign' ? -ms : 0) : ms;
  if (
    (rule.milliseconds === 'under-a-second' && abs < 1000) ||
    (rule.milliseconds === 'unless-whole-seconds' && abs % 1000 !== 0)
  ) {
    return `${sign}${Math.floor(abs)}ms`;
  }
  // From the largest non-zero unit, `rule.units` units (zero ones count but are not shown). A plain loop:
  // a plan formats a few durations per certificate, 10,000 certificates in a large manifest.
  let rest = abs;
  let text = '';
  let taken = 0;
  for (let i = UNIT_INDEX[rule.largest]; i <= UNIT_INDEX[rule.smallest]; i++) {
    const [unit, size] = UNITS[i] as [Unit, number];
    if (unit === 'd' && abs < rule.daysFromMs) continue;
    const n = Math.floor(rest / size);
    rest -= n * size;
    if (taken === 0 && n === 0) continue;
    if (taken === rule.units) break;
    taken++;
    if (n > 0) text += text === '' ? `${n}${unit}` : `${rule.separator}${n}${unit}`;
  }
  // Under the smallest unit: 0, or for a negative amount (expired seconds ago) "-<1m", never "-0m".
  if (taken === 0) return sign ? `-<1${rule.smallest}` : `0${rule.smallest}`;
  return sign + text;
}

/** The longest delay a Node timer can wait (about 24.8 days); longer ones would fire at once. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** A delay safe to give setTimeout: longer durations are capped (they mean "practically never"). */
export function timerMs(ms: number): number {
  return Math.min(Math.max(ms, 1), MAX_TIMER_MS);
}

/** ISO 8601 to the second, UTC (`2026-11-30T17:42:37Z`): `toISOString()` always ends in `.sssZ`, whose milliseconds go. */
export function isoSecond(date: Date): string {
  return `${date.toISOString().slice(0, -5)}Z`;
}
