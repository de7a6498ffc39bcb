/**
 * What every import source hands to the shared adoption step: the certificates it found (PEMs read from
 * disk, domains from the certificate's SANs) with the settings it could translate, and one line for each
 * thing it could not.
 */
import type { Challenge, HookSpec, KeyType } from '../manifest/types.js';
import type { CertificateBundle } from '../stores/types.js';

export const IMPORT_SOURCES = ['certbot', 'lego', 'acme.sh', 'pem'] as const;
export type ImportSource = (typeof IMPORT_SOURCES)[number];

/** Something the source configures that has no equivalent in the manifest (or only a partial one). */
export interface Untranslated {
  /** The certificate it belongs to; absent for the installation as a whole. */
  name?: string;
  /** One line: what it is (with its value unless it is a secret) and what the operator should do. */
  message: string;
}

/**
 * A hook command translated from the source. `legacyEnv` says the command reads the source's own
 * environment variables (certbot's RENEWED_LINEAGE/RENEWED_DOMAINS, acme.sh's CERT_PATH, …): the adoption
 * step sets them to the new store's paths so the command keeps working.
 */
/** Whose hook environment a translated hook expects. */
export type LegacyEnv = 'certbot' | 'lego' | 'acme.sh';

export interface ImportedHook {
  spec: HookSpec;
  legacyEnv?: LegacyEnv;
}

/** One certificate found in the source, before it is merged into a manifest. */
export interface FoundCertificate {
  /** Proposed manifest name (the certbot lineage, the lego/acme.sh main domain), safe as a file name. */
  name: string;
  /** From the certificate's SANs, the subject's common name first. ASCII (punycode) form. */
  domains: string[];
  /** Only when the source names a key type explicitly; otherwise the stored certificate's type is kept. */
  keyType?: KeyType;
  /** The ACME directory (URL or alias) it was issued from; absent for a plain PEM pair. */
  directory?: string;
  /** The account's e-mail, when the source records one (never the account key). */
  email?: string;
  /** The CA bundle the source trusted its ACME server with (acme.sh `--ca-bundle`), an absolute path. */
  caBundle?: string;
  /**
   * The source's External Account Binding key id for this CA (acme.sh `--eab-kid`, or what it fetched for
   * ZeroSSL), and the file that holds its HMAC key (a secret, never copied into the manifest).
   */
  eab?: { kid: string; hmacKeyIn: string };
  /** The translated challenge; absent when the source's method has no equivalent. */
  challenge?: Challenge;
  /** Deploy/reload hooks translated to postRenew hooks. */
  postRenew?: ImportedHook[];
  /** The source reuses the key at renewal (certbot `reuse_key`). */
  reuseKey?: boolean;
  /** certbot `renew_before_expiry` as a manifest duration. */
  renewBefore?: string;
  /** Issuer's alternate chain, by the issuer CN of the chain's top certificate. */
  preferredChain?: string;
  /** The current certificate, chain and key (PEM). */
  bundle: CertificateBundle;
  /** Where it was read from, for messages (a file or directory). */
  source: string;
}

/** A certificate the source holds but that could not be read (the others are imported all the same). */
export interface SourceFailure {
  name: string;
  source: string;
  message: string;
}

export interface SourceResult {
  found: FoundCertificate[];
  untranslated: Untranslated[];
  failed: SourceFailure[];
}

/** Settings the operator gives on the command line; they fill in what the source does not record. */
export interface SourceOptions {
  /** ACME directory URL or alias (lego's `--server`; overrides what the source says). */
  server?: string;
  email?: string;
  /** lego: `--http.webroot` (document root). */
  httpWebroot?: string;
  /** lego: `--http.port` (`[host]:port`, standalone listener). */
  httpPort?: string;
  /** lego: `--dns PROVIDER`. */
  dns?: string;
  /** lego: `--dns exec`'s EXEC_PATH (the command, lego's exec convention). */
  execPath?: string;
  /** lego: `--key-type` (ec256, ec384, rsa2048, rsa3072, rsa4096). */
  keyType?: string;
  /** lego: `--run-hook` / `--renew-hook` command. */
  renewHook?: string;
  /**
   * Where the import runs (absolute): a lego hook program given as a relative path (`./reload.sh`) is
   * resolved against it, as lego, run from there, would have found it.
   */
  cwd?: string;
  /** pem: the certificate's name and files. */
  name?: string;
  cert?: string;
  key?: string;
  chain?: string;
  domains?: string[];
}
