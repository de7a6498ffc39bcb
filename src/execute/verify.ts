/**
 * What an issuer hands back is checked before anything is stored: the key matches, the names are covered,
 * the chain holds together (and reaches the issuer's root when it is known), and it is valid now (notAfter
 * against the present, notBefore with CLOCK_SKEW_MS of tolerance).
 */
import { CertRenewError, ErrorCode } from '../errors.js';
import type { ResolvedCertificate } from '../manifest/types.js';
import { clockBehindHint, notYetValidText } from '../policy/clock.js';
import { CLOCK_SKEW_MS as SKEW_MS } from '../policy/time.js';
import { type CertInfo, certInfo, keyMatchesX509, parseCertificate, verifyChain } from '../x509/index.js';

export function verifyIssued(
  entry: ResolvedCertificate,
  bundle: { certPem: string; chainPem: string; keyPem: string },
  now: Date,
  trustAnchors: string[] | undefined,
): CertInfo {
  const kept = 'nothing was stored; the previous certificate stays in place';
  const fail = (what: string, hint = kept) =>
    new CertRenewError(
      ErrorCode.verifyFailed,
      `${entry.name}: the issued certificate was rejected: ${what}`,
      {
        hint,
      },
    );
  // A CA dates notBefore at (or a little before) the moment it signs, and its chain was valid before that:
  // one not valid yet means this machine's clock is behind. Each attempt is recorded and backed off.
  const clockHint = `${clockBehindHint()}; ${kept}, and failed attempts back off (5 min, doubling, up to 6 h): fix the clock, then cert-renew run --only ${entry.name} --force`;
  // Parsed once for the three checks below.
  const leaf = parseCertificate(bundle.certPem);
  let info: CertInfo | undefined;
  try {
    info = leaf && certInfo(leaf);
  } catch {
    info = undefined;
  }
  if (!leaf || !info) throw fail('the issuer returned something that is not a certificate');
  if (!keyMatchesX509(bundle.keyPem, leaf)) throw fail('it is not for our private key');
  const names = new Set([...info.dnsNames, ...info.ipAddresses].map((n) => n.toLowerCase()));
  const missing = entry.domains.filter((d) => !names.has(d.toLowerCase()));
  if (missing.length > 0) throw fail(`it does not cover ${missing.join(', ')}`);
  if (info.notBefore.getTime() > now.getTime() + SKEW_MS) {
    throw fail(`it is ${notYetValidText(info.notBefore, now)}`, clockHint);
  }
  if (info.notAfter.getTime() <= now.getTime()) throw fail(`it expired at ${info.notAfter.toISOString()}`);
  // Judged against the present: a certificate valid for minutes (a 4-minute local CA, Pebble's 120 s) is
  // valid; only notBefore gets the clock-skew tolerance.
  const chain = verifyChain(leaf, bundle.chainPem, trustAnchors, now, SKEW_MS);
  if (!chain.ok && chain.notBefore) {
    throw fail(
      `its chain does not verify: ${chain.reason} (${notYetValidText(chain.notBefore, now)})`,
      clockHint,
    );
  }
  if (!chain.ok) throw fail(`its chain does not verify: ${chain.reason}`);
  return info;
}
