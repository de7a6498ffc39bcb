/**
 * Deployment state in a filesystem store: `<path>/.cert-renew/deployments/<name>/<host>.json`, one small
 * file per host and certificate, so each host writes only its own file (no race between hosts, also on
 * NFS). Written to a temporary name and renamed. Not fsynced: the entry is advisory (losing the last one
 * in a power cut means the hooks run once more), and thousands of certificates deploy in one run.
 */
import { rename, rmdir, unlink, writeFile } from 'node:fs/promises';
import { ErrorCode } from '../../errors.js';
import { type KeptListing, listedSinceChange, readdirNames } from '../../util/fs-async.js';
import { mkdirp } from '../../util/mkdirp.js';
import { decodeHostDeployment, encodeHostDeployment } from '../deployment-record.js';
import type { FilesystemLayout } from '../keys.js';
import { type Deployments, HOST_ID_PATTERN, type HostDeployment } from '../types.js';
import { fsError, isErrno, randomId, unlinkQuietly } from './fs-util.js';
import { readEach } from './read.js';

const SUFFIX = '.json';

/**
 * Every host's entry for each name; a missing directory is no entry. The deployments directory is listed
 * once and only the names found there are read: most certificates of a large store have no entry yet, and
 * a failed readdir per certificate (10,000 in a large plan) costs far more than one listing. The entries
 * are read as certificates are (`readEach`: plain system calls in slices on a local disk, bounded
 * concurrency on NFS) and never through a link or from a FIFO (`ReadIo.readText`); an entry that cannot be
 * read that way still names its host, with nothing known deployed. Rejects with STORE_UNAVAILABLE.
 */
export async function loadDeployments(
  layout: FilesystemLayout,
  storeName: string,
  isLocal: () => Promise<boolean>,
  names: readonly string[],
): Promise<Map<string, Deployments>> {
  const result = new Map<string, Deployments>();
  for (const name of names) result.set(name, {});
  const root = layout.deploymentsRoot;
  let present: ReadonlySet<string>;
  try {
    present = await deployedNames(layout);
  } catch (error) {
    if (isErrno(error, 'ENOENT', 'ENOTDIR')) return result;
    throw fsError(ErrorCode.storeUnavailable, `store ${storeName}: cannot read`, root, error);
  }
  const wanted = [...result.keys()].filter((name) => present.has(name));
  const read = await readEach(isLocal, wanted, async (io, name): Promise<Deployments | undefined> => {
    const dir = layout.deploymentsDir(name);
    let files: string[];
    try {
      files = await io.readdir(dir);
    } catch (error) {
      if (isErrno(error, 'ENOENT', 'ENOTDIR')) return undefined;
      throw fsError(ErrorCode.storeUnavailable, `store ${storeName}: cannot read`, dir, error);
    }
    const hosts: Deployments = {};
    for (const file of files.sort()) {
      if (!file.endsWith(SUFFIX) || file.startsWith('.')) continue;
      const host = file.slice(0, -SUFFIX.length);
      if (!HOST_ID_PATTERN.test(host)) continue;
      let text: string | undefined;
      try {
        text = await io.readText(layout.deployment(name, host));
      } catch (error) {
        if (isErrno(error, 'ENOENT')) continue; // removed since the listing
        // A link, a FIFO, a directory, a file too big or unreadable: never read, but still this host's.
      }
      // An entry that is not ours to read, or not JSON, still names a host: shown as one that deployed
      // nothing known (behind), and `prune --host` can remove it.
      hosts[host] = (text === undefined ? undefined : decodeHostDeployment(text)) ?? {};
    }
    return hosts;
  });
  for (const [name, hosts] of read) if (hosts) result.set(name, hosts);
  return result;
}

/**
 * The names in the deployments directory, listed again only when the directory changed since the last
 * listing in this process (`listedSinceChange`): a plan reads deployments batch after batch. This process's
 * own writes drop the listing (`forgetListing`); another host's entry made within the same timestamp tick
 * of a coarse filesystem is seen at the next change or the next run. A name listed but since removed
 * (prune) reads as no entry (ENOENT).
 */
function deployedNames(layout: FilesystemLayout): Promise<ReadonlySet<string>> {
  return listedSinceChange(
    listings,
    layout,
    layout.deploymentsRoot,
    async (dir) => new Set(await readdirNames(dir)),
  );
}

/** The last listing of each store's deployments directory (`deployedNames`). */
const listings = new WeakMap<FilesystemLayout, KeptListing<ReadonlySet<string>>>();

/** Drops the listing of the store's deployments directory after this process changed it. */
function forgetListing(layout: FilesystemLayout): void {
  listings.delete(layout);
}

/** Replaces this host's file atomically (temp + rename). Rejects with STORE_WRITE_FAILED. */
export async function recordDeployment(
  layout: FilesystemLayout,
  storeName: string,
  name: string,
  host: string,
  deployment: HostDeployment,
): Promise<void> {
  const path = layout.deployment(name, host);
  const temp = `${layout.deploymentsDir(name)}/.tmp-${randomId()}`;
  // A new directory for `name` changes the listing (whether or not this write succeeds).
  forgetListing(layout);
  try {
    await mkdirp(layout.deploymentsDir(name), 0o755);
    await writeFile(temp, `${encodeHostDeployment(deployment)}\n`, { mode: 0o644 });
    await rename(temp, path);
  } catch (error) {
    await unlinkQuietly(temp);
    throw fsError(ErrorCode.storeWrite, `store ${storeName}: cannot record the deployment`, path, error);
  }
}

/** Removes one host's file (and the certificate's directory when it is then empty). Rejects with STORE_WRITE_FAILED. */
export async function forgetDeployment(
  layout: FilesystemLayout,
  storeName: string,
  name: string,
  host: string,
): Promise<boolean> {
  const path = layout.deployment(name, host);
  try {
    await unlink(path);
  } catch (error) {
    if (isErrno(error, 'ENOENT', 'ENOTDIR')) return false;
    throw fsError(
      ErrorCode.storeWrite,
      `store ${storeName}: cannot remove the deployment record`,
      path,
      error,
    );
  }
  await rmdir(layout.deploymentsDir(name)).catch(() => {});
  forgetListing(layout);
  return true;
}
