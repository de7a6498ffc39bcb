/**
 * When to renew (DESIGN.md "When to renew"): a pure function of the manifest entry, what the store holds
 * and the time. The order, first match wins:
 *
 *   1. hard triggers: missing, unreadable (the store says so, or the PEM does not parse), revoked, key-mismatch,
 *      domains-changed, key-type-changed, issuer-changed, expired, not-yet-valid (notBefore more than
 *      the clock-skew tolerance ahead), links-replaced (a filesystem store's stable names are not the links
 *      it made: every check judges what a reader of those names gets, and the renewal puts the links back);
 *   2. ari-window: the deterministic point in the CA's suggested window falls before the next run;
 *   3. within-renew-window: remaining ≤ the renewal window — an explicit `renewBefore`/`renewBeforePercent`
 *      always holds beside ARI (whichever comes first renews); the default window applies only when no
 *      usable ARI window was given;
 *   4. safety-floor: remaining ≤ max(lifetime/20, 2 × run interval), whatever the window or ARI said (a
 *      certificate inside both its window and the floor reports within-renew-window: the window came first);
 *   5. forced (`--force`) — last on purpose, as in DESIGN.md's list: a forced run renews everything, but a
 *      certificate that was due anyway reports the real reason (missing, expired, …); only one that would
 *      otherwise have been `ok` reports `forced`;
 *   6. ok.
 */
import type { LoadResult, RevocationRecord, StoredCertificate } from '../stores/types.js';
import { inspectWithMeta, knownInspection } from '../x509/fast.js';
import { certInfo, parseCertificate, sameSerial } from '../x509/inspect.js';
import { keyMatchesX509 } from '../x509/keys.js';
import {
  ariWindow,
  type Check,
  certificateMissing,
  certificateUnreadable,
  type Decision,
  domainsChanged,
  expired,
  forced,
  type Inspected,
  issuerChanged,
  keyMismatch,
  keyTypeChanged,
  linksReplaced,
  nearingExpiry,
  notYetValid,
  okDecision,
  type PolicyInput,
  safetyFloor,
} from './checks.js';
import { Reason } from './reasons.js';
import { certificateRevoked } from './revoked.js';
import { CLOCK_SKEW_MS } from './time.js';

export type { Check, Decision, Inspected, PolicyInput } from './checks.js';
export { Reason } from './reasons.js';
export {
  ariRenewAt,
  CLOCK_SKEW_MS,
  DEFAULT_RUN_INTERVAL_MS,
  renewalWindowMs,
  safetyFloorMs,
} from './time.js';

/** The checks in the order they are run. */
export const checks: readonly Check[] = [
  certificateMissing,
  certificateUnreadable,
  certificateRevoked,
  keyMismatch,
  domainsChanged,
  keyTypeChanged,
  issuerChanged,
  expired,
  notYetValid,
  linksReplaced,
  ariWindow,
  nearingExpiry,
  safetyFloor,
  forced,
];

/** Parses what the store holds (once per decision); undefined when nothing readable is stored. */
export function inspectStored(stored: LoadResult): Inspected | undefined {
  if (stored.state !== 'present') return undefined;
  // What the store already found (a filesystem store's load cache), else the metadata's fast path.
  const fast = knownInspection(stored.cert) ?? inspectWithMeta(stored.cert);
  if (fast) return { ok: true, ...fast };
  const cert = parseCertificate(stored.cert.certPem);
  if (!cert) return { ok: false, error: 'the certificate PEM does not parse' };
  return {
    ok: true,
    cert: certInfo(cert),
    keyMatches: keyMatchesX509(stored.cert.keyPem, cert),
  };
}

/**
 * Whether a stored certificate may be served now: it parses, its key matches, it is not expired and not yet
 * valid by more than CLOCK_SKEW_MS. What a rollback may restore (never an expired or mismatched version).
 */
export function validNow(cert: StoredCertificate, now: Date): boolean {
  const inspected = inspectStored({ state: 'present', cert });
  if (!inspected?.ok || !inspected.keyMatches) return false;
  const { notBefore, notAfter } = inspected.cert;
  return notAfter.getTime() > now.getTime() && notBefore.getTime() <= now.getTime() + CLOCK_SKEW_MS;
}

/**
 * Whether a rollback may restore `cert`, given the certificate's revocation log (`revocations`, as
 * RevocationLog.revocations gives it): valid now (`validNow`), not itself revoked (by serial or SHA-256
 * fingerprint), and — once any of its versions was revoked for keyCompromise — stored after that
 * revocation (`meta.issuedAt` later than `revokedAt`): an older version may hold the compromised key
 * (reuseKey keeps one key across versions), and one without metadata cannot be dated, so neither is
 * restored.
 */
export function restorable(
  cert: StoredCertificate,
  revocations: readonly RevocationRecord[],
  now: Date,
): boolean {
  if (!validNow(cert, now)) return false;
  const inspected = inspectStored({ state: 'present', cert });
  if (!inspected?.ok) return false;
  const { serial, fingerprint256 } = inspected.cert;
  if (revocations.some((r) => r.fingerprint === fingerprint256 || sameSerial(r.serial, serial))) return false;
  const issuedAt = cert.meta ? Date.parse(cert.meta.issuedAt) : Number.NaN;
  return !revocations.some((r) => r.reason === 'keyCompromise' && !(issuedAt > Date.parse(r.revokedAt)));
}

/**
 * The decision for one certificate. `inspected` defaults to parsing `input.stored`; callers that already
 * parsed it (or tests of the time rules) pass it in.
 */
export function decide(
  input: PolicyInput,
  inspected: Inspected | undefined = inspectStored(input.stored),
): Decision {
  const replaced = input.stored.state === 'present' ? input.stored.replaced : undefined;
  for (const check of checks) {
    const decision = check(input, inspected);
    if (decision)
      return replaced ? { ...decision, message: `${decision.message}; ${replaced.note}` } : decision;
  }
  if (!inspected?.ok) {
    // Unreachable: missing and unreadable stores are hard triggers above.
    return { renew: true, reason: Reason.unreadable, message: 'stored certificate unreadable' };
  }
  return okDecision(input, inspected.cert);
}
