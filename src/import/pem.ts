/**
 * A plain PEM certificate and key (and chain) for one name: "upload a certificate by hand". The entry
 * renews through `--issuer` (an issuer of the manifest), else through an ACME issuer the import adds for
 * `--server` (with `--email`), else through the manifest's default issuer, when it is due.
 */
import { X509Certificate } from 'node:crypto';
import { resolve } from 'node:path';
import { UsageError } from '../errors.js';
import { checkDomain } from '../manifest/resolve.js';
import { directoryAlias, domainsOf, readBundle, reason } from './translate.js';
import type { SourceOptions, SourceResult } from './types.js';

/** Reads `--cert`/`--key`/`--chain` (relative to `cwd`). Throws UsageError when a flag is missing. */
export async function readPem(cwd: string, options: SourceOptions): Promise<SourceResult> {
  if (!options.name || !options.cert || !options.key) {
    throw new UsageError('import pem needs --name, --cert and --key', {
      hint: 'e.g. cert-renew import pem --name www --cert www.crt --key www.key [--chain ca.crt]',
    });
  }
  const name = options.name;
  const certPath = resolve(cwd, options.cert);
  const result: SourceResult = { found: [], untranslated: [], failed: [] };
  try {
    const bundle = await readBundle(
      certPath,
      resolve(cwd, options.key),
      options.chain ? resolve(cwd, options.chain) : undefined,
    );
    const covered = domainsOf(bundle.certPem);
    let domains = covered;
    if (options.domains && options.domains.length > 0) {
      const wanted = options.domains.map((d) => {
        const check = checkDomain(d);
        if (!check.ok) throw new UsageError(`--domains: '${d}' ${check.problem}`);
        return check.ascii;
      });
      const missing = wanted.filter((d) => !covered.includes(d));
      if (missing.length > 0) {
        result.failed.push({
          name,
          source: certPath,
          message: `the certificate does not cover ${missing.join(', ')} (it names ${covered.join(', ') || 'no DNS name'})`,
        });
        return result;
      }
      domains = wanted;
    }
    if (bundle.chainPem === '') {
      const leaf = new X509Certificate(bundle.certPem);
      // A self-issued certificate needs no chain; any other is served incomplete without one.
      if (leaf.issuer !== leaf.subject) {
        result.untranslated.push({
          name,
          message: `no chain: ${options.cert} holds only the certificate and no --chain was given, so fullchain.pem will lack the intermediate CA certificate(s) of '${leaf.issuer.split('\n').join(', ')}' and clients that do not have them fail; import again with --chain FILE`,
        });
      }
    }
    result.found.push({
      name,
      domains,
      bundle,
      source: certPath,
      // The CA that is to renew it, when given: the import adds an ACME issuer for it like for lego.
      ...(options.server ? { directory: directoryAlias(options.server) } : {}),
      ...(options.email ? { email: options.email } : {}),
    });
  } catch (error) {
    if (error instanceof UsageError) throw error;
    result.failed.push({ name, source: certPath, message: reason(error) });
  }
  return result;
}
