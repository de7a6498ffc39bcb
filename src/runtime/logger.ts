import { safeText } from '../util/text.js';

/** Logs go to stderr (results go to stdout). Levels are filtered here, never by callers. */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

export interface Logger {
  debug(message: string): void;
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

const order: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export function createLogger(write: (line: string) => void, level: LogLevel = 'info'): Logger {
  const at = (l: LogLevel) => (message: string) => {
    // Log lines echo hooks, CAs and URLs: one line each, no control characters, no URL userinfo.
    if (order[l] >= order[level]) write(`cert-renew ${l}: ${safeText(message)}\n`);
  };
  return { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

export const silentLogger: Logger = { debug() {}, info() {}, warn() {}, error() {} };
