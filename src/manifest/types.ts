/**
 * The manifest model. `schemas/certificate-manifest.schema.json` is the source of truth; these types are
 * kept in step with it by tests/unit/schema-types.test.ts.
 */

/** A secret is never written in clear: it is read from an environment variable or a file at run time. */
export type SecretRef = { env: string } | { file: string };

/** `"90d"`, `"12h"`, `"1h30m"`, `"30s"` (see src/util/duration.ts). */
export type Duration = string;

export const KEY_TYPES = ['ecdsa-p256', 'ecdsa-p384', 'rsa-2048', 'rsa-3072', 'rsa-4096'] as const;
export type KeyType = (typeof KEY_TYPES)[number];

export interface HookSpec {
  /** argv (run without a shell), or a string, which is only allowed with `shell: true`. */
  run: string[] | string;
  shell?: boolean;
  /** Default 60s. The hook's whole process group is killed when it expires. */
  timeout?: Duration;
  cwd?: string;
  env?: Record<string, string>;
  /** A name for reports; defaults to the command. */
  name?: string;
}

export interface Hooks {
  /** Run after the certificate was renewed and stored. Identical hooks run once per run. */
  postRenew?: HookSpec[];
  /** Run when this certificate failed (and, in `defaults`, once per run when any failed). */
  onFailure?: HookSpec[];
  /** When a postRenew hook fails: restore the previous certificate and run the hooks again. */
  rollbackOnHookFailure?: boolean;
}

export interface Http01Webroot {
  type: 'http-01';
  /**
   * The web server's document root (as in certbot, lego and acme.sh): the token file is written to
   * `<webroot>/.well-known/acme-challenge/<token>`.
   */
  webroot: string;
}
export interface Http01ChallengeDirectory {
  type: 'http-01';
  /** The directory served AT `/.well-known/acme-challenge/` (an NGINX `alias`): the token file goes directly in it. */
  challengeDirectory: string;
}
export interface Http01Standalone {
  type: 'http-01';
  /** `host:port` to listen on during the order, e.g. `0.0.0.0:80`. */
  standalone: string;
}
export interface Http01Redis {
  type: 'http-01';
  /** Name of a redis store; `challenge:{token}` is written there with a TTL. */
  redis: string;
  ttl?: Duration;
}
/** Settings every dns-01 provider shares: CNAME following is always on; these tune the wait. */
export interface Dns01Common {
  type: 'dns-01';
  /** How long to wait for every authoritative nameserver to answer the TXT record. Default 2m. */
  propagationTimeout?: Duration;
  /** Fixed wait after `present`, before the first check. Default 0s. */
  propagationDelay?: Duration;
  /** Time between two rounds of the check. Default 2s. */
  propagationInterval?: Duration;
  /** Ask the nameservers before telling the CA. Default true; false leaves only `propagationDelay`. */
  propagationCheck?: boolean;
  /**
   * The DNS servers to ask (`host`, `host:port`, `[v6]:port`), instead of the system resolver for CNAME
   * following and the zone's NS set (port 53) for the propagation check: each is taken as authoritative.
   */
  nameservers?: string[];
}
export interface Dns01Exec extends Dns01Common {
  /** Command called as `COMMAND present|cleanup FQDN VALUE` (lego's exec convention). */
  exec: string;
}
/** RFC 2136 dynamic update signed with TSIG (RFC 8945). */
export interface Rfc2136Settings {
  /** The primary server that takes updates: `host`, `host:port` or `[v6]:port` (default port 53). */
  server: string;
  /** TSIG key name, as in the server's `key "NAME"` statement. */
  keyName: string;
  /** TSIG algorithm. Default hmac-sha256. */
  algorithm?: 'hmac-sha256' | 'hmac-sha384' | 'hmac-sha512' | 'hmac-sha224' | 'hmac-sha1';
  /** The TSIG secret (base64). */
  secret: SecretRef;
  /** The zone to update; default: found by SOA queries to `server`. */
  zone?: string;
  /** TTL of the TXT record in seconds. Default 60. */
  ttl?: number;
}
export interface Dns01Rfc2136 extends Dns01Common {
  rfc2136: Rfc2136Settings;
}
/** The PowerDNS Authoritative HTTP API. */
export interface PowerDnsSettings {
  /** Base URL of the API, e.g. `http://127.0.0.1:8081` (the `/api/v1` part is added). */
  url: string;
  /** The API key (`api-key` in pdns.conf). */
  apiKey: SecretRef;
  /** Default `localhost`. */
  serverId?: string;
  /** The zone to update; default: the longest zone the server holds that ends the record's name. */
  zone?: string;
  /** TTL of the TXT record in seconds. Default 60. */
  ttl?: number;
}
export interface Dns01PowerDns extends Dns01Common {
  powerdns: PowerDnsSettings;
}
export type Dns01 = Dns01Exec | Dns01Rfc2136 | Dns01PowerDns;
export type Challenge = Http01Webroot | Http01ChallengeDirectory | Http01Standalone | Http01Redis | Dns01;

export const ACME_ALIASES = ['letsencrypt', 'letsencrypt-staging', 'zerossl', 'google', 'buypass'] as const;
export type AcmeAlias = (typeof ACME_ALIASES)[number];

export interface AcmeIssuerConfig {
  type: 'acme';
  /** URL of the ACME directory, or an alias. */
  directory: string;
  email?: string;
  eab?: { kid: string; hmacKey: SecretRef };
  profile?: string;
  /** PEM file with the CA certificates to trust for a private ACME server. */
  caBundle?: string;
  challenge: Challenge;
  /** Lifetime the CA gives (used by `validate` for window checks). Default 90d. */
  lifetime?: Duration;
  /**
   * Among the CA's alternate chains, the one whose top certificate's issuer common name is this (certbot's
   * and lego's `--preferred-chain`); the default chain when none matches.
   */
  preferredChain?: string;
}

export interface StepCaIssuerConfig {
  type: 'step-ca';
  url: string;
  /** SHA-256 of the root certificate (hex, colons optional). Pins the CA. */
  rootFingerprint: string;
  /** Name of a JWK provisioner. */
  provisioner: string;
  password: SecretRef;
  /** Requested lifetime; step-ca's default is 24h. */
  lifetime?: Duration;
}

export interface LocalCaIssuerConfig {
  type: 'local-ca';
  /** Lifetime of issued certificates. Default 90d. */
  lifetime?: Duration;
  /** Subject common name of the CA created on first use. */
  commonName?: string;
  /** The store that keeps the CA. Default: the certificate's own store. */
  store?: string;
  /** Key type of the CA created on first use. Default ecdsa-p256. */
  keyType?: KeyType;
}

export type IssuerConfig = AcmeIssuerConfig | StepCaIssuerConfig | LocalCaIssuerConfig;

export interface FilesystemStoreConfig {
  type: 'filesystem';
  /** Directory (local or NFS); each certificate lives in `<path>/<name>/`. */
  path: string;
  /** Octal file modes as strings. Defaults: key "0600", cert "0644". */
  mode?: { key?: string; cert?: string };
  owner?: string | number;
  group?: string | number;
  /** Previous versions to keep. Default 3. */
  keep?: number;
  files?: { cert?: string; chain?: string; fullchain?: string; privkey?: string };
  outputs?: {
    /** Key + full chain in one file (HAProxy). `true` means `combined.pem`. */
    combined?: boolean | string;
    /** PKCS#12 bundle. */
    pkcs12?: { file?: string; password?: SecretRef };
  };
  /** Name of a redis store whose locks to use instead of lock files. */
  locks?: string;
  /** A lock file older than this is stale and taken over. Default 15m. */
  lockTimeout?: Duration;
}

export interface RedisNode {
  host: string;
  port: number;
}

export interface RedisStoreConfig {
  type: 'redis';
  /** `redis://` or `rediss://` URL (single server). */
  url?: string;
  /** Sentinel set-up: the sentinels and the master's name. */
  sentinel?: { sentinels: RedisNode[]; name: string };
  /** Cluster: seed nodes. */
  cluster?: { nodes: RedisNode[] };
  username?: SecretRef;
  password?: SecretRef;
  tls?: { caBundle?: string };
  keyPrefix?: string;
  keep?: number;
  /** AES-256-GCM of private keys at rest. `key` is 32 bytes, base64 or hex. */
  encryption?: { key: SecretRef; keyId?: string; previousKeys?: { keyId: string; key: SecretRef }[] };
  /** Pub/sub channel announcing renewals. */
  announce?: { channel: string };
  /** How long a lock lives without extension. Default 2m. */
  lockTimeout?: Duration;
}

export type StoreConfig = FilesystemStoreConfig | RedisStoreConfig;

export interface RenewalSettings {
  issuer?: string;
  store?: string;
  keyType?: KeyType;
  reuseKey?: boolean;
  /** Renew when at most this much lifetime remains. */
  renewBefore?: Duration;
  /** Renew when at most this percentage of the lifetime remains (0 < p < 100). */
  renewBeforePercent?: number;
  hooks?: Hooks;
  /** Overrides the ACME issuer's challenge for this certificate. */
  challenge?: Challenge;
  /** Requested lifetime, where the issuer lets the client choose (local-ca, step-ca). */
  lifetime?: Duration;
  /** After the post-renew hooks, check over TLS that the stored certificate is served. */
  verify?: VerifySettings;
}

/** `verify`: endpoints that must serve the stored leaf after the hooks (docs/hooks.md). */
export interface VerifySettings {
  /** `host:port`, `[v6]:port`; port 443 when left out. */
  endpoints: string[];
  /** SNI; default the first domain. */
  serverName?: string;
  /** Per connection attempt; default 5s. */
  timeout?: Duration;
  /** Further attempts one second apart; default 3. */
  retries?: number;
}

/** `deployment`: this host's part in the stores' deployment state. */
export interface DeploymentSettings {
  /** Default: the hostname (`--host-id` wins). */
  hostId?: string;
  /** How long a host may stay behind before `status --check` warns; default two run intervals. */
  grace?: Duration;
}

export interface CertificateConfig extends RenewalSettings {
  name: string;
  domains: string[];
}

export interface Manifest {
  $schema?: string;
  version: 1;
  defaults?: RenewalSettings;
  deployment?: DeploymentSettings;
  issuers: Record<string, IssuerConfig>;
  stores: Record<string, StoreConfig>;
  certificates: CertificateConfig[];
}

/** One certificate with the defaults applied and its issuer and store looked up. */
export interface ResolvedCertificate {
  /** Position in the manifest's `certificates` array. */
  index: number;
  name: string;
  /** ASCII (punycode) form, first is the subject. */
  domains: string[];
  issuerName: string;
  issuer: IssuerConfig;
  storeName: string;
  store: StoreConfig;
  /** The manifest's key type, or the default `ecdsa-p256` when it names none (see `keyTypeIsDefault`). */
  keyType: KeyType;
  /**
   * True when neither the entry nor `defaults` names `keyType`: an existing certificate then keeps its own
   * key type (as certbot keeps a lineage's), and `keyType` applies only to a new certificate.
   */
  keyTypeIsDefault?: boolean;
  /** `undefined` means "the issuer's default" (step-ca keeps the key so it can use /1.0/renew). */
  reuseKey: boolean | undefined;
  renewBeforeMs?: number;
  renewBeforePercent?: number;
  lifetimeMs?: number;
  hooks: Required<Pick<Hooks, 'postRenew' | 'onFailure'>> & { rollbackOnHookFailure: boolean };
  challenge?: Challenge;
  verify?: VerifySettings;
}
