/**
 * Store settings a schema cannot judge: Redis URLs that parse but cannot work or carry a password in clear,
 * lock lifetimes too short to outlive an issuance on a busy machine, and file modes that make private keys
 * readable by everyone.
 */
import { stableFileNames } from '../../stores/keys.js';
import { MIN_LOCK_TIMEOUT_MS } from '../../stores/types.js';
import { parseDuration } from '../../util/duration.js';
import { escapePointerToken as esc } from '../positions.js';
import { show } from '../show.js';
import { error, type Finding, warning } from './finding.js';
import { isObject, type ManifestView, objectAt, stringAt } from './view.js';

/**
 * Why a Redis URL cannot work, or undefined when it can: `redis://` or `rediss://`, no spaces, a host, a
 * port in 1–65535, at most a database number as the path, nothing after it. The message never repeats the
 * URL's userinfo. Used by `validate` and by the Redis store when it connects (the same rules in both).
 */
export function redisUrlProblem(text: string): string | undefined {
  if (text.trim() !== text) return 'has spaces around it';
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return 'is not a valid URL (a port above 65535, a space or a stray character?)';
  }
  if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') return 'must start with redis:// or rediss://';
  if (!text.slice(url.protocol.length).startsWith('//')) return `must start with ${url.protocol}//`;
  if (url.hostname === '')
    return 'names no host; write redis://HOST:PORT/DB, such as redis://127.0.0.1:6379/0';
  if (url.port !== '' && (Number(url.port) < 1 || Number(url.port) > 65535))
    return `port ${url.port} is out of range (1-65535)`;
  const db = url.pathname.replace(/^\//, '');
  if (db !== '' && !/^[0-9]{1,5}$/.test(db)) {
    return `has the path ${show(url.pathname)}; the path can only be a database number such as /0`;
  }
  if (url.search !== '' || url.hash !== '') return 'has a query or fragment, which Redis URLs do not use';
  return undefined;
}

/** Each Redis store's `url`. */
export function redisUrls(view: ManifestView): Finding[] {
  const findings: Finding[] = [];
  for (const [name, store] of Object.entries(view.stores)) {
    if (!isObject(store) || store.type !== 'redis') continue;
    const url = stringAt(store, 'url');
    if (url === undefined) continue;
    const problem = redisUrlProblem(url);
    if (problem) findings.push(error(`/stores/${esc(name)}/url`, `${show(url)} ${problem}`));
    else if (new URL(url).password !== '') {
      // The message never repeats the password (nor the user name, which often identifies it).
      findings.push(
        warning(
          `/stores/${esc(name)}/url`,
          `holds a password in clear (${new URL(url).protocol}//***@…): a manifest is committed and copied around; give it as "password": {"env": "NAME"} or {"file": "/path"} and leave it out of the URL`,
        ),
      );
    }
  }
  return findings;
}

/**
 * Why a Redis `keyPrefix` cannot work, or undefined when it can: it must hold no `{` or `}`. A Redis
 * Cluster hashes only the first `{…}` of a key, so a brace in the prefix would make `{name}` no longer the
 * hash tag and split one certificate's keys across slots (its MULTI/EXEC save then fails). Refused for
 * every kind of Redis store: a store can be moved to a Cluster later. Used by `validate` and by the store.
 */
export function redisKeyPrefixProblem(prefix: string): string | undefined {
  if (!/[{}]/.test(prefix)) return undefined;
  return 'contains "{" or "}": Redis Cluster hashes only the first {…} of a key, so a brace in the prefix breaks the {name} hash tag that keeps one certificate\'s keys in one slot (refused for every Redis store: it may be moved to a Cluster later); use letters, digits and ":", "-", "_" or "."';
}

/** Each Redis store's `keyPrefix`: no braces (redisKeyPrefixProblem). */
export function redisKeyPrefixes(view: ManifestView): Finding[] {
  const findings: Finding[] = [];
  for (const [name, store] of Object.entries(view.stores)) {
    if (!isObject(store) || store.type !== 'redis') continue;
    const prefix = stringAt(store, 'keyPrefix');
    const problem = prefix === undefined ? undefined : redisKeyPrefixProblem(prefix);
    if (problem) findings.push(error(`/stores/${esc(name)}/keyPrefix`, `${show(prefix)} ${problem}`));
  }
  return findings;
}

/**
 * Each filesystem store's stable file names (`files`, `outputs`): plain, not the store's own names, one per
 * file — the rule the store applies when it opens (stores/keys.ts `stableFileNames`), so a manifest that
 * `validate` accepts is not refused by every run.
 */
export function stableFiles(view: ManifestView): Finding[] {
  const findings: Finding[] = [];
  for (const [name, store] of Object.entries(view.stores)) {
    if (!isObject(store) || store.type !== 'filesystem') continue;
    const files = objectAt(store, 'files');
    const outputs = objectAt(store, 'outputs');
    const pkcs12 = objectAt(outputs, 'pkcs12');
    const combined = outputs?.combined;
    // As the store reads them; a setting of the wrong type is the schema's to report.
    const config = {
      files: {
        cert: stringAt(files, 'cert'),
        chain: stringAt(files, 'chain'),
        fullchain: stringAt(files, 'fullchain'),
        privkey: stringAt(files, 'privkey'),
      },
      outputs: {
        combined: typeof combined === 'string' || typeof combined === 'boolean' ? combined : undefined,
        pkcs12: pkcs12 && { file: stringAt(pkcs12, 'file') },
      },
    };
    for (const { kind, file, setting, problem } of stableFileNames(config)) {
      if (problem) {
        findings.push(
          error(
            `/stores/${esc(name)}/${setting}`,
            `${show(file)} ${problem}: the store refuses it at every run (the ${kind} file needs its own plain name)`,
          ),
        );
      }
    }
  }
  return findings;
}

/** `lockTimeout` of every store: at least MIN_LOCK_TIMEOUT_MS. */
export function lockTimeouts(view: ManifestView): Finding[] {
  const findings: Finding[] = [];
  for (const [name, store] of Object.entries(view.stores)) {
    const text = stringAt(isObject(store) ? store : undefined, 'lockTimeout');
    const ms = text === undefined ? undefined : parseDuration(text);
    if (ms !== undefined && ms < MIN_LOCK_TIMEOUT_MS) {
      findings.push(
        error(
          `/stores/${esc(name)}/lockTimeout`,
          `${show(text)} is shorter than ${MIN_LOCK_TIMEOUT_MS / 1000}s: a lock that short can expire while a busy machine issues a certificate (the defaults are 15m for a filesystem store, 2m for Redis)`,
        ),
      );
    }
  }
  return findings;
}

/** File modes of filesystem stores: a private key readable (or a certificate writable) by every user. */
export function fileModes(view: ManifestView): Finding[] {
  const findings: Finding[] = [];
  for (const [name, store] of Object.entries(view.stores)) {
    if (!isObject(store) || store.type !== 'filesystem') continue;
    const modes = objectAt(store, 'mode');
    const key = stringAt(modes, 'key');
    const cert = stringAt(modes, 'cert');
    const octal = (text: string | undefined) =>
      text !== undefined && /^0?[0-7]{3}$/.test(text) ? Number.parseInt(text, 8) : undefined;
    const keyMode = octal(key);
    if (keyMode !== undefined && (keyMode & 0o007) !== 0) {
      findings.push(
        warning(
          `/stores/${esc(name)}/mode/key`,
          `${show(key)} lets every user on the host ${keyMode & 0o002 ? 'change' : 'read'} the private keys; use '0600', or '0640' with the store's 'group'`,
        ),
      );
    }
    const certMode = octal(cert);
    if (certMode !== undefined && (certMode & 0o002) !== 0) {
      findings.push(
        warning(
          `/stores/${esc(name)}/mode/cert`,
          `${show(cert)} lets every user on the host replace the certificates; use '0644'`,
        ),
      );
    }
  }
  return findings;
}
