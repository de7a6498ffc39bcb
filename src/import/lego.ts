/**
 * lego: a `--path` directory (default `./.lego`) holds `certificates/<domain>.{crt,key,issuer.crt,json}`
 * (the `.crt` is the leaf followed by the issuer unless lego ran with `--no-bundle`; a `*` in the domain
 * becomes `_` in file names) and `accounts/<server host_port>/<email>/` (account.json and its key, never
 * read). lego keeps no renewal configuration: the challenge, key type and hooks come from the flags the
 * operator passes to lego, and are passed to the import the same way.
 */
import { readdir, readFile } from 'node:fs/promises';
import { basename, isAbsolute, join, resolve } from 'node:path';
import { UsageError } from '../errors.js';
import { ACME_DIRECTORY_URLS } from '../issuers/acme/directory.js';
import type { Challenge, KeyType } from '../manifest/types.js';
import { inspectCertificate } from '../x509/index.js';
import { directoryAlias, domainsOf, importedHook, manifestName, readBundle, reason } from './translate.js';
import type { FoundCertificate, SourceOptions, SourceResult } from './types.js';

const LEGO_KEY_TYPES: Record<string, KeyType> = {
  ec256: 'ecdsa-p256',
  ec384: 'ecdsa-p384',
  rsa2048: 'rsa-2048',
  rsa3072: 'rsa-3072',
  rsa4096: 'rsa-4096',
};

const LEGO_ENV = /\bLEGO_(CERT_DOMAIN|CERT_PATH|CERT_KEY_PATH|CERT_PEM_PATH|CERT_PFX_PATH)\b/;
/** The variables of lego's `--pem` / `--pfx` files: the import has no file to point them at. */
const LEGO_UNSET_ENV = /\bLEGO_CERT_(PEM|PFX)_PATH\b/;

/** The alias of a public CA whose directory lives on `host` (lego names account folders by host_port). */
function aliasForHost(hostPort: string): string | undefined {
  const host = hostPort.replace(/_(\d+)$/, ':$1');
  for (const [alias, url] of Object.entries(ACME_DIRECTORY_URLS)) {
    if (new URL(url).host === host) return alias;
  }
  return undefined;
}

/** The challenge from lego's flags, or why there is none. */
function legoChallenge(options: SourceOptions): { challenge?: Challenge; problem?: string } {
  if (options.httpWebroot) return { challenge: { type: 'http-01', webroot: options.httpWebroot } };
  if (options.dns) {
    if (options.dns === 'exec' && options.execPath) {
      return { challenge: { type: 'dns-01', exec: options.execPath } };
    }
    return {
      problem:
        options.dns === 'exec'
          ? 'lego --dns exec: give its EXEC_PATH with --exec-path (lego exec convention, the same as cert-renew dns-01 exec)'
          : `lego --dns ${options.dns} (credentials in its environment, not read): use a dns-01 provider, e.g. "challenge": {"type": "dns-01", "exec": COMMAND} with a command that updates that DNS`,
    };
  }
  if (options.httpPort) {
    const port = options.httpPort.includes(':') ? options.httpPort : `:${options.httpPort}`;
    return { challenge: { type: 'http-01', standalone: port } };
  }
  return {
    problem:
      'lego keeps no challenge settings: pass the flags given to lego (--http.webroot DIR, --http.port ADDR or --dns exec --exec-path CMD), or set a "challenge"',
  };
}

/**
 * Reads every certificate of a lego `--path` directory. Throws UsageError when `dir` has no
 * `certificates/` or when the ACME directory cannot be told (lego records only the server's host).
 */
export async function readLego(dir: string, options: SourceOptions): Promise<SourceResult> {
  const certDir = join(dir, 'certificates');
  let files: string[];
  try {
    files = (await readdir(certDir)).filter((f) => f.endsWith('.json')).sort();
  } catch (error) {
    throw new UsageError(`${dir} is not a lego directory: ${reason(error)}`, {
      hint: 'give the --path lego uses (default ./.lego); it holds certificates/',
    });
  }
  const accounts = new Map<string, string[]>();
  try {
    for (const host of await readdir(join(dir, 'accounts'))) {
      accounts.set(host, await readdir(join(dir, 'accounts', host)).catch(() => []));
    }
  } catch {
    // no accounts folder: the directory and e-mail must come from the flags
  }
  const hosts = [...accounts.keys()];

  const result: SourceResult = { found: [], untranslated: [], failed: [] };
  if (options.renewHook) {
    const program = options.renewHook.trim().split(/\s+/)[0] ?? '';
    const script = await readFile(resolve(options.cwd ?? '', program), 'utf8').catch(() => '');
    if (LEGO_UNSET_ENV.test(options.renewHook) || LEGO_UNSET_ENV.test(script)) {
      result.untranslated.push({
        message: `--renew-hook ${options.renewHook} reads LEGO_CERT_PEM_PATH or LEGO_CERT_PFX_PATH (lego's --pem/--pfx files), which are not set: give the store "outputs": {"combined": …} or {"pkcs12": …} and have the hook read that file, or read LEGO_CERT_PATH and LEGO_CERT_KEY_PATH`,
      });
    }
  }
  const { challenge, problem } = legoChallenge(options);
  const keyType = options.keyType ? LEGO_KEY_TYPES[options.keyType] : undefined;
  if (options.keyType && !keyType) {
    result.untranslated.push({
      message: `lego --key-type ${options.keyType} has no equivalent; no keyType written`,
    });
  }
  for (const file of files) {
    const base = basename(file, '.json');
    const name = manifestName(base);
    const source = join(certDir, base);
    let found: FoundCertificate;
    let certHost: string | undefined;
    try {
      const resourceText = await readFile(join(certDir, file), 'utf8');
      let resource: { certUrl?: unknown } | null;
      try {
        resource = JSON.parse(resourceText) as { certUrl?: unknown };
      } catch (error) {
        throw new Error(`${join(certDir, file)} is not JSON (${reason(error)})`);
      }
      if (typeof resource?.certUrl === 'string') certHost = new URL(resource.certUrl).host.replace(':', '_');
      const issuer = join(certDir, `${base}.issuer.crt`);
      const hasIssuer = await readFile(issuer).then(
        () => true,
        () => false,
      );
      const bundle = await readBundle(
        join(certDir, `${base}.crt`),
        join(certDir, `${base}.key`),
        hasIssuer ? issuer : undefined,
      );
      found = { name, domains: domainsOf(bundle.certPem), bundle, source: `${source}.crt` };
    } catch (error) {
      result.failed.push({ name, source: `${source}.crt`, message: reason(error) });
      continue;
    }
    const host = certHost ?? (hosts.length === 1 ? hosts[0] : undefined);
    const directory = options.server ? directoryAlias(options.server) : host ? aliasForHost(host) : undefined;
    if (!directory) {
      throw new UsageError(
        `lego records only the ACME server's host (${host?.replace(/_(\d+)$/, ':$1') ?? 'unknown'}), not its directory URL`,
        { hint: 'give the --server URL passed to lego (e.g. --server https://ca.example/directory)' },
      );
    }
    found.directory = directory;
    const emails = host ? (accounts.get(host) ?? []) : [];
    const email = options.email ?? (emails.length === 1 ? emails[0] : undefined);
    if (email) found.email = email;
    if (challenge) found.challenge = challenge;
    if (problem) result.untranslated.push({ name, message: problem });
    if (keyType) {
      const actual = inspectCertificate(found.bundle.certPem).keyType;
      if (actual === keyType) found.keyType = keyType;
      else {
        result.untranslated.push({
          name,
          message: `--key-type ${options.keyType} does not match the certificate's key (${actual}); no keyType written, the stored key type is kept`,
        });
      }
    }
    if (options.renewHook) {
      // lego splits its hook on white space and runs it without a shell.
      const run = options.renewHook.trim().split(/\s+/);
      const program = run[0] ?? '';
      if (options.cwd && program.includes('/') && !isAbsolute(program))
        run[0] = resolve(options.cwd, program);
      const spec = { run };
      found.postRenew = [await importedHook(spec, LEGO_ENV, 'lego')];
    }
    result.found.push(found);
  }
  return result;
}
