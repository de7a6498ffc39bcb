/**
 * Reporters: a command's result in, text for stdout out. Each command has a map from format name to
 * reporter; the command picks one by its options and writes what it returns. Reporters never touch the
 * process, a store or the clock, and never decide an exit code.
 */
import type { Painter } from './table.js';

export interface ReportOptions {
  /**
   * The styles text is painted with: ANSI colour on a terminal (neither NO_COLOR nor TERM=dumb), else plain
   * (`painterFor` in table.ts).
   */
  paint: Painter;
}

/** Renders one result as the whole of stdout for one format. */
export type Reporter<T> = (result: T, options: ReportOptions) => string;

/** `--json` → json, else human: the two formats of plan, run and status. */
export type Format = 'human' | 'json';

export function formatOf(options: { json?: boolean }): Format {
  return options.json ? 'json' : 'human';
}

/** Pretty-printed JSON with a final newline: every `--json` output. */
export function jsonText(value: unknown): string {
  return `${JSON.stringify(value, null, 2)}\n`;
}
