/**
 * certbot: a configuration directory (`--config-dir`, default /etc/letsencrypt) holds one
 * `renewal/<lineage>.conf` per certificate (configobj INI: the file paths at the top, `[renewalparams]`
 * with the authenticator, server, key type and hooks, `[[webroot_map]]`), the current files as symbolic
 * links `live/<lineage>/{cert,chain,fullchain,privkey}.pem` into `archive/`, hook scripts under
 * `renewal-hooks/{pre,deploy,post}/` and the ACME account under `accounts/` (never read).
 */
import { access, readdir, readFile, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { UsageError } from '../errors.js';
import type { Challenge, KeyType } from '../manifest/types.js';
import { inspectCertificate } from '../x509/index.js';
import { type ConfigSection, configList, configSection, configString, parseConfigObj } from './configobj.js';
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

export const CERTBOT_DEFAULT_DIR = '/etc/letsencrypt';

const CERTBOT_ENV = /\bRENEWED_(LINEAGE|DOMAINS)\b/;

function certbotKeyType(params: ConfigSection | undefined): KeyType | undefined {
  const type = configString(params, 'key_type')?.toLowerCase();
  if (type === 'rsa') {
    const size = configString(params, 'rsa_key_size') ?? '2048';
    return (['2048', '3072', '4096'] as const).includes(size as '2048')
      ? (`rsa-${size}` as KeyType)
      : undefined;
  }
  if (type === 'ecdsa') {
    const curve = configString(params, 'elliptic_curve') ?? 'secp256r1';
    if (curve === 'secp256r1') return 'ecdsa-p256';
    if (curve === 'secp384r1') return 'ecdsa-p384';
  }
  return undefined;
}

/** `30 days`, `2 weeks`, `12 hours` → `30d`, `2w`, `12h`; undefined for anything else. */
export function certbotDuration(text: string | undefined): string | undefined {
  const match = /^\s*(\d+)\s*(day|days|week|weeks|hour|hours|d|w|h)\s*$/i.exec(text ?? '');
  if (!match) return undefined;
  return `${match[1]}${(match[2] ?? 'd').charAt(0).toLowerCase()}`;
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}

/** Hook scripts of `renewal-hooks/<kind>/` (certbot runs every executable file there, sorted by name). */
/**
 * The hook scripts certbot runs from `renewal-hooks/<kind>/` (executable files, in name order), and the
 * entries it skips (not executable, not a file), which the import names (`skipped`).
 */
async function hookScripts(
  dir: string,
  kind: 'pre' | 'deploy' | 'post',
): Promise<{ scripts: string[]; skipped: string[] }> {
  const folder = join(dir, 'renewal-hooks', kind);
  const names = (await readdir(folder).catch(() => [] as string[])).sort();
  const scripts: string[] = [];
  const skipped: string[] = [];
  for (const name of names) {
    const path = join(folder, name);
    const info = await stat(path).catch(() => undefined);
    if (info?.isFile() && (info.mode & 0o111) !== 0) scripts.push(path);
    else skipped.push(path);
  }
  return { scripts, skipped };
}

/**
 * What certbot writes in a renewal conf that the import reads or deliberately leaves (its own directories,
 * version, account id, logging flags); any other setting is named as not imported. Top level, then
 * `[renewalparams]`; a dns-* authenticator's own settings (`dns_*`) are named by the challenge line.
 */
const KNOWN_TOP = new Set([
  'version',
  'archive_dir',
  'cert',
  'privkey',
  'chain',
  'fullchain',
  'renew_before_expiry',
]);
const KNOWN_PARAMS = new Set([
  'account',
  'server',
  'authenticator',
  'installer',
  'key_type',
  'rsa_key_size',
  'elliptic_curve',
  'webroot_path',
  'webroot_map',
  'http01_port',
  'http01_address',
  'manual_auth_hook',
  'manual_cleanup_hook',
  'manual_public_ip_logging_ok',
  'pref_challs',
  'renew_hook',
  'deploy_hook',
  'pre_hook',
  'post_hook',
  'reuse_key',
  'preferred_chain',
  'must_staple',
  'config_dir',
  'work_dir',
  'logs_dir',
]);

/** One line per setting of `conf` the import neither translates nor deliberately leaves. */
function unknownSettings(conf: ConfigSection, params: ConfigSection | undefined): string[] {
  const lines: string[] = [];
  const show = (value: string | ConfigSection) =>
    typeof value === 'string' ? `'${value.trim()}'` : '(a section)';
  for (const [key, value] of Object.entries(conf)) {
    if (key === 'renewalparams' || KNOWN_TOP.has(key)) continue;
    lines.push(`setting ${key} = ${show(value)} is not one cert-renew knows: not imported`);
  }
  for (const [key, value] of Object.entries(params ?? {})) {
    if (KNOWN_PARAMS.has(key) || key.startsWith('dns_')) continue;
    const where =
      key === 'renew_before_expiry'
        ? ' (certbot reads it at the top of the file, not in [renewalparams])'
        : '';
    lines.push(`[renewalparams] ${key} = ${show(value)} is not one cert-renew knows${where}: not imported`);
  }
  return lines;
}

function scriptHook(path: string): Promise<ImportedHook> {
  return importedHook({ run: [path] }, CERTBOT_ENV, 'certbot');
}

function lineHook(line: string): Promise<ImportedHook> {
  return importedHook(hookFromCommandLine(line), CERTBOT_ENV, 'certbot');
}

/** The challenge of one lineage, or a line saying why there is none. */
function challengeOf(
  params: ConfigSection | undefined,
  domains: string[],
): { challenge?: Challenge; problem?: string; note?: string } {
  const authenticator = configString(params, 'authenticator') ?? 'unknown';
  switch (authenticator) {
    case 'webroot': {
      const map = configSection(params, 'webroot_map') ?? {};
      const paths = new Map<string, string>();
      for (const domain of domains) {
        const path = configString(map, domain);
        if (path) paths.set(domain, path);
      }
      const fallback = configList(params?.webroot_path)[0];
      const distinct = [...new Set(paths.values())];
      const chosen = paths.get(domains[0] ?? '') ?? distinct[0] ?? fallback;
      if (!chosen) return { problem: 'authenticator webroot without a webroot path' };
      const note =
        distinct.length > 1
          ? `webroot differs per domain (${[...paths].map(([d, p]) => `${d}: ${p}`).join(', ')}); cert-renew uses one document root per certificate: ${chosen} (split the certificate or serve one directory for all)`
          : undefined;
      return { challenge: { type: 'http-01', webroot: chosen }, ...(note ? { note } : {}) };
    }
    case 'standalone': {
      const port = configString(params, 'http01_port') ?? '80';
      if (!/^[0-9]{1,5}$/.test(port) || Number(port) < 1 || Number(port) > 65535)
        return {
          problem: `authenticator standalone with http01_port '${port}', which is not a port: set a "challenge" for it`,
        };
      const address = configString(params, 'http01_address') ?? '';
      const host = address.includes(':') ? `[${address}]` : address;
      return { challenge: { type: 'http-01', standalone: `${host}:${port}` } };
    }
    case 'manual': {
      const hook = configString(params, 'manual_auth_hook');
      return {
        problem: hook
          ? `authenticator manual with --manual-auth-hook '${hook}': certbot's hooks read CERTBOT_DOMAIN/CERTBOT_VALIDATION; for dns-01 give cert-renew a "challenge": {"type": "dns-01", "exec": COMMAND} that takes present|cleanup FQDN VALUE (lego's exec convention)`
          : 'authenticator manual (answered by hand): set a "challenge" for it (http-01 webroot/standalone or dns-01 exec)',
      };
    }
    case 'nginx':
    case 'apache':
      return {
        problem: `authenticator ${authenticator} (certbot edits the ${authenticator} configuration to answer): serve /.well-known/acme-challenge/ from the document root and use "challenge": {"type": "http-01", "webroot": DOCUMENT_ROOT}`,
      };
    default: {
      if (authenticator.startsWith('dns-')) {
        const credentials = Object.keys(params ?? {}).find((k) => k.endsWith('_credentials'));
        if (authenticator === 'dns-rfc2136') {
          return {
            problem: `authenticator dns-rfc2136${credentials ? ` (credentials file ${configString(params, credentials)} not read)` : ''}: cert-renew's rfc2136 provider takes the same server, key name and algorithm, with the secret from a file or the environment: "challenge": {"type": "dns-01", "rfc2136": {"server": …, "keyName": …, "algorithm": …, "secret": {"file": …}}}`,
          };
        }
        return {
          problem: `authenticator ${authenticator}${credentials ? ` (credentials file ${configString(params, credentials)} not read)` : ''}: use a dns-01 provider, e.g. "challenge": {"type": "dns-01", "exec": COMMAND} with a command that updates that DNS (present|cleanup FQDN VALUE)`,
        };
      }
      return { problem: `authenticator ${authenticator} has no equivalent: set a "challenge" for it` };
    }
  }
}

/**
 * Reads every lineage of a certbot configuration directory. Throws UsageError when `dir` is not one;
 * a lineage that cannot be read is a `failed` entry, the others are still found.
 */
export async function readCertbot(dir: string, options: SourceOptions): Promise<SourceResult> {
  const renewalDir = join(dir, 'renewal');
  let files: string[];
  try {
    files = (await readdir(renewalDir)).filter((f) => f.endsWith('.conf')).sort();
  } catch (error) {
    throw new UsageError(`${dir} is not a certbot configuration directory: ${reason(error)}`, {
      hint: `give the --config-dir certbot uses (default ${CERTBOT_DEFAULT_DIR}); it holds renewal/*.conf`,
    });
  }
  const result: SourceResult = { found: [], untranslated: [], failed: [] };
  const shared = {
    pre: await hookScripts(dir, 'pre'),
    deploy: await hookScripts(dir, 'deploy'),
    post: await hookScripts(dir, 'post'),
  };
  for (const path of Object.values(shared).flatMap((s) => s.skipped)) {
    result.untranslated.push({
      message: `hook ${path} is not an executable file: certbot does not run it, so it is not imported`,
    });
  }
  for (const path of shared.pre.scripts) {
    result.untranslated.push({
      message: `pre-hook script ${path}: cert-renew has no pre-renewal hook; stop or prepare services outside cert-renew if it is still needed`,
    });
  }
  for (const path of shared.post.scripts) {
    result.untranslated.push({
      message: `post-hook script ${path} became a postRenew hook of every certificate: it now runs once after successful renewals, not after failed attempts`,
    });
  }
  const sharedHooks = [
    ...(await Promise.all(shared.deploy.scripts.map(scriptHook))),
    ...(await Promise.all(shared.post.scripts.map(scriptHook))),
  ];
  let accounts = 0;

  for (const file of files) {
    const lineage = basename(file, '.conf');
    const confPath = join(renewalDir, file);
    const name = manifestName(lineage);
    const note = (message: string): void => {
      result.untranslated.push({ name, message });
    };
    let conf: ConfigSection;
    try {
      conf = parseConfigObj(await readFile(confPath, 'utf8'));
    } catch (error) {
      result.failed.push({ name, source: confPath, message: reason(error) });
      continue;
    }
    const params = configSection(conf, 'renewalparams');
    const live = join(dir, 'live', lineage);
    const files = (await exists(live))
      ? { cert: join(live, 'cert.pem'), key: join(live, 'privkey.pem'), chain: join(live, 'chain.pem') }
      : {
          cert: configString(conf, 'cert') ?? join(live, 'cert.pem'),
          key: configString(conf, 'privkey') ?? join(live, 'privkey.pem'),
          chain: configString(conf, 'chain') ?? join(live, 'chain.pem'),
        };
    let found: FoundCertificate;
    try {
      const bundle = await readBundle(
        files.cert,
        files.key,
        (await exists(files.chain)) ? files.chain : undefined,
      );
      found = { name, domains: domainsOf(bundle.certPem), bundle, source: live };
    } catch (error) {
      result.failed.push({ name, source: live, message: reason(error) });
      continue;
    }

    // certbot's default server is Let's Encrypt's production directory.
    found.directory = directoryAlias(options.server ?? configString(params, 'server') ?? 'letsencrypt');
    if (options.email) found.email = options.email;

    const keyType = certbotKeyType(params);
    const actual = inspectCertificate(found.bundle.certPem).keyType;
    if (keyType && keyType === actual) found.keyType = keyType;
    else if (configString(params, 'key_type')) {
      note(
        `key_type ${configString(params, 'key_type')} does not match the certificate's key (${actual}); no keyType written, the stored key type is kept`,
      );
    }

    const { challenge, problem, note: challengeNote } = challengeOf(params, found.domains);
    if (challenge) found.challenge = challenge;
    if (problem) note(problem);
    if (challengeNote) note(challengeNote);

    const hooks: ImportedHook[] = [];
    const deploy = configString(params, 'renew_hook') ?? configString(params, 'deploy_hook');
    if (deploy) hooks.push(await lineHook(deploy));
    const post = configString(params, 'post_hook');
    if (post) {
      hooks.push(await lineHook(post));
      note(
        `post_hook '${post}' became a postRenew hook: it now runs once after successful renewals, not after failed attempts`,
      );
    }
    hooks.push(...sharedHooks);
    if (hooks.length > 0) found.postRenew = hooks;
    const pre = configString(params, 'pre_hook');
    if (pre) note(`pre_hook '${pre}' has no equivalent (cert-renew has no pre-renewal hook)`);

    const installer = configString(params, 'installer');
    if (installer && installer !== 'None') {
      note(
        `installer ${installer}: cert-renew does not edit web server configuration; point it at the store's fullchain.pem/privkey.pem and add a postRenew hook that reloads it`,
      );
    }
    if (configString(params, 'reuse_key')?.toLowerCase() === 'true') found.reuseKey = true;
    const before = configString(conf, 'renew_before_expiry');
    if (before) {
      const duration = certbotDuration(before);
      if (duration) found.renewBefore = duration;
      else
        note(
          `renew_before_expiry '${before}' is not a duration cert-renew reads; the default window applies`,
        );
    }
    const chain = configString(params, 'preferred_chain');
    if (chain) found.preferredChain = chain;
    if (configString(params, 'must_staple')?.toLowerCase() === 'true') {
      note('must_staple: cert-renew does not request the OCSP must-staple extension');
    }
    if (configString(params, 'account')) accounts += 1;
    for (const line of unknownSettings(conf, params)) note(line);
    result.found.push(found);
  }
  if (accounts > 0) {
    result.untranslated.push({
      message:
        'ACME accounts are not copied (account keys never go into a manifest): cert-renew registers its own account at the first renewal',
    });
  }
  return result;
}
