/** What a meaning check returns, and the options every check gets. */

/** A problem before it has a position: `at` is the pointer whose line/column to show (default `pointer`). */
export interface Finding {
  severity: 'error' | 'warning';
  pointer: string;
  at?: string;
  message: string;
}

export interface CheckOptions {
  /** How often the renewal job runs (`--interval`, default 24h), for the renewal window warning. */
  intervalMs: number;
}

export const error = (pointer: string, message: string): Finding => ({ severity: 'error', pointer, message });
export const warning = (pointer: string, message: string): Finding => ({
  severity: 'warning',
  pointer,
  message,
});
