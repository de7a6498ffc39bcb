/**
 * Why a certificate is (or is not) renewed. A fixed set: these strings are JSON values in `plan --json`
 * and the run report, and labels in the metrics. Never rename one.
 */
export const Reason = {
  missing: 'missing',
  unreadable: 'unreadable',
  /** The stored certificate was revoked at its issuer (`cert-renew revoke`): replaced with a new key. */
  revoked: 'revoked',
  keyMismatch: 'key-mismatch',
  domainsChanged: 'domains-changed',
  keyTypeChanged: 'key-type-changed',
  issuerChanged: 'issuer-changed',
  expired: 'expired',
  /** notBefore is still ahead (beyond the clock-skew tolerance): no client accepts it yet. */
  notYetValid: 'not-yet-valid',
  /** The files a reader of the configured names gets are not the links cert-renew made (replaced by hand). */
  linksReplaced: 'links-replaced',
  ariWindow: 'ari-window',
  withinRenewWindow: 'within-renew-window',
  /** At or below the safety floor (max of lifetime/20 and two run intervals), whatever the window or ARI said. */
  safetyFloor: 'safety-floor',
  forced: 'forced',
  ok: 'ok',
} as const;
export type Reason = (typeof Reason)[keyof typeof Reason];

/** Every reason, in the order the policy checks them (DESIGN.md "When to renew"). */
export const REASONS: readonly Reason[] = Object.values(Reason);
