/**
 * Words for a certificate that is "not valid yet" by this machine's clock (trial 13): a CA dates notBefore
 * at or a little before the moment it signs, and a TLS server's certificate is normally in use for a while,
 * so a certificate not valid yet by more than the clock-skew tolerance almost always means that this
 * machine's clock is behind, not that the certificate is wrong. These messages name this machine's time
 * (UTC, to the second) and point at the clock. Pure: the time comes from the caller's clock.
 */
import { formatDuration, isoSecond } from '../util/duration.js';

/** The advice that ends each of these messages (how to check and fix the clock on a systemd host). */
export const CLOCK_ADVICE = 'check the clock and its time sync (timedatectl status; NTP)';

/** `this machine's clock says 2026-11-30T17:32:37Z (UTC)`. */
export function machineTime(now: Date): string {
  return `this machine's clock says ${isoSecond(now)} (UTC)`;
}

/**
 * `not valid before 2026-11-30T17:42:37Z, 10m ahead of this machine's clock (2026-11-30T17:32:37Z UTC)`:
 * the notBefore that is ahead, by how much, and the time of this machine.
 */
export function notYetValidText(notBefore: Date, now: Date): string {
  const ahead = formatDuration(Math.max(notBefore.getTime() - now.getTime(), 0));
  return `not valid before ${isoSecond(notBefore)}, ${ahead} ahead of this machine's clock (${isoSecond(now)} UTC)`;
}

/**
 * The hint for a certificate not valid yet by this machine's clock: `this machine's clock is probably
 * behind: check the clock …`; with `now`, the machine's time is named first.
 */
export function clockBehindHint(now?: Date): string {
  const said = now ? `${machineTime(now)}; ` : '';
  return `${said}this machine's clock is probably behind: ${CLOCK_ADVICE}`;
}
