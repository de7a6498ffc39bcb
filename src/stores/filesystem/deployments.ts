/**
 * Deployment state in a filesystem store: `<path>/.cert-renew/deployments/<name>/<host>.json`, one small
 * file per host and certificate, so each host writes only its own file (no race between hosts, also on
 * NFS). Written to a temporary name and renamed. Not fsynced: the entry is advisory (losing the last one
 * in a power cut means the hooks run once more), and thousands of certificates deploy in one run.
 */
import { readdir, readFile, rename, rmdir, unlink, writeFile } from 'node:fs/promises';
import { ErrorCode } from '../../errors.js';
import { mkdirp } from '../../util/mkdirp.js';
import { mapLimit } from '../../util/pool.js';
import { decodeHostDeployment, encodeHostDeployment } from '../deployment-record.js';
import type { FilesystemLayout } from '../keys.js';
import { type Deployments, HOST_ID_PATTERN, type HostDeployment } from '../types.js';
import { fsError, isErrno, randomId, unlinkQuietly } from './fs-util.js';

const READ_CONCURRENCY = 32;
const SUFFIX = '.json';

/**
 * Every host's entry for each name; a missing directory is no entry. The deployments directory is listed
 * once and only the names found there are read: most certificates of a large store have no entry yet, and
 * a failed readdir per certificate (10,000 in a large plan) costs far more than one listing. Rejects with
 * STORE_UNAVAILABLE.
 */
export async function loadDeployments(
  layout: FilesystemLayout,
  storeName: string,
  names: readonly string[],
): Promise<Map<string, Deployments>> {
  const result = new Map<string, Deployments>();
  for (const name of names) result.set(name, {});
  const root = layout.deploymentsRoot;
  let present: Set<string>;
  try {
    present = new Set(await readdir(root));
  } catch (error) {
    if (isErrno(error, 'ENOENT', 'ENOTDIR')) return result;
    throw fsError(ErrorCode.storeUnavailable, `store ${storeName}: cannot read`, root, error);
  }
  const wanted = [...result.keys()].filter((name) => present.has(name));
  await mapLimit(wanted, READ_CONCURRENCY, async (name) => {
    const dir = layout.deploymentsDir(name);
    let files: string[];
    try {
      files = await readdir(dir);
    } catch (error) {
      if (isErrno(error, 'ENOENT', 'ENOTDIR')) return;
      throw fsError(ErrorCode.storeUnavailable, `store ${storeName}: cannot read`, dir, error);
    }
    const hosts: Deployments = {};
    for (const file of files.sort()) {
      if (!file.endsWith(SUFFIX) || file.startsWith('.')) continue;
      let text: string;
      try {
        text = await readFile(layout.deployment(name, file.slice(0, -SUFFIX.length)), 'utf8');
      } catch {
        continue;
      }
      // An entry that is not ours to read still names a host: shown as one that deployed nothing known
      // (behind), and `prune --host` can remove it.
      const host = file.slice(0, -SUFFIX.length);
      if (HOST_ID_PATTERN.test(host)) hosts[host] = decodeHostDeployment(text) ?? {};
    }
    result.set(name, hosts);
  });
  return result;
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
  return true;
}
