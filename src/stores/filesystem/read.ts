/**
 * Reading a filesystem store: one certificate (`current` resolved once, every file read from that one
 * version directory, so a reader never pairs a new certificate with an old key), plain files from before
 * cert-renew managed a directory, the last failed attempt, and many certificates at once.
 *
 * What a read can find is a LoadResult, never an exception: `missing` only when nothing is there at all;
 * anything present but unusable (a file missing from the set, no PEM block, meta.json not JSON, EACCES,
 * EIO, `current` pointing outside the directory) is `unreadable` with the reason.
 */
import { resolve, sep } from 'node:path';
import { CertRenewError, describeError, ErrorCode } from '../../errors.js';
import { type KeptListing, listedSinceChange, readdirEntries, statPath } from '../../util/fs-async.js';
import { brokenLinkError } from '../../util/mkdirp.js';
import { mapLimit } from '../../util/pool.js';
import { metaNaming } from '../../x509/fast.js';
import { holdsCertificate, sameCertificates } from '../../x509/pem.js';
import { type AttemptFields, attemptFromFields } from '../attempt-record.js';
import {
  CURRENT,
  childPath,
  currentTarget,
  type FilesystemLayout,
  LEGACY_ID,
  STABLE_TARGETS,
  VERSION_FILES,
  VERSIONS,
} from '../keys.js';
import type { AttemptInfo, LoadResult, StoredMeta } from '../types.js';
import { type FilesystemSettings, stableName } from './config.js';
import { asyncIo, errnoOf, isErrno, isLocalFilesystem, type ReadIo, type Step, syncIo } from './fs-util.js';

/** Certificates read at once: a slice between event-loop turns locally, loads in flight on NFS. */
const LOAD_CONCURRENCY = 64;

const CERT_BLOCK = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/;
const KEY_BLOCK = /-----BEGIN (?:[A-Z]+ )?PRIVATE KEY-----[\s\S]+?-----END (?:[A-Z]+ )?PRIVATE KEY-----/;

interface SetFiles {
  cert: string;
  chain: string;
  fullchain: string;
  privkey: string;
  meta: string;
}

/**
 * Reading code written once for both flavours of ReadIo: a generator that yields each call's Step and is
 * given its value back (`yield* take(io.readlink(path))`). With `syncIo` every step is a value and
 * `readNow` runs it through without a promise (a local plan of 10,000 certificates made some 250,000
 * promises before, ~60 ms); with `asyncIo` `readLater` awaits each step. A call that fails throws where it
 * is written either way: syncIo's at the call, a rejected promise through the generator's `throw`.
 */
type Reading<T> = Generator<Step<unknown>, T, unknown>;

/** The value of one step, inside a Reading. */
function* take<T>(step: Step<T>): Generator<Step<T>, T, unknown> {
  return (yield step) as T;
}

/** Runs a Reading whose steps are values (syncIo). Throws what the reading throws. */
function readNow<T>(reading: Reading<T>): T {
  let next = reading.next();
  while (!next.done) {
    if (next.value instanceof Promise) throw new TypeError('readNow: a step gave a promise');
    next = reading.next(next.value);
  }
  return next.value;
}

/** Runs a Reading whose steps may be promises (asyncIo). Rejects with what the reading throws. */
async function readLater<T>(reading: Reading<T>): Promise<T> {
  let next = reading.next();
  while (!next.done) {
    let result: unknown;
    try {
      result = await next.value;
    } catch (error) {
      next = reading.throw(error);
      continue;
    }
    next = reading.next(result);
  }
  return next.value;
}

/** Each read's outcome, as Promise.allSettled gives it: values at once when every read is synchronous. */
function settleAll<T>(reads: readonly (() => Step<T>)[]): Step<PromiseSettledResult<T>[]> {
  const settled = reads.map((read): Step<PromiseSettledResult<T>> => {
    try {
      const result = read();
      return result instanceof Promise
        ? result.then(
            (value) => ({ status: 'fulfilled', value }),
            (reason: unknown) => ({ status: 'rejected', reason }),
          )
        : { status: 'fulfilled', value: result };
    } catch (reason) {
      return { status: 'rejected', reason };
    }
  });
  return settled.some((one) => one instanceof Promise)
    ? Promise.all(settled)
    : (settled as PromiseSettledResult<T>[]);
}

/** One certificate with its last failed attempt. Throws only for a name that is not a safe file name. */
export function loadOne(
  settings: FilesystemSettings,
  io: ReadIo,
  name: string,
  realDirs?: ReadonlySet<string>,
): Step<LoadResult> {
  if (io === syncIo) {
    const found = readNow(loadFiles(settings, io, name, realDirs));
    // Not through a directory the store refuses (a planted link): `error` carries no attempts.
    if (found.state === 'error') return found;
    const attempts = readNow(readAttempts(settings, io, settings.layout.attempts(name)));
    return attempts ? { ...found, attempts } : found;
  }
  return Promise.all([
    readLater(loadFiles(settings, io, name, realDirs)),
    readLater(readAttempts(settings, io, settings.layout.attempts(name))),
  ]).then(([found, attempts]) => (attempts && found.state !== 'error' ? { ...found, attempts } : found));
}

/**
 * What `loadMany` asks of a load cache (load-cache.ts `LoadCache`): whether it remembers a name, the
 * certificate from what it remembers (undefined when that no longer holds: the caller reads in full), and
 * what a full read begun at `startedAt` (ms since the epoch, the real clock) found.
 */
export interface RememberedLoads {
  has(name: string): boolean;
  take(name: string, readAttempts: (path: string) => AttemptInfo | undefined): LoadResult | undefined;
  learn(name: string, result: LoadResult, startedAt: number): void;
}

/**
 * Many certificates, in the caller's order (see `readEach`). From LIST_FROM certificates the store's
 * directory is listed first (`realDirectories`), which spares each certificate directory found in it as a
 * directory its own lstat.
 */
export async function loadMany(
  settings: FilesystemSettings,
  isLocal: () => Promise<boolean>,
  names: readonly string[],
  cache?: RememberedLoads,
): Promise<Map<string, LoadResult>> {
  // The listing spares a certificate directory's lstat only where a full read is made: not when every name
  // is remembered by the cache (whose own lstat of each directory checks it).
  const listing = names.length >= LIST_FROM && !(cache && names.every((name) => cache.has(name)));
  const realDirs = listing ? await realDirectories(settings.layout) : undefined;
  if (!cache) return readEach(isLocal, names, (io, name) => loadOne(settings, io, name, realDirs));
  // The real clock, not the run's: the filesystem's timestamps are compared with it (load-cache.ts).
  const startedAt = Date.now();
  return readEach(isLocal, names, (io, name) => {
    if (io !== syncIo) return loadOne(settings, io, name, realDirs);
    const taken = cache.take(name, (path) => readNow(readAttempts(settings, io, path)));
    if (taken) return taken;
    const read = loadOne(settings, io, name, realDirs) as LoadResult;
    cache.learn(name, read, startedAt);
    return read;
  });
}

/**
 * Certificates loaded at once from which listing the store's directory is cheaper than an lstat of each
 * certificate directory: a listing of 10,000 entries is a few getdents calls (and is kept while the
 * directory does not change), where 10,000 lstats cost ~30 ms and ~9 MB of Stats objects in a plan of
 * 10,000 (docs/performance.md).
 */
export const LIST_FROM = 100;

/**
 * The names of the entries in the store's directory that are real directories (not symbolic links to
 * one), from a listing with entry types, kept while the directory does not change (`listedSinceChange`: a
 * plan loads 10,000 certificates in 100 batches); undefined when it cannot be listed (each directory's own
 * lstat then says why). A certificate directory found here is taken as checked by `loadFiles`. Anything
 * else — a link, a file, a name not listed (created since), an entry whose type the filesystem does not
 * give (node then asks lstat) — is checked by its own lstat as before: the listing only spares the check
 * of what it saw to be a directory. Replacing a directory by a link changes the store's directory, so the
 * next batch lists it again; only a replacement within the timestamp tick of the listing, on a filesystem
 * with coarse timestamps, goes unseen until the directory changes again or the next process.
 */
async function realDirectories(layout: FilesystemLayout): Promise<ReadonlySet<string> | undefined> {
  try {
    return await listedSinceChange(rootListings, layout, layout.root, async (dir) => {
      const dirs = new Set<string>();
      for (const entry of await readdirEntries(dir)) if (entry.isDirectory()) dirs.add(entry.name);
      return dirs;
    });
  } catch {
    return undefined;
  }
}

/** The last listing of each store's directory (`realDirectories`). */
const rootListings = new WeakMap<FilesystemLayout, KeptListing<ReadonlySet<string>>>();

/**
 * `read` for each name, results in the caller's order. On a local disk: plain system calls (`syncIo`) in
 * slices of LOAD_CONCURRENCY names, the event loop running between slices. On a network filesystem:
 * LOAD_CONCURRENCY reads in flight at once (`asyncIo`; see ReadIo for why). Rejects with the first error
 * `read` throws.
 */
export async function readEach<T>(
  isLocal: () => Promise<boolean>,
  names: readonly string[],
  read: (io: ReadIo, name: string) => Step<T>,
): Promise<Map<string, T>> {
  const results = new Map<string, T>();
  if (names.length === 0) return results;
  if (await isLocal()) {
    for (let start = 0; start < names.length; start += LOAD_CONCURRENCY) {
      const end = Math.min(start + LOAD_CONCURRENCY, names.length);
      for (let i = start; i < end; i++) {
        const name = names[i] as string;
        const result = read(syncIo, name);
        results.set(name, result instanceof Promise ? await result : result);
      }
      await new Promise((done) => setImmediate(done));
    }
    return results;
  }
  const loaded = await mapLimit(names, LOAD_CONCURRENCY, async (name) => read(asyncIo, name));
  names.forEach((name, i) => {
    results.set(name, loaded[i] as T);
  });
  return results;
}

/**
 * The store's own directory, checked once per store before anything is read: absent is fine (nothing
 * stored yet), a directory is fine; anything else (a regular file, no permission) means the store cannot be
 * read at all, so every certificate in it is an error in the plan, not a "missing" or "unreadable" one that
 * a run would try to issue. Throws CertRenewError STORE_UNAVAILABLE.
 */
export function rootCheck(storeName: string, root: string): () => Promise<void> {
  let checked: Promise<void> | undefined;
  return () => {
    checked ??= statPath(root).then(
      (info) => {
        if (!info.isDirectory()) {
          throw new CertRenewError(
            ErrorCode.storeUnavailable,
            `filesystem store "${storeName}": ${root} is not a directory`,
            { hint: "point the store's path at a directory (it is created when absent)" },
          );
        }
      },
      async (error: unknown) => {
        if (isErrno(error, 'ENOENT')) {
          // Absent is fine, but not a symbolic link to nowhere: the run could not create the store there.
          const broken = await brokenLinkError(root);
          if (!broken) return;
          throw new CertRenewError(
            ErrorCode.storeUnavailable,
            `filesystem store "${storeName}": ${broken.message}`,
            {
              hint: 'create the directory the link points to, or point the store path at a directory',
            },
          );
        }
        throw new CertRenewError(
          ErrorCode.storeUnavailable,
          `filesystem store "${storeName}": ${root} cannot be read (${errnoOf(error) ?? describeError(error)})`,
          { cause: error, hint: "check the store's path and its permissions" },
        );
      },
    );
    return checked;
  };
}

/** Whether the store's directory is on a local filesystem, asked once per store. */
export function localCheck(root: string): () => Promise<boolean> {
  let local: Promise<boolean> | undefined;
  return () => {
    local ??= isLocalFilesystem(root);
    return local;
  };
}

function* loadFiles(
  settings: FilesystemSettings,
  io: ReadIo,
  name: string,
  realDirs?: ReadonlySet<string>,
): Reading<LoadResult> {
  // Every path below is built from the certificate's directory, made (and its name checked) once.
  const dir = settings.layout.certDir(name);
  const current = childPath(dir, CURRENT);
  // A directory the store's listing saw as one (loadMany) is not looked at again.
  const linked = realDirs?.has(name) ? undefined : yield* plantedLink(io, dir, false);
  if (linked) return linked;
  const versionsDir = childPath(dir, VERSIONS);
  let target: string;
  try {
    target = yield* take(io.readlink(current));
  } catch (error) {
    // No version yet (or plain files from before): the first save writes into `versions`, so one a save
    // cannot write into is this certificate's error now, not after an order.
    if (isErrno(error, 'ENOENT', 'ENOTDIR'))
      return (yield* plantedLink(io, versionsDir, false)) ?? (yield* legacySet(settings, io, name));
    if (isErrno(error, 'EINVAL')) return { state: 'unreadable', error: `${current} is not a symlink` };
    return {
      state: 'unreadable',
      error: `cannot read ${current} (${errnoOf(error) ?? describeError(error)})`,
    };
  }
  // One readlink, then every file from that one directory: never a new cert with an old key.
  // What cert-renew writes (`versions/<id>`) is joined to `versions` (childPath normalises anything that is
  // not one plain name); any other target is resolved. Either way it must stay inside `dir`.
  const versionDir = target.startsWith(VERSIONS_PREFIX)
    ? childPath(versionsDir, target.slice(VERSIONS_PREFIX.length))
    : resolve(dir, target);
  if (!versionDir.startsWith(dir + sep)) {
    const where =
      versionDir === dir
        ? 'at the certificate directory itself, not a version'
        : 'outside the certificate directory';
    return { state: 'unreadable', error: `${current} points ${where}` };
  }
  // The versions directory is written into by every save (never replaced); a version a link stands for
  // is replaced by the next save's own directory.
  const linkedVersion =
    (yield* plantedLink(io, versionsDir, false)) ?? (yield* plantedLink(io, versionDir, true));
  if (linkedVersion) return linkedVersion;
  // 000000-legacy holds the plain files from before cert-renew, copied as they were: read as plain files.
  const legacy = versionDir === childPath(versionsDir, LEGACY_ID);
  const set = yield* readSet(settings, io, versionDir, VERSION_FILES, legacy);
  return set.state === 'present' ? yield* judgeServed(settings, io, dir, set) : set;
}

/** `current`'s target as cert-renew writes it starts so (keys.ts `currentTarget`). */
const VERSIONS_PREFIX = currentTarget('');

/** The stable names a server reads (the PEM ones), with the version file each must link to. */
const SERVED_KINDS = ['cert', 'chain', 'fullchain', 'privkey'] as const;

/**
 * What a reader of the configured file names gets. Normally each stable name is the link cert-renew made
 * (`current/<file>`) and the version set is what is served. When one was replaced (a plain file moved over
 * it, a link elsewhere, or removed), the set judged is what those names hold — the leaf and chain of the
 * fullchain file and the key of the privkey file, as a web server reads them — with `replaced` naming them,
 * so an expired file served in place of a valid version is reported expired. The next save puts the links
 * back.
 */
function* judgeServed(
  settings: FilesystemSettings,
  io: ReadIo,
  dir: string,
  set: LoadResult & { state: 'present' },
): Reading<LoadResult> {
  const replaced: string[] = [];
  for (const kind of SERVED_KINDS) {
    const file = stableName(settings, kind);
    try {
      if ((yield* take(io.readlink(childPath(dir, file)))) === STABLE_TARGETS[kind]) continue;
    } catch {
      // not a link (EINVAL), or gone (ENOENT): replaced
    }
    replaced.push(file);
  }
  if (replaced.length === 0) return set;
  const where = dir.slice(settings.layout.root.length + 1);
  const read = (kind: (typeof SERVED_KINDS)[number]) =>
    take(io.readText(childPath(dir, stableName(settings, kind))));
  const note = `${replaced.join(', ')} in ${where} ${replaced.length === 1 ? 'is' : 'are'} not the link${replaced.length === 1 ? '' : 's'} cert-renew made (a reader gets ${replaced.length === 1 ? 'that file' : 'those files'}; the next renewal puts the links back)`;
  const isReplaced = (kind: (typeof SERVED_KINDS)[number]) => replaced.includes(stableName(settings, kind));
  // Names still linked are read from the version (never through a link); replaced ones as a reader would.
  let fullchain: string | undefined;
  let certText: string | undefined;
  let keyPem = set.cert.keyPem;
  try {
    if (isReplaced('fullchain')) fullchain = yield* read('fullchain');
    if (isReplaced('cert')) certText = yield* read('cert');
    if (isReplaced('privkey')) keyPem = yield* read('privkey');
  } catch (error) {
    return {
      state: 'unreadable',
      error: `${note}: cannot read it (${errnoOf(error) ?? describeError(error)})`,
      ...(set.attempts ? { attempts: set.attempts } : {}),
    };
  }
  const blocks = (fullchain ?? certText ?? set.cert.certPem).match(new RegExp(CERT_BLOCK.source, 'g')) ?? [];
  if (blocks.length === 0 || !KEY_BLOCK.test(keyPem)) {
    return { state: 'unreadable', error: `${note}: it holds no PEM certificate and key` };
  }
  const [leaf, ...rest] = blocks;
  const chainPem = fullchain === undefined ? set.cert.chainPem : rest.map((block) => `${block}\n`).join('');
  return {
    state: 'present',
    cert: {
      certPem: `${leaf}\n`,
      chainPem,
      keyPem,
      // The metadata describes the version, not what is served in its place.
      meta: undefined,
    },
    replaced: { files: replaced, note },
  };
}

/**
 * When `dir` exists but is not a real directory (a symbolic link someone planted: never read through, or a
 * plain file): `unreadable` where a save replaces it (`replaceable`: a version directory), else `error` —
 * a save cannot write through or over it (fs-util `assertRealDirectories`), so renewing would order a
 * certificate from the CA only to discard it, on every run. Undefined when it is one or does not exist.
 */
function* plantedLink(io: ReadIo, dir: string, replaceable: boolean): Reading<LoadResult | undefined> {
  try {
    if (yield* take(io.isRealDir(dir))) return undefined;
  } catch {
    return undefined;
  }
  // Which, said only now (the rare case): a plain file where a directory belongs, or anything else (a link).
  let file = false;
  try {
    file = yield* take(io.isFile(dir));
  } catch {
    // gone since, or not to be looked at: not a file
  }
  const what = file ? `${dir} is a file, not a directory` : `${dir} is not a directory (a symbolic link?)`;
  if (replaceable) {
    const error = file ? what : `${what}; cert-renew never reads through links it did not create`;
    return { state: 'unreadable', error };
  }
  return {
    state: 'error',
    failure: new CertRenewError(
      ErrorCode.storeCorrupt,
      file
        ? `${what}: a save cannot write there, so nothing is renewed until it is a directory again`
        : `${what}; cert-renew neither reads nor writes through links it did not create, so nothing is renewed until it is a directory again`,
      { hint: 'remove it (and check who put it there); cert-renew recreates its directories itself' },
    ),
  };
}

/** One version directory of a certificate, as `load` would read it were it current (for rollback). */
export function readVersion(
  settings: FilesystemSettings,
  io: ReadIo,
  name: string,
  id: string,
): Promise<LoadResult> {
  const dir = settings.layout.versionDir(name, id);
  return readLater(readSet(settings, io, dir, VERSION_FILES, id === LEGACY_ID));
}

/** Plain files in `<path>/<name>/` from before cert-renew managed it (certbot copies, manual installs). */
export function loadLegacy(settings: FilesystemSettings, io: ReadIo, name: string): Promise<LoadResult> {
  return readLater(legacySet(settings, io, name));
}

function* legacySet(settings: FilesystemSettings, io: ReadIo, name: string): Reading<LoadResult> {
  const certPath = settings.layout.stable(name, stableName(settings, 'cert'));
  try {
    if (!(yield* take(io.isFile(certPath)))) return { state: 'missing' };
  } catch (error) {
    if (isErrno(error, 'ENOENT')) return { state: 'missing' };
    // ENOTDIR (the store path is a file), EACCES, EIO: not "missing", which would mean "issue one".
    return {
      state: 'unreadable',
      error: `cannot read ${certPath} (${errnoOf(error) ?? describeError(error)})`,
    };
  }
  const files: SetFiles = {
    cert: stableName(settings, 'cert'),
    chain: stableName(settings, 'chain'),
    fullchain: stableName(settings, 'fullchain'),
    privkey: stableName(settings, 'privkey'),
    meta: VERSION_FILES.meta,
  };
  return yield* readSet(settings, io, settings.layout.certDir(name), files, true);
}

function* readSet(
  settings: FilesystemSettings,
  io: ReadIo,
  dir: string,
  files: SetFiles,
  legacy = false,
): Reading<LoadResult> {
  const read = (file: string) => () => io.readText(childPath(dir, file));
  // All five at once on NFS; one after another (no promise) with plain system calls.
  const [cert, chain, fullchain, key, meta] = (yield* take(
    settleAll([
      read(files.cert),
      read(files.chain),
      read(files.fullchain),
      read(files.privkey),
      read(files.meta),
    ]),
  )) as [
    PromiseSettledResult<string>,
    PromiseSettledResult<string>,
    PromiseSettledResult<string>,
    PromiseSettledResult<string>,
    PromiseSettledResult<string>,
  ];
  const where = dir.slice(settings.layout.root.length + 1);
  const problem = (file: string, result: PromiseSettledResult<string>): string | undefined => {
    if (result.status === 'fulfilled') return undefined;
    if (isErrno(result.reason, 'ELOOP'))
      return `${file} in ${where} is a symbolic link cert-renew did not create (never followed)`;
    if (isErrno(result.reason, 'EINVAL')) return `${file} in ${where} is not a regular file`;
    return isErrno(result.reason, 'ENOENT')
      ? `${file} is missing in ${where}`
      : `cannot read ${file} in ${where} (${errnoOf(result.reason) ?? describeError(result.reason)})`;
  };
  const missing =
    problem(files.cert, cert) ??
    problem(files.chain, chain) ??
    problem(files.fullchain, fullchain) ??
    problem(files.privkey, key);
  if (missing) return { state: 'unreadable', error: missing };
  const certPem = (cert as PromiseFulfilledResult<string>).value;
  const chainPem = (chain as PromiseFulfilledResult<string>).value;
  const fullchainPem = (fullchain as PromiseFulfilledResult<string>).value;
  const keyPem = (key as PromiseFulfilledResult<string>).value;
  if (!holdsCertificate(certPem))
    return { state: 'unreadable', error: `${files.cert} in ${where} holds no PEM certificate` };
  if (chainPem.trim() !== '' && !holdsCertificate(chainPem)) {
    return { state: 'unreadable', error: `${files.chain} in ${where} holds no PEM certificate` };
  }
  if (!holdsCertificate(fullchainPem)) {
    return { state: 'unreadable', error: `${files.fullchain} in ${where} holds no PEM certificate` };
  }
  if (!KEY_BLOCK.test(keyPem))
    return { state: 'unreadable', error: `${files.privkey} in ${where} holds no PEM private key` };

  let parsed: StoredMeta | undefined;
  if (meta.status === 'fulfilled') {
    try {
      parsed = JSON.parse(meta.value) as StoredMeta;
    } catch {
      return { state: 'unreadable', error: `${files.meta} in ${where} is not valid JSON` };
    }
    if (!isStoredMeta(parsed)) {
      return { state: 'unreadable', error: `${files.meta} in ${where} is not certificate metadata` };
    }
  } else if (!isErrno(meta.reason, 'ENOENT')) {
    return { state: 'unreadable', error: problem(files.meta, meta) as string };
  }
  // A version is written whole, fullchain.pem holding cert.pem's certificate then chain.pem's: one that
  // does not was changed since (a file edited or damaged through its link), and which of them a server reads
  // is not known here. It is reported, and the next renewal writes a whole version again. (Plain files from
  // before cert-renew, `legacy`, and their copy 000000-legacy are read as they are.)
  if (!legacy && !sameCertificates(fullchainPem, certPem, chainPem)) {
    return {
      state: 'unreadable',
      error: `${files.fullchain} in ${where} is not ${files.cert} followed by ${files.chain}: changed since it was written`,
    };
  }
  // The metadata only when it names the certificate (x509/fast.ts): everything downstream takes it as such.
  const named = parsed === undefined ? undefined : metaNaming(certPem, parsed);
  return { state: 'present', cert: { certPem, chainPem, keyPem, meta: named } };
}

/**
 * Whether `value` has the fields of StoredMeta that plans read, each of its type (a meta.json edited by hand
 * without its fingerprint, or with a number for its serial, would otherwise stop the whole plan or run; dates
 * that are not the certificate's — a word, say — are metaNaming's to refuse).
 */
export function isStoredMeta(value: unknown): value is StoredMeta {
  if (typeof value !== 'object' || value === null) return false;
  const meta = value as Record<string, unknown>;
  return (
    ['notBefore', 'notAfter', 'fingerprint', 'serial', 'issuedAt'].every(
      (field) => typeof meta[field] === 'string',
    ) &&
    Array.isArray(meta.domains) &&
    meta.domains.every((domain) => typeof domain === 'string')
  );
}

/**
 * The failed-attempt record at `path`: undefined when there is none, and when it cannot be used (not
 * readable, not JSON, no `failureCount` and `lastAttempt`), which `settings`' logger is told once per file
 * and process: the failures it held are not known, so no backoff applies until the next failure rewrites
 * it (a trial saw a damaged file reset the backoff without a word). Fields of the wrong type are dropped.
 */
function* readAttempts(
  settings: FilesystemSettings,
  io: ReadIo,
  path: string,
): Reading<AttemptInfo | undefined> {
  let text: string | undefined;
  try {
    text = yield* take(io.readTextIfPresent(path));
  } catch (error) {
    return unusableAttempts(settings, path, `cannot be read (${errnoOf(error) ?? describeError(error)})`);
  }
  if (text === undefined) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return unusableAttempts(settings, path, 'is not JSON');
  }
  const fields = (typeof value === 'object' && value !== null ? value : {}) as AttemptFields;
  return attemptFromFields(fields) ?? unusableAttempts(settings, path, 'has no failureCount and lastAttempt');
}

/** The attempt files already said to be unusable in this process (a run reads a certificate more than once). */
const toldUnusable = new Set<string>();

function unusableAttempts(settings: FilesystemSettings, path: string, why: string): undefined {
  if (!toldUnusable.has(path)) {
    toldUnusable.add(path);
    settings.context.logger.warn(
      `store ${settings.storeName}: ${path} ${why}: the failed attempts it recorded are not known, so no backoff applies (the next failure or success rewrites it)`,
    );
  }
  return undefined;
}
