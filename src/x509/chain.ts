import { X509Certificate } from 'node:crypto';
import { splitPemChain } from './pem.js';

/** A failure's `notBefore`: a certificate of the chain is not valid yet at `at` (this is its notBefore). */
export type ChainVerdict = { ok: true } | { ok: false; reason: string; notBefore?: Date };

/**
 * Verifies `leaf` (the first certificate of `leafPem`, or that certificate already parsed) up the chain:
 * each certificate must be issued and signed by the next one (`chainPem`'s blocks in order, issuers being
 * CAs). When trust anchors are given,
 * the last link must itself be one of them, or be issued and signed by one; with an empty chain the leaf is
 * checked against the anchors directly. When `at` is given, every certificate used (anchor included) must
 * be valid at that moment — notBefore with `notBeforeSkewMs` (ms) of tolerance for a CA's clock ahead of
 * ours, notAfter exactly. Without anchors only the links are checked, not where the chain ends.
 */
export function verifyChain(
  leafPem: string | X509Certificate,
  chainPem: string,
  trustAnchorsPem?: readonly string[],
  at?: Date,
  notBeforeSkewMs = 0,
): ChainVerdict {
  let leaf: X509Certificate | undefined;
  if (typeof leafPem === 'string') {
    const leafBlock = splitPemChain(leafPem)[0];
    if (leafBlock === undefined) return fail('the certificate is not PEM');
    leaf = parse(leafBlock);
    if (!leaf) return fail('the certificate does not parse');
  } else {
    leaf = leafPem;
  }

  const links: X509Certificate[] = [leaf];
  for (const [index, block] of splitPemChain(chainPem).entries()) {
    const cert = parse(block);
    if (!cert) return fail(`chain certificate ${index + 1} does not parse`);
    links.push(cert);
  }

  const used = links.map((cert, index) => ({ cert, label: describe(cert, index) }));
  for (let i = 0; i + 1 < used.length; i++) {
    const child = used[i]!;
    const parent = used[i + 1]!;
    const problem = issuedBy(child.cert, parent.cert, child.label, parent.label);
    if (problem) return fail(problem);
  }

  if (trustAnchorsPem !== undefined) {
    const anchors: X509Certificate[] = [];
    for (const pem of trustAnchorsPem) {
      for (const block of splitPemChain(pem)) {
        const anchor = parse(block);
        if (anchor) anchors.push(anchor);
      }
    }
    const last = used[used.length - 1]!;
    const isAnchor = anchors.some((anchor) => anchor.fingerprint256 === last.cert.fingerprint256);
    if (!isAnchor) {
      const anchor = anchors.find((candidate) => issuedBy(last.cert, candidate, '', '') === undefined);
      if (!anchor) {
        return fail(
          anchors.length === 0
            ? 'no trust anchor to verify against'
            : `${last.label} is not issued by any trust anchor (its issuer is ${oneLine(last.cert.issuer)})`,
        );
      }
      used.push({ cert: anchor, label: `the trust anchor (${oneLine(anchor.subject)})` });
    }
  }

  if (at) {
    for (const { cert, label } of used) {
      const from = new Date(cert.validFrom);
      const to = new Date(cert.validTo);
      if (at.getTime() + notBeforeSkewMs < from.getTime())
        return { ok: false, reason: `${label} is not valid before ${from.toISOString()}`, notBefore: from };
      if (at > to) return fail(`${label} expired at ${to.toISOString()}`);
    }
  }
  return { ok: true };
}

/** Why `parent` did not issue `child`, or undefined when it did. */
function issuedBy(
  child: X509Certificate,
  parent: X509Certificate,
  childLabel: string,
  parentLabel: string,
): string | undefined {
  if (!child.checkIssued(parent)) {
    return `${childLabel} is not issued by ${parentLabel} (its issuer is ${oneLine(child.issuer)})`;
  }
  if (!parent.ca) return `${parentLabel} signs ${childLabel} but is not a CA`;
  let verified = false;
  try {
    verified = child.verify(parent.publicKey);
  } catch {
    verified = false;
  }
  return verified
    ? undefined
    : `the signature of ${childLabel} does not verify with the key of ${parentLabel}`;
}

function parse(block: string): X509Certificate | undefined {
  try {
    return new X509Certificate(block);
  } catch {
    return undefined;
  }
}

function describe(cert: X509Certificate, index: number): string {
  const who = index === 0 ? 'the certificate' : `chain certificate ${index}`;
  return `${who} (${oneLine(cert.subject)})`;
}

function oneLine(name: string | undefined): string {
  // node:crypto gives undefined (despite its types) for an empty name.
  return name ? name.split('\n').join(', ') : '(empty name)';
}

function fail(reason: string): ChainVerdict {
  return { ok: false, reason };
}
