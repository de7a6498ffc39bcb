/** PEM text helpers. Nothing here parses ASN.1; node:crypto does that. */

const CERTIFICATE_BLOCK = /-----BEGIN CERTIFICATE-----\r?\n[\s\S]*?-----END CERTIFICATE-----/g;

/** Each `CERTIFICATE` block of a PEM text, in order, with `\n` line endings and a final newline. */
export function splitPemChain(pem: string): string[] {
  const blocks = pem.match(CERTIFICATE_BLOCK) ?? [];
  return blocks.map((block) => `${block.replace(/\r\n/g, '\n').trim()}\n`);
}

/** Joins PEM blocks into one text, one newline after each. */
export function joinPem(blocks: readonly string[]): string {
  return blocks.map((block) => `${block.trim()}\n`).join('');
}
