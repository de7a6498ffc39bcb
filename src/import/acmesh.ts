/**
 * acme.sh: its home (default `~/.acme.sh`, `--home`/`--config-home`) holds one folder per certificate,
 * `<domain>/` for RSA and `<domain>_ecc/` for ECDSA keys, with `<domain>.conf` (shell assignments
 * `Le_Name='value'`; hook commands stored as `__ACME_BASE64__START_<base64>__ACME_BASE64__END_`),
 * `<domain>.cer` (leaf), `<domain>.key`, `ca.cer` (intermediates) and `fullchain.cer`. The account's e-mail
 * is where acme.sh looks for it: `ACCOUNT_EMAIL` in `account.conf` (its `--install --accountemail`), else
 * `CA_EMAIL` in the CA's `ca/<host>/<path>/ca.conf` (its `--register-account -m` / `--issue -m`).
 * `CA_BUNDLE` in `account.conf` (its `--ca-bundle`) is the trust it used for a private CA, and
 * `CA_EAB_KEY_ID` in `ca.conf` its External Account Binding (the HMAC key beside it is a secret: only
 * where it is, never its value, reaches the manifest). Account keys (`ca/…/account.key`) are never read.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parse as parseShell } from 'shell-quote';
import { UsageError } from '../errors.js';
import type { Challenge, KeyType } from '../manifest/types.js';
import { inspectCertificate } from '../x509/index.js';
import {
  directoryAlias,
  domainsOf,
  hookFromCommandLine,
  importedHook,
  manifestName,
  readBundle,
  reason,
} from './translate.js';
import type { FoundCertificate, ImportedHook, SourceOptions, SourceResult } from './types.js';

const B64_START = '__ACME_BASE64__START_';
const B64_END = '__ACME_BASE64__END_';
const ACMESH_ENV = /\b(CERT_PATH|CERT_KEY_PATH|CA_CERT_PATH|CERT_FULLCHAIN_PATH|Le_Domain)\b/;

const ACMESH_KEY_TYPES: Record<string, KeyType> = {
  'ec-256': 'ecdsa-p256',
  'ec-384': 'ecdsa-p384',
  '2048': 'rsa-2048',
  '3072': 'rsa-3072',
  '4096': 'rsa-4096',
};

/** Parses acme.sh's shell-assignment files (`KEY='value'` per line), decoding its base64-stored values. */
export function parseAcmeShConf(text: string): Map<string, string> {
  const values = new Map<string, string>();
  for (const line of text.split(/\r?\n/)) {
    if (!/^\s*[A-Za-z_][A-Za-z0-9_]*=/.test(line)) continue;
    const words = parseShell(line.trim(), (key) => `$${key}`);
    const first = words[0];
    if (typeof first !== 'string') continue;
    const at = first.indexOf('=');
    const key = first.slice(0, at);
    let value = first.slice(at + 1);
    if (value.startsWith(B64_START) && value.endsWith(B64_END)) {
      value = Buffer.from(value.slice(B64_START.length, -B64_END.length), 'base64').toString('utf8');
    }
    values.set(key, value);
  }
  return values;
}

function get(conf: Map<string, string>, key: string): string | undefined {
  const value = conf.get(key)?.trim();
  return value === undefined || value === '' || value === 'no' ? undefined : value;
}

function acmeShChallenge(conf: Map<string, string>): {
  challenge?: Challenge;
  problem?: string;
  note?: string;
} {
  const webroot = get(conf, 'Le_Webroot');
  if (webroot === undefined) {
    // acme.sh writes Le_Webroot='no' for its standalone listener.
    if (conf.get('Le_Webroot') === 'no') {
      const port = get(conf, 'Le_HTTPPort') ?? '80';
      const address = get(conf, 'Le_Listen_V4') ?? get(conf, 'Le_Listen_V6') ?? '';
      const host = address.includes(':') ? `[${address}]` : address;
      return { challenge: { type: 'http-01', standalone: `${host}:${port}` } };
    }
    return { problem: 'Le_Webroot is not set: set a "challenge" for it' };
  }
  const first = webroot.split(',')[0] ?? webroot;
  if (first === 'dns') {
    return {
      problem: 'manual DNS mode (--dns without a provider): set a "challenge" with a dns-01 provider',
    };
  }
  if (first.startsWith('dns_')) {
    return {
      problem: `DNS API ${first} (credentials in account.conf, not read): use a dns-01 provider, e.g. "challenge": {"type": "dns-01", "exec": COMMAND} with a command that updates that DNS`,
    };
  }
  if (first === 'alpn') return { problem: 'tls-alpn-01 (--alpn) has no equivalent: use http-01 or dns-01' };
  if (first === 'stateless') {
    return {
      problem:
        'stateless mode (the web server answers with the account thumbprint): use "challenge": {"type": "http-01", "webroot": DOCUMENT_ROOT}',
    };
  }
  if (first === 'apache' || first.startsWith('nginx')) {
    return {
      problem: `${first} mode (acme.sh edits the web server's configuration): serve /.well-known/acme-challenge/ from the document root and use "challenge": {"type": "http-01", "webroot": DOCUMENT_ROOT}`,
    };
  }
  const distinct = [...new Set(webroot.split(',').filter((w) => w !== ''))];
  const note =
    distinct.length > 1
      ? `Le_Webroot names several document roots (${distinct.join(', ')}); cert-renew uses one per certificate: ${first}`
      : undefined;
  return { challenge: { type: 'http-01', webroot: first }, ...(note ? { note } : {}) };
}

/**
 * The folders acme.sh keeps a CA's `ca.conf` in for directory `api`, newest layout first: `ca/<host>/<path>`
 * (host without its port, path with repeated slashes squeezed, as acme.sh cuts them) and the older `ca/<host>`.
 */
export function acmeShCaDirs(home: string, api: string): string[] {
  const match = /^[a-z][a-z0-9+.-]*:\/+([^/:]+)(?::\d+)?\/*(.*)$/i.exec(api);
  if (!match?.[1]) return [];
  const host = match[1];
  const path = (match[2] ?? '').replace(/\/{2,}/g, '/');
  return [...(path ? [join(home, 'ca', host, path)] : []), join(home, 'ca', host)];
}

/** The CA's `ca.conf` acme.sh uses for directory `api` (the first layout that has one), parsed. */
async function caConf(
  home: string,
  api: string | undefined,
): Promise<{ path: string; conf: Map<string, string> } | undefined> {
  for (const caDir of api ? acmeShCaDirs(home, api) : []) {
    const path = join(caDir, 'ca.conf');
    const text = await readFile(path, 'utf8').catch(() => undefined);
    if (text !== undefined) return { path, conf: parseAcmeShConf(text) };
  }
  return undefined;
}

function hook(line: string): Promise<ImportedHook> {
  return importedHook(hookFromCommandLine(line), ACMESH_ENV, 'acme.sh');
}

/**
 * Reads every certificate of an acme.sh home. Throws UsageError when `dir` holds none; a certificate that
 * cannot be read is a `failed` entry.
 */
export async function readAcmeSh(dir: string, options: SourceOptions): Promise<SourceResult> {
  let entries: string[];
  try {
    entries = (await readdir(dir, { withFileTypes: true }))
      .filter((e) => e.isDirectory())
      .map((e) => e.name)
      .sort();
  } catch (error) {
    throw new UsageError(`${dir} is not an acme.sh home: ${reason(error)}`, {
      hint: 'give the folder acme.sh keeps its certificates in (default ~/.acme.sh, or its --config-home)',
    });
  }
  const account = parseAcmeShConf(await readFile(join(dir, 'account.conf'), 'utf8').catch(() => ''));
  const result: SourceResult = { found: [], untranslated: [], failed: [] };
  const names = new Set<string>();
  let folders = 0;
  for (const folder of entries) {
    const domain = folder.endsWith('_ecc') ? folder.slice(0, -'_ecc'.length) : folder;
    const confPath = join(dir, folder, `${domain}.conf`);
    const text = await readFile(confPath, 'utf8').catch(() => undefined);
    if (text === undefined) continue;
    folders += 1;
    const conf = parseAcmeShConf(text);
    let name = manifestName(get(conf, 'Le_Domain') ?? domain);
    if (names.has(name)) name = manifestName(folder);
    names.add(name);
    const note = (message: string): void => {
      result.untranslated.push({ name, message });
    };
    const base = join(dir, folder);
    let found: FoundCertificate;
    try {
      const bundle = await readBundle(
        join(base, `${domain}.cer`),
        join(base, `${domain}.key`),
        join(base, 'ca.cer'),
      );
      found = { name, domains: domainsOf(bundle.certPem), bundle, source: base };
    } catch (error) {
      result.failed.push({ name, source: base, message: reason(error) });
      continue;
    }
    const api = options.server ?? get(conf, 'Le_API');
    if (api) found.directory = directoryAlias(api);
    else note('Le_API is not set: the ACME directory comes from --server or the chosen issuer');
    // acme.sh's own order (_getAccountEmail): ACCOUNT_EMAIL in account.conf, else CA_EMAIL in ca.conf.
    const ca = await caConf(dir, get(conf, 'Le_API'));
    const email = options.email ?? get(account, 'ACCOUNT_EMAIL') ?? (ca && get(ca.conf, 'CA_EMAIL'));
    if (email) found.email = email;
    // An EAB key id belongs to the CA it was issued by: not carried to another --server.
    const eabKid = ca && get(ca.conf, 'CA_EAB_KEY_ID');
    const sameCa = options.server === undefined || options.server === get(conf, 'Le_API');
    if (ca && eabKid && sameCa && get(ca.conf, 'CA_EAB_HMAC_KEY'))
      found.eab = { kid: eabKid, hmacKeyIn: ca.path };
    const caBundle = get(account, 'CA_BUNDLE');
    if (caBundle) found.caBundle = caBundle;

    const length = get(conf, 'Le_Keylength');
    if (length) {
      const keyType = ACMESH_KEY_TYPES[length];
      const actual = inspectCertificate(found.bundle.certPem).keyType;
      if (keyType && keyType === actual) found.keyType = keyType;
      else
        note(
          `Le_Keylength ${length} does not match the certificate's key (${actual}) or has no equivalent; no keyType written, the stored key type is kept`,
        );
    }
    const { challenge, problem, note: challengeNote } = acmeShChallenge(conf);
    if (challenge) found.challenge = challenge;
    if (problem) note(problem);
    if (challengeNote) note(challengeNote);

    const hooks: ImportedHook[] = [];
    const renew = get(conf, 'Le_RenewHook');
    if (renew) hooks.push(await hook(renew));
    const reload = get(conf, 'Le_ReloadCmd');
    if (reload) hooks.push(await hook(reload));
    const post = get(conf, 'Le_PostHook');
    if (post) {
      hooks.push(await hook(post));
      note(`Le_PostHook '${post}' became a postRenew hook: it now runs after successful renewals only`);
    }
    if (hooks.length > 0) found.postRenew = hooks;
    const pre = get(conf, 'Le_PreHook');
    if (pre) note(`Le_PreHook '${pre}' has no equivalent (cert-renew has no pre-renewal hook)`);
    const copies = ['Le_RealCertPath', 'Le_RealKeyPath', 'Le_RealCACertPath', 'Le_RealFullChainPath']
      .map((key) => get(conf, key))
      .filter((path): path is string => path !== undefined);
    if (copies.length > 0) {
      note(
        `--install-cert copies it to ${copies.join(', ')}: point the service at the store's files, or add a postRenew hook that copies them`,
      );
    }
    const days = get(conf, 'Le_RenewalDays');
    if (days && days !== '60') {
      note(
        `Le_RenewalDays ${days} (renew ${days} days after issue): set "renewBefore" to the lifetime minus ${days}d if you want the same`,
      );
    }
    const chain = get(conf, 'Le_Preferred_Chain');
    if (chain) found.preferredChain = chain;
    result.found.push(found);
  }
  if (folders === 0) {
    throw new UsageError(`${dir} holds no acme.sh certificate (no <domain>/<domain>.conf)`, {
      hint: 'give the folder acme.sh keeps its certificates in (default ~/.acme.sh, or its --config-home)',
    });
  }
  result.untranslated.push({
    message:
      'ACME accounts are not copied (account keys never go into a manifest): cert-renew registers its own account at the first renewal',
  });
  return result;
}
