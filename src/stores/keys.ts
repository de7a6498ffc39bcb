/**
 * The one place that names things inside a store (certmagic's KeyBuilder idea), so the filesystem and Redis
 * layouts cannot drift and no other file builds a path or key by hand. Both layouts hold the same things:
 *
 *   thing                 filesystem (under the store's path)               Redis (after keyPrefix)
 *   certificate           <name>/current → versions/<id>/{cert,…}.pem        cert:{<name>}
 *   previous versions     <name>/versions/<id>/                              history:{<name>}
 *   last failed attempt   <name>/attempts.json                               attempts:{<name>}
 *   revocations           <name>/revocations.json                            revocations:{<name>}
 *   lock                  .cert-renew/locks/<name>.lock                      lock:{<name>}
 *   retired (prune)       .cert-renew/archive/<name>-<UTC time>/             — (deleted)
 *   deployment per host   .cert-renew/deployments/<name>/<host>.json         deployed:{<name>} (hash by host)
 *   blob (account, CA)    .cert-renew/blobs/<segment>/<segment>              <segment>:<segment>
 *   renewal info (ARI)    .cert-renew/blobs/renewal-info/<name>              renewal-info:<name>
 *   http-01 challenge     —                                                  challenge:<token>
 *
 * Certificate names were validated by the manifest (CERT_NAME_PATTERN: safe path components); blob keys
 * are `/`-separated segments with each segment URI-encoded (emails and issuer names may hold anything).
 * See docs/stores.md for the layouts as an operator sees them.
 */
import { join, resolve, sep } from 'node:path';
import { CertRenewError, ErrorCode, UsageError } from '../errors.js';

/** A certificate name (the manifest schema's pattern): a safe file name and Redis hash tag. */
export const CERT_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

// ---- blob keys (logical, shared by every store) ----------------------------------------------------

/** Blob key for an ACME account (key + URL) of one issuer and contact email. */
export function accountBlobKey(issuer: string, email: string | undefined): string {
  return `account/${encodeURIComponent(issuer)}/${encodeURIComponent(email ?? 'no-email')}`;
}

/** Blob key for the local CA's signed CRL (PEM, what `openssl crl` and web servers read) of one issuer. */
export function localCaCrlBlobKey(issuer: string): string {
  return `local-ca-crl/${encodeURIComponent(issuer)}`;
}

/** Blob key for the local CA's revoked serials (JSON entries the CRL is built from) of one issuer. */
/**
 * The lock name that serialises changes to a local CA's revocation list (a read-modify-write of its blobs)
 * between processes: taken in the CA's store like a certificate's lock.
 */
export function localCaCrlLockName(issuer: string): string {
  return `local-ca-crl.${issuer}`;
}

export function localCaRevokedBlobKey(issuer: string): string {
  return `local-ca-revoked/${encodeURIComponent(issuer)}`;
}

/**
 * Blob key for the renewal information (RFC 9773) last fetched for the certificate stored under `name`,
 * kept until the CA's Retry-After (plan/renewal-info-cache.ts).
 */
export function renewalInfoBlobKey(name: string): string {
  return `renewal-info/${encodeURIComponent(name)}`;
}

/** Blob key for the local CA of one issuer. */
export function localCaBlobKey(issuer: string): string {
  return `local-ca/${encodeURIComponent(issuer)}`;
}

// ---- Redis -----------------------------------------------------------------------------------------

/** Redis keys. `{name}` is a Cluster hash tag: a certificate's keys all live in one slot. */
export const redisKeys = {
  cert: (prefix: string, name: string) => `${prefix}cert:{${name}}`,
  history: (prefix: string, name: string) => `${prefix}history:{${name}}`,
  attempts: (prefix: string, name: string) => `${prefix}attempts:{${name}}`,
  lock: (prefix: string, name: string) => `${prefix}lock:{${name}}`,
  revocations: (prefix: string, name: string) => `${prefix}revocations:{${name}}`,
  /** A hash: host id → JSON of what that host last deployed (stores/types.ts HostDeployment). */
  deployed: (prefix: string, name: string) => `${prefix}deployed:{${name}}`,
  challenge: (prefix: string, token: string) => `${prefix}challenge:${token}`,
  /** `account/le/ops%40example.com` → `account:le:ops@example.com`. */
  blob: (prefix: string, key: string) => `${prefix}${key.split('/').map(decodeURIComponent).join(':')}`,
} as const;

// ---- filesystem ------------------------------------------------------------------------------------

/** Names of the files inside a version directory (fixed; the stable names outside are configurable). */
export const VERSION_FILES = {
  cert: 'cert.pem',
  chain: 'chain.pem',
  fullchain: 'fullchain.pem',
  privkey: 'privkey.pem',
  meta: 'meta.json',
  combined: 'combined.pem',
  pkcs12: 'cert.p12',
} as const;

/** The symlink naming the version readers see. */
export const CURRENT = 'current';
export const VERSIONS = 'versions';
export const ATTEMPTS = 'attempts.json';
export const REVOCATIONS = 'revocations.json';
/** Plain files found before cert-renew managed a directory are kept as this version. */
export const LEGACY_ID = '000000-legacy';
/** The store's own files (locks, blobs) live here; certificate names cannot start with a dot. */
export const INTERNAL_DIR = '.cert-renew';
/** Names a configured stable file name may not take (they are the layout's own). */
export const RESERVED_NAMES: ReadonlySet<string> = new Set([
  CURRENT,
  VERSIONS,
  ATTEMPTS,
  REVOCATIONS,
  VERSION_FILES.meta,
]);

/**
 * The file names a filesystem store's `files` and `outputs` settings give each stable kind (cert, chain,
 * fullchain, privkey always; combined and pkcs12 when configured), in that order, with the path of the
 * setting in the store's config (`files/cert`, `outputs/pkcs12/file`) and why each cannot be used, if it
 * cannot: a name that is not a plain file name, one of RESERVED_NAMES, or one an earlier kind already has.
 * The one rule `validate` (manifest/checks/stores.ts) and the store (filesystem/config.ts) both apply.
 */
export function stableFileNames(config: {
  files?: {
    cert?: string | undefined;
    chain?: string | undefined;
    fullchain?: string | undefined;
    privkey?: string | undefined;
  };
  outputs?: { combined?: boolean | string | undefined; pkcs12?: { file?: string | undefined } | undefined };
}): { kind: string; file: string; setting: string; problem?: string }[] {
  const named: { kind: string; file: string; setting: string }[] = [
    { kind: 'cert', file: config.files?.cert ?? VERSION_FILES.cert, setting: 'files/cert' },
    { kind: 'chain', file: config.files?.chain ?? VERSION_FILES.chain, setting: 'files/chain' },
    {
      kind: 'fullchain',
      file: config.files?.fullchain ?? VERSION_FILES.fullchain,
      setting: 'files/fullchain',
    },
    { kind: 'privkey', file: config.files?.privkey ?? VERSION_FILES.privkey, setting: 'files/privkey' },
  ];
  const combined = config.outputs?.combined;
  if (combined) {
    named.push({
      kind: 'combined',
      file: typeof combined === 'string' ? combined : VERSION_FILES.combined,
      setting: 'outputs/combined',
    });
  }
  if (config.outputs?.pkcs12) {
    named.push({
      kind: 'pkcs12',
      file: config.outputs.pkcs12.file ?? VERSION_FILES.pkcs12,
      setting: 'outputs/pkcs12/file',
    });
  }
  const seen = new Map<string, string>();
  return named.map((one) => {
    const earlier = seen.get(one.file);
    seen.set(one.file, one.kind);
    const problem = !CERT_NAME_PATTERN.test(one.file)
      ? 'is not a plain file name (letters, digits, ".", "_", "-")'
      : RESERVED_NAMES.has(one.file)
        ? `is one of the store's own names (${[...RESERVED_NAMES].join(', ')})`
        : earlier !== undefined
          ? `is already the file name for ${earlier}`
          : undefined;
    return problem ? { ...one, problem } : one;
  });
}

const VERSION_PATTERN = /^([0-9]{6,})-[A-Za-z0-9]+$/;

/** The sequence number of a version id (`000042-20250131T120000Z` → 42); undefined for anything else. */
export function versionSeq(id: string): number | undefined {
  const match = VERSION_PATTERN.exec(id);
  return match ? Number(match[1]) : undefined;
}

/** A version id: the zero-padded sequence number and the UTC time, `000042-20250131T120000Z`. */
export function versionId(seq: number, at: Date): string {
  const stamp = at
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.[0-9]+Z$/, 'Z');
  return `${String(seq).padStart(6, '0')}-${stamp}`;
}

/** The symlink target of `current` for a version (relative, so the store directory can move). */
export function currentTarget(id: string): string {
  return `${VERSIONS}/${id}`;
}

/**
 * The symlink target of each kind's stable name (`cert.pem` → `current/cert.pem`): that kind's version file
 * through `current`, relative like it. What saving writes and loading expects.
 */
export const STABLE_TARGETS = Object.fromEntries(
  Object.entries(VERSION_FILES).map(([kind, file]) => [kind, `${CURRENT}/${file}`]),
) as { readonly [K in keyof typeof VERSION_FILES]: string };

/** A file name that is one path component: not `.` or `..`, no separator. */
const PLAIN_NAME = /^(?!\.\.?$)[^/\\]+$/;

/**
 * `dir` + separator + `name`: what path.join gives for a plain file name (not `.` or `..`, no separator)
 * under a normalised directory without a trailing separator, without normalising the whole path again.
 * path.join's normalisation was a quarter of all the memory a 10,000-certificate plan allocated
 * (docs/performance.md, seventh round). Anything else goes through path.join.
 */
export function childPath(dir: string, name: string): string {
  return PLAIN_NAME.test(name) && !dir.endsWith(sep) ? `${dir}${sep}${name}` : join(dir, name);
}

/** Every path inside one filesystem store, from its absolute root directory. */
export class FilesystemLayout {
  /** The store's directory, absolute and normalised (no `.`, `..`, doubled or trailing separator). */
  readonly root: string;
  /** Where `prune` keeps retired certificate directories (`<name>-<UTC time>`), restorable with `mv`. */
  readonly archiveDir: string;
  readonly locksDir: string;
  /** `<root>/.cert-renew/deployments`: a directory per certificate that some host deployed. */
  readonly deploymentsRoot: string;
  /** `<root>/.cert-renew/blobs`: see `blob`. */
  private readonly blobsRoot: string;

  constructor(
    /** The store's directory, absolute. */
    root: string,
    /** The store's name in the manifest, for messages. */
    private readonly storeName: string,
  ) {
    this.root = resolve(root);
    // Built once, not per certificate: path.join normalises the whole path on every call.
    const internal = childPath(this.root, INTERNAL_DIR);
    this.archiveDir = childPath(internal, 'archive');
    this.locksDir = childPath(internal, 'locks');
    this.deploymentsRoot = childPath(internal, 'deployments');
    this.blobsRoot = childPath(internal, 'blobs');
  }

  /** `<root>/<name>`; throws a UsageError for a name that is not a safe file name. */
  certDir(name: string): string {
    if (!CERT_NAME_PATTERN.test(name)) {
      throw new UsageError(
        `certificate name "${name}" is not a safe file name (letters, digits, '.', '_', '-')`,
      );
    }
    return childPath(this.root, name);
  }

  current(name: string): string {
    return childPath(this.certDir(name), CURRENT);
  }

  versionsDir(name: string): string {
    return childPath(this.certDir(name), VERSIONS);
  }

  versionDir(name: string, id: string): string {
    return childPath(this.versionsDir(name), id);
  }

  attempts(name: string): string {
    return childPath(this.certDir(name), ATTEMPTS);
  }

  /** A stable name (`cert.pem`, or as configured in `files`) beside `current`. */
  stable(name: string, file: string): string {
    return childPath(this.certDir(name), file);
  }

  revocations(name: string): string {
    return childPath(this.certDir(name), REVOCATIONS);
  }

  lock(name: string): string {
    return childPath(this.locksDir, `${name}.lock`);
  }

  /** `<root>/.cert-renew/deployments/<name>`: one `<host>.json` per host that deployed the certificate. */
  deploymentsDir(name: string): string {
    this.certDir(name);
    return childPath(this.deploymentsRoot, name);
  }

  /** `<root>/.cert-renew/deployments/<name>/<host>.json`; the host id was checked (HOST_ID_PATTERN). */
  deployment(name: string, host: string): string {
    return childPath(this.deploymentsDir(name), `${host}.json`);
  }

  /** `account/le/ops%40example.com` → `<root>/.cert-renew/blobs/account/le/ops%40example.com`. */
  blob(key: string): string {
    const segments = key.split('/');
    for (const segment of segments) {
      if (
        segment === '' ||
        segment === '.' ||
        segment === '..' ||
        segment.includes('\0') ||
        segment.includes('\\')
      ) {
        throw new CertRenewError(ErrorCode.internal, `store ${this.storeName}: invalid blob key "${key}"`);
      }
    }
    let path = this.blobsRoot;
    for (const segment of segments) path = childPath(path, segment);
    return path;
  }
}
