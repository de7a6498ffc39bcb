/**
 * Turns what a source found into manifest entries, merged into the operator's manifest: an issuer per
 * ACME directory (an existing one with the same directory is reused), the target store, hooks with the
 * source's environment variables pointed at the new store, and nothing that is already there twice.
 * Pure: the caller reads and writes files.
 */
import { isAbsolute } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { UsageError } from '../errors.js';
import { checkDomain } from '../manifest/resolve.js';
import type {
  AcmeIssuerConfig,
  CertificateConfig,
  Challenge,
  HookSpec,
  IssuerConfig,
  Manifest,
} from '../manifest/types.js';
import type { CertificatePaths } from '../stores/types.js';
import { directoryUrl, manifestName } from './translate.js';
import type { FoundCertificate, ImportedHook, LegacyEnv, Untranslated } from './types.js';

export interface PlanImportOptions {
  /** Target store; default the manifest's `defaults.store`. */
  store?: string;
  /** Issuer to use (created when missing and the source names a directory). */
  issuer?: string;
  /** PEM file trusted for a private ACME server (absolute path), set on issuers this import creates. */
  caBundle?: string;
  /** Where the target store keeps a certificate's files (undefined for stores without files). */
  paths: (store: string, name: string) => CertificatePaths | undefined;
}

export interface PlannedCertificate {
  found: FoundCertificate;
  /** The entry as it is (or will be) in the manifest. */
  entry: CertificateConfig;
  /** `added`: new in the manifest; `present`: an entry with this name and these domains is already there. */
  state: 'added' | 'present';
  issuerName: string;
  storeName: string;
}

export interface ImportPlan {
  certificates: PlannedCertificate[];
  /** Issuers this import adds (by name). */
  issuers: Record<string, IssuerConfig>;
  /** Certificates that cannot go into the manifest (a name taken by other domains, a domain not allowed). */
  conflicts: { name: string; source: string; message: string }[];
  untranslated: Untranslated[];
}

/** A standalone listener on port 80 of every address: the placeholder when nothing could be translated. */
const PLACEHOLDER_CHALLENGE: Challenge = { type: 'http-01', standalone: ':80' };

function legacyEnv(kind: LegacyEnv, paths: CertificatePaths, domains: string[]): Record<string, string> {
  switch (kind) {
    case 'certbot':
      return { RENEWED_LINEAGE: paths.dir, RENEWED_DOMAINS: domains.join(' ') };
    case 'lego':
      return {
        LEGO_CERT_DOMAIN: domains[0] ?? '',
        LEGO_CERT_PATH: paths.fullchain,
        LEGO_CERT_KEY_PATH: paths.privkey,
      };
    case 'acme.sh':
      return {
        Le_Domain: domains[0] ?? '',
        CERT_PATH: paths.cert,
        CERT_KEY_PATH: paths.privkey,
        CA_CERT_PATH: paths.chain,
        CERT_FULLCHAIN_PATH: paths.fullchain,
      };
  }
}

/** The ASCII form of a manifest domain (as written when it does not check). */
function ascii(domain: string): string {
  const check = checkDomain(domain);
  return check.ok ? check.ascii : domain;
}

function hostName(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return url;
  }
}

/**
 * Plans the import of `found` into `manifest` (not modified). Throws UsageError when the target store or
 * issuer cannot be determined.
 */
export function planImport(
  manifest: Manifest,
  found: FoundCertificate[],
  options: PlanImportOptions,
): ImportPlan {
  const defaults = manifest.defaults ?? {};
  const storeName = options.store ?? defaults.store;
  if (storeName === undefined) {
    throw new UsageError('the manifest has no default store', {
      hint: 'name the store to adopt into with --store NAME',
    });
  }
  if (!Object.hasOwn(manifest.stores, storeName)) {
    throw new UsageError(`store '${storeName}' is not in the manifest`, {
      hint: `add it under "stores" or pick one of: ${Object.keys(manifest.stores).join(', ') || '(none)'}`,
    });
  }
  const plan: ImportPlan = { certificates: [], issuers: {}, conflicts: [], untranslated: [] };
  const issuers: Record<string, IssuerConfig> = { ...manifest.issuers };
  const emailNoted = new Set<string>();
  const caBundleNoted = new Set<string>();

  /** `--ca-bundle` is set only on issuers this import adds: say so when an existing one does not trust it. */
  const noteCaBundle = (name: string): void => {
    const config = issuers[name];
    if (!options.caBundle || config?.type !== 'acme' || Object.hasOwn(plan.issuers, name)) return;
    if (caBundleNoted.has(name) || directoryUrl(config.directory) !== config.directory) return;
    const current = config.caBundle;
    if (current === options.caBundle || (current !== undefined && !isAbsolute(current))) return;
    caBundleNoted.add(name);
    plan.untranslated.push({
      message: `issuer '${name}' (the manifest's) ${current ? `trusts ${current}` : 'has no "caBundle"'}; --ca-bundle ${options.caBundle} was not applied (set "caBundle" on the issuer if it should trust it)`,
    });
  };

  const issuerFor = (f: FoundCertificate): string => {
    if (options.issuer !== undefined) {
      if (Object.hasOwn(issuers, options.issuer)) {
        noteCaBundle(options.issuer);
        return options.issuer;
      }
      if (!f.directory) {
        throw new UsageError(`issuer '${options.issuer}' is not in the manifest`, {
          hint: 'name an issuer of the manifest with --issuer, or add it first',
        });
      }
      return createIssuer(options.issuer, f);
    }
    if (!f.directory) {
      if (defaults.issuer !== undefined) return defaults.issuer;
      throw new UsageError(
        `${f.name}: the source names no ACME directory and the manifest has no default issuer`,
        {
          hint: 'name an issuer of the manifest with --issuer NAME, or add an ACME issuer with --server URL (or letsencrypt) --email ADDRESS',
        },
      );
    }
    const url = directoryUrl(f.directory);
    const existing = Object.entries(issuers).find(
      ([, config]) => config.type === 'acme' && directoryUrl(config.directory) === url,
    );
    if (existing) {
      const [name, config] = existing;
      const email = config.type === 'acme' ? config.email : undefined;
      if (f.email && email !== f.email && !emailNoted.has(name)) {
        emailNoted.add(name);
        plan.untranslated.push({
          message: `issuer '${name}' (the manifest's, same directory) keeps its account e-mail ${email ?? '(none)'}; ${f.email} was not applied (edit the issuer if it should change)`,
        });
      }
      noteCaBundle(name);
      return name;
    }
    const base = manifestName(url === f.directory ? `acme-${hostName(url).replace(':', '-')}` : f.directory);
    let name = base;
    for (let n = 2; Object.hasOwn(issuers, name); n += 1) name = `${base}-${n}`;
    return createIssuer(name, f);
  };

  /** Issuers this import gave the placeholder challenge (said once for the issuer, not per certificate). */
  const placeholders = new Set<string>();
  const createIssuer = (name: string, f: FoundCertificate): string => {
    const directory = f.directory ?? '';
    const sameDirectory = found.filter((other) => other.directory === f.directory);
    const challenge = sameDirectory.find((other) => other.challenge)?.challenge;
    const preferredChain = sameDirectory.find((other) => other.preferredChain)?.preferredChain;
    // --ca-bundle, else the trust the source itself used for this CA (acme.sh's CA_BUNDLE).
    const caBundle = options.caBundle ?? sameDirectory.find((other) => other.caBundle)?.caBundle;
    const eab = sameDirectory.find((other) => other.eab)?.eab;
    // The HMAC key is a secret: the manifest names an environment variable, and the note says where the value is.
    const eabEnv = `ACME_EAB_HMAC_${name.toUpperCase().replace(/[^A-Z0-9]/g, '_')}`;
    const config: AcmeIssuerConfig = {
      type: 'acme',
      directory,
      ...(f.email ? { email: f.email } : {}),
      ...(eab ? { eab: { kid: eab.kid, hmacKey: { env: eabEnv } } } : {}),
      ...(caBundle && directoryUrl(directory) === directory ? { caBundle } : {}),
      challenge: challenge ?? PLACEHOLDER_CHALLENGE,
      ...(preferredChain ? { preferredChain } : {}),
    };
    if (!challenge) {
      placeholders.add(name);
      plan.untranslated.push({
        message: `issuer '${name}': no certificate's challenge could be translated; it got a placeholder (standalone http-01 on port 80) until you set its "challenge"`,
      });
    }
    if (eab) {
      plan.untranslated.push({
        message: `issuer '${name}': External Account Binding key id ${eab.kid} kept; its HMAC key (CA_EAB_HMAC_KEY in ${eab.hmacKeyIn}) is a secret and was not copied: set ${eabEnv} to it where cert-renew runs, or point "hmacKey" at a file holding it (needed only to create an account; run --dry-run checks it)`,
      });
    }
    issuers[name] = config;
    plan.issuers[name] = config;
    return name;
  };

  const defaultPostRenew: HookSpec[] = defaults.hooks?.postRenew ?? [];
  for (const f of found) {
    const badDomain = f.domains.map((d) => [d, checkDomain(d)] as const).find(([, c]) => !c.ok);
    if (f.domains.length === 0 || badDomain) {
      plan.conflicts.push({
        name: f.name,
        source: f.source,
        message:
          badDomain && !badDomain[1].ok
            ? `its certificate names '${badDomain[0]}', which ${badDomain[1].problem}`
            : 'its certificate names no DNS name',
      });
      continue;
    }
    const existing = manifest.certificates.find((c) => c.name === f.name);
    if (existing) {
      const same =
        existing.domains.length === f.domains.length &&
        existing.domains.every((d) => f.domains.includes(ascii(d)));
      if (!same) {
        plan.conflicts.push({
          name: f.name,
          source: f.source,
          message: `the manifest already has a certificate '${f.name}' for other domains (${existing.domains.join(', ')}); not imported`,
        });
        continue;
      }
      noteCaBundle(existing.issuer ?? defaults.issuer ?? '');
      plan.certificates.push({
        found: f,
        entry: existing,
        state: 'present',
        issuerName: existing.issuer ?? defaults.issuer ?? '',
        storeName: existing.store ?? defaults.store ?? storeName,
      });
      continue;
    }
    const issuerName = issuerFor(f);
    const issuer = issuers[issuerName];
    const entry: CertificateConfig = { name: f.name, domains: f.domains };
    if (issuerName !== defaults.issuer) entry.issuer = issuerName;
    if (storeName !== defaults.store) entry.store = storeName;
    if (f.keyType) entry.keyType = f.keyType;
    if (f.reuseKey) entry.reuseKey = true;
    if (f.renewBefore) entry.renewBefore = f.renewBefore;
    const inherited = defaults.challenge ?? (issuer?.type === 'acme' ? issuer.challenge : undefined);
    if (f.challenge && issuer?.type === 'acme' && !isDeepStrictEqual(f.challenge, inherited)) {
      entry.challenge = f.challenge;
    }
    // A lineage whose challenge could not be translated (its source said why) renews with the one it
    // inherits until it gets its own: say which, so nobody meets it only when the renewal fails.
    if (!f.challenge && issuer?.type === 'acme' && inherited && !placeholders.has(issuerName)) {
      plan.untranslated.push({
        name: f.name,
        message: `its challenge was not translated: until you set its own "challenge", it renews with the one it inherits, ${JSON.stringify(inherited)}`,
      });
    }
    if (f.challenge && issuer && issuer.type !== 'acme') {
      plan.untranslated.push({
        name: f.name,
        message: `issuer '${issuerName}' is not an ACME issuer: its challenge is not used`,
      });
    }
    const issuerChain = issuer?.type === 'acme' ? issuer.preferredChain : undefined;
    if (f.preferredChain && f.preferredChain !== issuerChain) {
      plan.untranslated.push({
        name: f.name,
        message: `preferred chain '${f.preferredChain}': issuer '${issuerName}' ${issuerChain ? `prefers '${issuerChain}'` : 'names none'}; "preferredChain" is set per issuer (add an issuer for it if it must differ)`,
      });
    }
    if (f.postRenew && f.postRenew.length > 0) {
      const paths = options.paths(storeName, f.name);
      const hooks = f.postRenew.map((h) => withEnv(h, paths, f, plan));
      if (defaultPostRenew.length > 0) {
        plan.untranslated.push({
          name: f.name,
          message:
            "its own postRenew hooks replace the defaults' ones, so the default hooks were copied in before them",
        });
      }
      entry.hooks = { postRenew: [...defaultPostRenew, ...hooks] };
    }
    plan.certificates.push({ found: f, entry, state: 'added', issuerName, storeName });
  }
  return plan;
}

function withEnv(
  hook: ImportedHook,
  paths: CertificatePaths | undefined,
  f: FoundCertificate,
  plan: ImportPlan,
): HookSpec {
  if (!hook.legacyEnv) return hook.spec;
  if (!paths) {
    plan.untranslated.push({
      name: f.name,
      message: `hook ${JSON.stringify(hook.spec.run)} reads ${hook.legacyEnv}'s file variables, but the target store keeps no files: use CERT_RENEW_* variables instead`,
    });
    return hook.spec;
  }
  return { ...hook.spec, env: { ...hook.spec.env, ...legacyEnv(hook.legacyEnv, paths, f.domains) } };
}

/**
 * The manifest with the planned certificates (only those in `keep`) and the issuers they use added.
 * Returns the same object when nothing is added, so a second import of the same source changes nothing.
 */
export function mergeIntoManifest(manifest: Manifest, plan: ImportPlan, keep: ReadonlySet<string>): Manifest {
  const added = plan.certificates.filter((c) => c.state === 'added' && keep.has(c.entry.name));
  if (added.length === 0) return manifest;
  const usedIssuers = new Set(added.map((c) => c.issuerName));
  const issuers = { ...manifest.issuers };
  for (const [name, config] of Object.entries(plan.issuers)) {
    if (usedIssuers.has(name)) issuers[name] = config;
  }
  return { ...manifest, issuers, certificates: [...manifest.certificates, ...added.map((c) => c.entry)] };
}
