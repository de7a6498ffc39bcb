/**
 * Reading a filesystem store: one certificate (`current` resolved once, every file read from that one
 * version directory, so a reader never pairs a new certificate with an old key), plain files from before
 * cert-renew managed a directory, the last failed attempt, and many certificates at once.
 *
 * What a read can find is a LoadResult, never an exception: `missing` only when nothing is there at all;
 * anything present but unusable (a file missing from the set, no PEM block, meta.json not JSON, EACCES,
 * EIO, `current` pointing outside the directory) is `unreadable` with the reason.
 */
import { join, resolve, sep } from 'node:path';
import { describeError } from '../../errors.js';
import { mapLimit } from '../../util/pool.js';
import { VERSION_FILES } from '../keys.js';
import type { AttemptInfo, LoadResult, StoredMeta } from '../types.js';
import { type FilesystemSettings, stableName } from './config.js';
import { asyncIo, errnoOf, isErrno, isLocalFilesystem, type ReadIo, syncIo } from './fs-util.js';

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

/** One certificate with its last failed attempt. Throws only for a name that is not a safe file name. */
export async function loadOne(settings: FilesystemSettings, io: ReadIo, name: string): Promise<LoadResult> {
  const [found, attempts] = await Promise.all([
    loadFiles(settings, io, name),
    readAttempts(io, settings.layout.attempts(name)),
  ]);
  return attempts ? { ...found, attempts } : found;
}

/**
 * Many certificates, in the caller's order. On a local disk: plain system calls in slices of
 * LOAD_CONCURRENCY certificates, the event loop running between slices. On a network filesystem:
 * LOAD_CONCURRENCY loads in flight at once (see ReadIo for why).
 */
export async function loadMany(
  settings: FilesystemSettings,
  isLocal: () => Promise<boolean>,
  names: readonly string[],
): Promise<Map<string, LoadResult>> {
  const results = new Map<string, LoadResult>();
  if (names.length === 0) return results;
  if (await isLocal()) {
    for (let start = 0; start < names.length; start += LOAD_CONCURRENCY) {
      for (const name of names.slice(start, start + LOAD_CONCURRENCY))
        results.set(name, await loadOne(settings, syncIo, name));
      await new Promise((done) => setImmediate(done));
    }
    return results;
  }
  const loaded = await mapLimit(names, LOAD_CONCURRENCY, (name) => loadOne(settings, asyncIo, name));
  names.forEach((name, i) => {
    results.set(name, loaded[i] as LoadResult);
  });
  return results;
}

/** Whether the store's directory is on a local filesystem, asked once per store. */
export function localCheck(root: string): () => Promise<boolean> {
  let local: Promise<boolean> | undefined;
  return () => {
    local ??= isLocalFilesystem(root);
    return local;
  };
}

async function loadFiles(settings: FilesystemSettings, io: ReadIo, name: string): Promise<LoadResult> {
  const dir = settings.layout.certDir(name);
  const current = settings.layout.current(name);
  const linked = await plantedLink(io, dir);
  if (linked) return linked;
  let target: string;
  try {
    target = await io.readlink(current);
  } catch (error) {
    if (isErrno(error, 'ENOENT', 'ENOTDIR')) return loadLegacy(settings, io, name);
    if (isErrno(error, 'EINVAL')) return { state: 'unreadable', error: `${current} is not a symlink` };
    return {
      state: 'unreadable',
      error: `cannot read ${current} (${errnoOf(error) ?? describeError(error)})`,
    };
  }
  // One readlink, then every file from that one directory: never a new cert with an old key.
  const versionDir = resolve(dir, target);
  if (!versionDir.startsWith(dir + sep)) {
    return { state: 'unreadable', error: `${current} points outside the certificate directory` };
  }
  const linkedVersion =
    (await plantedLink(io, settings.layout.versionsDir(name))) ?? (await plantedLink(io, versionDir));
  if (linkedVersion) return linkedVersion;
  return readSet(settings, io, versionDir, VERSION_FILES);
}

/**
 * An `unreadable` result when `dir` exists but is not a real directory (a symbolic link someone planted:
 * never read through); undefined when it is one or does not exist.
 */
async function plantedLink(io: ReadIo, dir: string): Promise<LoadResult | undefined> {
  try {
    if (await io.isRealDir(dir)) return undefined;
  } catch {
    return undefined;
  }
  return {
    state: 'unreadable',
    error: `${dir} is not a directory (a symbolic link?); cert-renew never reads through links it did not create`,
  };
}

/** One version directory of a certificate, as `load` would read it were it current (for rollback). */
export function readVersion(
  settings: FilesystemSettings,
  io: ReadIo,
  name: string,
  id: string,
): Promise<LoadResult> {
  return readSet(settings, io, settings.layout.versionDir(name, id), VERSION_FILES);
}

/** Plain files in `<path>/<name>/` from before cert-renew managed it (certbot copies, manual installs). */
export async function loadLegacy(
  settings: FilesystemSettings,
  io: ReadIo,
  name: string,
): Promise<LoadResult> {
  const certPath = settings.layout.stable(name, stableName(settings, 'cert'));
  try {
    if (!(await io.isFile(certPath))) return { state: 'missing' };
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
  return readSet(settings, io, settings.layout.certDir(name), files);
}

async function readSet(
  settings: FilesystemSettings,
  io: ReadIo,
  dir: string,
  files: SetFiles,
): Promise<LoadResult> {
  const read = (file: string) => io.readText(join(dir, file));
  const [cert, chain, fullchain, key, meta] = await Promise.allSettled([
    read(files.cert),
    read(files.chain),
    read(files.fullchain),
    read(files.privkey),
    read(files.meta),
  ]);
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
  if (!CERT_BLOCK.test(certPem))
    return { state: 'unreadable', error: `${files.cert} in ${where} holds no PEM certificate` };
  if (chainPem.trim() !== '' && !CERT_BLOCK.test(chainPem)) {
    return { state: 'unreadable', error: `${files.chain} in ${where} holds no PEM certificate` };
  }
  if (!CERT_BLOCK.test(fullchainPem)) {
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
    if (typeof parsed !== 'object' || parsed === null || typeof parsed.notAfter !== 'string') {
      return { state: 'unreadable', error: `${files.meta} in ${where} is not certificate metadata` };
    }
  } else if (!isErrno(meta.reason, 'ENOENT')) {
    return { state: 'unreadable', error: problem(files.meta, meta) as string };
  }
  return { state: 'present', cert: { certPem, chainPem, keyPem, meta: parsed } };
}

async function readAttempts(io: ReadIo, path: string): Promise<AttemptInfo | undefined> {
  try {
    const value = JSON.parse(await io.readText(path)) as AttemptInfo;
    return typeof value === 'object' && value !== null && typeof value.failureCount === 'number'
      ? value
      : undefined;
  } catch {
    // Usually there is none; an unreadable one only loses the back-off information.
    return undefined;
  }
}
