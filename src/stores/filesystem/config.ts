/**
 * A filesystem store's manifest entry turned into the settings the store works with: file modes, how many
 * versions to keep, the lock lifetime and the stable file names (certbot's by default). Every check here
 * runs when the store is opened, so a bad entry fails before anything is read or written.
 */

import { resolve } from 'node:path';
import { UsageError } from '../../errors.js';
import type { FilesystemStoreConfig } from '../../manifest/types.js';
import type { RuntimeContext } from '../../runtime/context.js';
import { parseDuration } from '../../util/duration.js';
import { FilesystemLayout, stableFileNames, VERSION_FILES } from '../keys.js';
import { MIN_LOCK_TIMEOUT_MS } from '../types.js';
import { resolveId } from './fs-util.js';

const DEFAULT_KEEP = 3;
const DEFAULT_LOCK_TIMEOUT = '15m';

/** The files a reader finds under stable names beside `current`; combined and pkcs12 only when configured. */
export type StableKind = 'cert' | 'chain' | 'fullchain' | 'privkey' | 'combined' | 'pkcs12';

export interface FilesystemSettings {
  /** The store's name in the manifest, for messages. */
  storeName: string;
  config: FilesystemStoreConfig;
  context: RuntimeContext;
  /** Every path in the store (the shared key builder). */
  layout: FilesystemLayout;
  /** Stable file name per kind (`files` in the manifest); cert, chain, fullchain and privkey always. */
  stable: ReadonlyMap<StableKind, string>;
  /** Mode of private keys and files that contain one (combined PEM, PKCS#12). */
  keyMode: number;
  /** Mode of certificates, chains and metadata. */
  certMode: number;
  /** Previous versions kept for rollback. */
  keep: number;
  /** A lock file not refreshed for this long (ms) is stale. */
  lockTimeoutMs: number;
  /** `owner`/`group` as numeric ids, looked up once (on the first write). */
  owners(): Promise<{ uid?: number; gid?: number }>;
}

function parseMode(value: string | undefined, fallback: number, what: string, store: string): number {
  if (value === undefined) return fallback;
  if (!/^0?[0-7]{3}$/.test(value)) {
    throw new UsageError(
      `filesystem store ${store}: ${what} mode "${value}" is not an octal mode like "0600"`,
    );
  }
  return Number.parseInt(value, 8);
}

/** Checks a filesystem store's entry; throws a UsageError naming the store and the bad setting. */
export function filesystemSettings(
  name: string,
  config: FilesystemStoreConfig,
  context: RuntimeContext,
): FilesystemSettings {
  const keyMode = parseMode(config.mode?.key, 0o600, 'key', name);
  const certMode = parseMode(config.mode?.cert, 0o644, 'cert', name);
  const keep = config.keep ?? DEFAULT_KEEP;
  if (!Number.isInteger(keep) || keep < 0) {
    throw new UsageError(`filesystem store ${name}: keep must be a whole number ≥ 0, not ${config.keep}`);
  }
  const lockTimeoutMs = parseDuration(config.lockTimeout ?? DEFAULT_LOCK_TIMEOUT);
  if (lockTimeoutMs === undefined || lockTimeoutMs <= 0) {
    throw new UsageError(
      `filesystem store ${name}: lockTimeout "${config.lockTimeout}" is not a duration like "15m"`,
    );
  }
  if (lockTimeoutMs < MIN_LOCK_TIMEOUT_MS) {
    throw new UsageError(
      `filesystem store ${name}: lockTimeout "${config.lockTimeout}" is shorter than ${MIN_LOCK_TIMEOUT_MS / 1000}s; a lock that short can expire while a busy machine issues`,
    );
  }

  const stable = new Map<StableKind, string>();
  for (const { kind, file, problem } of stableFileNames(config)) {
    if (problem) {
      throw new UsageError(`filesystem store ${name}: file name "${file}" for ${kind} ${problem}`, {
        hint: 'give each stable file its own plain name (cert-renew validate shows every such setting)',
      });
    }
    stable.set(kind as StableKind, file);
  }

  let ids: Promise<{ uid?: number; gid?: number }> | undefined;
  const owners = () => {
    ids ??= (async () => {
      const found: { uid?: number; gid?: number } = {};
      if (config.owner !== undefined) found.uid = await resolveId(config.owner, 'owner', name);
      if (config.group !== undefined) found.gid = await resolveId(config.group, 'group', name);
      return found;
    })();
    // A failed look-up (an unreadable /etc/group) is tried again by the next write.
    ids.catch(() => {
      ids = undefined;
    });
    return ids;
  };

  return {
    storeName: name,
    config,
    context,
    layout: new FilesystemLayout(resolve(context.baseDir, config.path), name),
    stable,
    keyMode,
    certMode,
    keep,
    lockTimeoutMs,
    owners,
  };
}

/** The stable file name of a kind (the version file's own name when not configured). */
export function stableName(
  settings: FilesystemSettings,
  kind: 'cert' | 'chain' | 'fullchain' | 'privkey',
): string {
  return settings.stable.get(kind) ?? VERSION_FILES[kind];
}
