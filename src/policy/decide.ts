/**
 * When to renew (DESIGN.md "When to renew"): a pure function of the manifest entry, what the store holds
 * and the time. The order, first match wins:
 *
 *   1. hard triggers: missing, unreadable (the store says so, or the PEM does not parse), revoked, key-mismatch,
 *      domains-changed, key-type-changed, issuer-changed, expired;
 *   2. ari-window: the deterministic point in the CA's suggested window falls before the next run;
 *   3. within-renew-window: remaining ≤ the renewal window — only when no usable ARI window was given
 *      (ARI, when offered, replaces the window);
 *   4. safety-floor: remaining ≤ max(lifetime/20, 2 × run interval), whatever the window or ARI said (a
 *      certificate inside both its window and the floor reports within-renew-window: the window came first);
 *   5. forced (`--force`) — last on purpose, as in DESIGN.md's list: a forced run renews everything, but a
 *      certificate that was due anyway reports the real reason (missing, expired, …); only one that would
 *      otherwise have been `ok` reports `forced`;
 *   6. ok.
 */
import type { LoadResult } from '../stores/types.js';
import { inspectWithMeta } from '../x509/fast.js';
import { certInfo, parseCertificate } from '../x509/inspect.js';
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
  nearingExpiry,
  okDecision,
  type PolicyInput,
  safetyFloor,
} from './checks.js';
import { Reason } from './reasons.js';
import { certificateRevoked } from './revoked.js';

export type { Check, Decision, Inspected, PolicyInput } from './checks.js';
export { Reason } from './reasons.js';
export { ariRenewAt, DEFAULT_RUN_INTERVAL_MS, renewalWindowMs, safetyFloorMs } from './time.js';

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
  ariWindow,
  nearingExpiry,
  safetyFloor,
  forced,
];

/** Parses what the store holds (once per decision); undefined when nothing readable is stored. */
export function inspectStored(stored: LoadResult): Inspected | undefined {
  if (stored.state !== 'present') return undefined;
  const fast = inspectWithMeta(stored.cert);
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
 * The decision for one certificate. `inspected` defaults to parsing `input.stored`; callers that already
 * parsed it (or tests of the time rules) pass it in.
 */
export function decide(
  input: PolicyInput,
  inspected: Inspected | undefined = inspectStored(input.stored),
): Decision {
  for (const check of checks) {
    const decision = check(input, inspected);
    if (decision) return decision;
  }
  if (!inspected?.ok) {
    // Unreachable: missing and unreadable stores are hard triggers above.
    return { renew: true, reason: Reason.unreadable, message: 'stored certificate unreadable' };
  }
  return okDecision(input, inspected.cert);
}
