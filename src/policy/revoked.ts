/**
 * The stored certificate was revoked (`cert-renew revoke --no-renew`, or a revocation whose renewal
 * failed): a hard trigger — no client should be served a revoked certificate — and critical for `status`.
 */
import { type Check, type PolicyInput, timeline } from './checks.js';
import { Reason } from './reasons.js';

/** Fires when `input.revoked` says the stored certificate (by serial) is revoked. */
export const certificateRevoked: Check = (input: PolicyInput, info) => {
  const revoked = input.revoked;
  if (!revoked) return null;
  const newKey = revoked.reason === 'keyCompromise' ? ' with a new key' : '';
  const message = `revoked (${revoked.reason}) at ${revoked.revokedAt}; renews now${newKey}`;
  if (!info?.ok) return { renew: true, reason: Reason.revoked, message };
  const t = timeline(input, info.cert);
  return {
    renew: true,
    reason: Reason.revoked,
    message,
    notBefore: t.notBefore,
    notAfter: t.notAfter,
    remainingMs: t.remainingMs,
    lifetimeMs: t.lifetimeMs,
  };
};
