/**
 * Choosing among the chains a CA offers for one certificate (RFC 8555 §7.4.2: the default chain, and
 * alternates linked with `rel="alternate"`). `preferredChain` matches the issuer common name of the chain's
 * top certificate, as certbot's and lego's `--preferred-chain` do; without a match the default chain is
 * kept.
 */
import { X509Certificate } from 'node:crypto';
import { dnValues } from '../../x509/inspect.js';
import { splitPemChain } from '../../x509/pem.js';

/** The issuer common name (`CN=` of the issuer DN) of the last certificate in a PEM chain, leaf first. */
export function topIssuerCommonName(chainPem: string): string | undefined {
  const top = splitPemChain(chainPem).at(-1);
  if (!top) return undefined;
  let issuer: string;
  try {
    issuer = new X509Certificate(top).issuer;
  } catch {
    return undefined;
  }
  // node prints the DN one attribute per line, e.g. "C=US\nO=Let's Encrypt\nCN=ISRG Root X1".
  return dnValues(issuer, 'CN')[0];
}

/**
 * Downloads the issued certificate of a valid order through `fetch` (acme-client's getCertificate for
 * the order, client.ts): the default chain, or with `preferredChain` the first chain whose top
 * certificate was issued by that common name (the default one when none was). Returns the PEM chain,
 * leaf first. Throws what `fetch` throws (the caller wraps it).
 */
export async function downloadCertificate(
  fetch: (preferredChain?: string) => Promise<string>,
  preferredChain: string | undefined,
): Promise<string> {
  if (preferredChain === undefined) return fetch();
  // acme-client fetches the alternates and picks the chain where the name sits closest to the root: a
  // chain whose top certificate matches, if any. It also accepts a match deeper in the chain and falls
  // back to the default chain; certbot and lego match only the top, so check and otherwise take the default.
  const chosen = await fetch(preferredChain);
  if (topIssuerCommonName(chosen) === preferredChain) return chosen;
  return fetch();
}
