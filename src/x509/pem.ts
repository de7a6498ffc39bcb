/** PEM text helpers. Nothing here parses ASN.1; node:crypto does that. */

const CERTIFICATE_BLOCK = /-----BEGIN CERTIFICATE-----\r?\n[\s\S]*?-----END CERTIFICATE-----/g;

/** Each `CERTIFICATE` block of a PEM text, in order, with `\n` line endings and a final newline. */
export function splitPemChain(pem: string): string[] {
  const blocks = pem.match(CERTIFICATE_BLOCK) ?? [];
  return blocks.map((block) => `${block.replace(/\r\n/g, '\n').trim()}\n`);
}

const FIRST_CERTIFICATE = /-----BEGIN CERTIFICATE-----([A-Za-z0-9+/=\s]+?)-----END CERTIFICATE-----/;
const FIRST_BLOCK = /-----BEGIN [^-]+-----([A-Za-z0-9+/=\s]+?)-----END /;

/** The DER bytes of the first `CERTIFICATE` block of a PEM text, or undefined when there is none. */
export function firstCertificateDer(pem: string): Buffer | undefined {
  const body = FIRST_CERTIFICATE.exec(pem)?.[1];
  return body === undefined ? undefined : Buffer.from(body, 'base64');
}

/** The DER bytes of the first PEM block of any type (CERTIFICATE, CERTIFICATE REQUEST, …), or undefined. */
export function firstPemDer(pem: string): Buffer | undefined {
  const body = FIRST_BLOCK.exec(pem)?.[1];
  return body === undefined ? undefined : Buffer.from(body, 'base64');
}

/** Joins PEM blocks into one text, one newline after each. */
export function joinPem(blocks: readonly string[]): string {
  return blocks.map((block) => `${block.trim()}\n`).join('');
}

/**
 * Whether `fullchain` holds the certificates of `cert` then those of `chain`, as the stores write a set: the
 * copies of the leaf agree, so neither was changed since. Compared in place when `fullchain` is the two texts
 * joined (what cert-renew writes; no string is made); otherwise certificate by certificate, whatever the
 * line breaks and blank lines between them (CRLF, `cat a b` of files without a final newline).
 */
export function sameCertificates(fullchain: string, cert: string, chain: string): boolean {
  if (
    fullchain.length === cert.length + chain.length &&
    fullchain.startsWith(cert) &&
    fullchain.endsWith(chain)
  )
    return true;
  const all = certificateBodies(fullchain);
  const parts = [...certificateBodies(cert), ...certificateBodies(chain)];
  return all.length === parts.length && all.every((body, i) => body === parts[i]);
}

/** The base64 of each CERTIFICATE block of a PEM text, without its white space. */
function certificateBodies(pem: string): string[] {
  return [...pem.matchAll(/-----BEGIN CERTIFICATE-----([A-Za-z0-9+/=\s]*?)-----END CERTIFICATE-----/g)].map(
    (match) => (match[1] as string).replace(/\s+/g, ''),
  );
}
