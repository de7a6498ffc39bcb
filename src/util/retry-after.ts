/**
 * The HTTP Retry-After header (RFC 9110 §10.2.3): delay-seconds, or an HTTP-date in one of the three forms
 * of §5.6.7 (IMF-fixdate, and the obsolete rfc850-date and asctime-date, which a recipient must accept).
 * Nothing else: `Date.parse` alone takes nearly anything ("x 2099" is a date in 2099, "Dec 1" one in 2001),
 * and a garbage header read as a date would hold a certificate back, or keep an answer, far too long.
 */

const DAY = '(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)';
const MONTH = '(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)';
const TIME = '\\d{2}:\\d{2}:\\d{2}';
/** asctime-date (`Sun Nov  6 08:49:37 1994`): no zone, GMT. */
const ASCTIME_DATE = new RegExp(`^${DAY} ${MONTH} [ \\d]\\d ${TIME} \\d{4}$`);
const HTTP_DATE = [
  new RegExp(`^${DAY}, \\d{2} ${MONTH} \\d{4} ${TIME} GMT$`),
  new RegExp(`^(?:Mon|Tues|Wednes|Thurs|Fri|Satur|Sun)day, \\d{2}-${MONTH}-\\d{2} ${TIME} GMT$`),
  ASCTIME_DATE,
];

/**
 * How long a Retry-After header asks to wait from `now`, in milliseconds: delay-seconds × 1000, or the
 * HTTP-date minus `now` (0 for a date already past). Undefined when the header is absent or is neither
 * form.
 */
export function retryAfterMs(header: string | undefined, now: Date): number | undefined {
  const value = header?.trim();
  if (!value) return undefined;
  if (/^\d+$/.test(value)) return Number(value) * 1000;
  if (!HTTP_DATE.some((form) => form.test(value))) return undefined;
  const at = Date.parse(ASCTIME_DATE.test(value) ? `${value} GMT` : value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now.getTime());
}
