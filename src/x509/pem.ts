/** PEM text helpers. Nothing here parses ASN.1; node:crypto does that. */

const CERTIFICATE_BLOCK = /-----BEGIN CERTIFICATE-----\r?\n[\s\S]*?-----END CERTIFICATE-----/g;

/** Each `CERTIFICATE` block of a PEM text, in order, with `\n` line endings and a final newline. */
export function splitPemChain(pem: string): string[] {
  const blocks = pem.match(CERTIFICATE_BLOCK) ?? [];
  return blocks.map((block) => `${block.replace(/\r\n/g, '\n').trim()}\n`);
}

const FIRST_BLOCK = /-----BEGIN [^-]+-----([A-Za-z0-9+/=\s]+?)-----END /;
const BEGIN_CERTIFICATE = '-----BEGIN CERTIFICATE-----';
const END_CERTIFICATE = '-----END CERTIFICATE-----';
const BASE64_BODY = /^[A-Za-z0-9+/=\s]+$/;

/**
 * The DER bytes of the first `CERTIFICATE` block of a PEM text — its base64 body between the BEGIN line and
 * the first END line after it, holding nothing else but whitespace — or undefined when there is none. Found
 * with indexOf: a lazy regular expression over the body cost a plan of 10,000 certificates ~60 ms.
 */
export function firstCertificateDer(pem: string): Buffer | undefined {
  for (let at = pem.indexOf(BEGIN_CERTIFICATE); at !== -1; at = pem.indexOf(BEGIN_CERTIFICATE, at + 1)) {
    const start = at + BEGIN_CERTIFICATE.length;
    const end = pem.indexOf(END_CERTIFICATE, start);
    if (end === -1) return undefined;
    const body = pem.slice(start, end);
    if (BASE64_BODY.test(body)) return Buffer.from(body, 'base64');
  }
  return undefined;
}

/** The DER bytes of the first PEM block of any type (CERTIFICATE, CERTIFICATE REQUEST, …), or undefined. */
export function firstPemDer(pem: string): Buffer | undefined {
  const body = FIRST_BLOCK.exec(pem)?.[1];
  return body === undefined ? undefined : Buffer.from(body, 'base64');
}

/**
 * Whether `text` holds a `CERTIFICATE` block: its BEGIN line, then something, then its END line — as
 * /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/ says, found with indexOf (three times for
 * each certificate a store reads).
 */
export function holdsCertificate(text: string): boolean {
  const begin = text.indexOf(BEGIN_CERTIFICATE);
  return begin !== -1 && text.indexOf(END_CERTIFICATE, begin + BEGIN_CERTIFICATE.length + 1) !== -1;
}

/** Joins PEM blocks into one text, one newline after each. */
export function joinPem(blocks: readonly string[]): string {
  return blocks.map((block) => `${block.trim()}\n`).join('');
}

/**
 * Whether `fullchain` holds the certificates of `cert` then those of `chain`, as the stores write a set: the
 * copies of the leaf agree, so neither was changed since. Compared in place when `fullchain` is the two texts
 * joined (what cert-renew writes; no string is made); otherwise block by block as splitPemChain gives them,
 * whatever the line endings and blank lines between them (CRLF, `cat a b` of files without a final newline).
 */
export function sameCertificates(fullchain: string, cert: string, chain: string): boolean {
  if (
    fullchain.length === cert.length + chain.length &&
    fullchain.startsWith(cert) &&
    fullchain.endsWith(chain)
  )
    return true;
  const all = splitPemChain(fullchain);
  const parts = [...splitPemChain(cert), ...splitPemChain(chain)];
  return all.length === parts.length && all.every((block, i) => block === parts[i]);
}
