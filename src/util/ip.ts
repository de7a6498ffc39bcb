/**
 * `net.isIP` without its cost for the common case. Node checks every string against a long IPv6 regular
 * expression, which V8 compiles on first use (~5 ms of a 10-certificate run's start-up) and which runs for
 * every domain of every certificate. A string without ':' cannot be an IPv6 address and one with anything
 * but digits and dots cannot be an IPv4 address, so those are answered without a regular expression, and
 * without loading node:net at all (~2 ms of start-up, with the stream modules it needs).
 */
import { createRequire } from 'node:module';

let isIP: ((text: string) => number) | undefined;

const IPV4_CHARS = /^[0-9.]+$/;

/** 4 or 6 when `text` is an IPv4 or IPv6 address (as `net.isIP` decides, zone ids included), else 0. */
export function ipVersion(text: string): 0 | 4 | 6 {
  if (!text.includes(':') && !IPV4_CHARS.test(text)) return 0;
  isIP ??= (createRequire(import.meta.url)('node:net') as typeof import('node:net')).isIP;
  return isIP(text) as 0 | 4 | 6;
}
