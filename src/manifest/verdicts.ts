/**
 * Verdicts kept for manifests already checked in full: a `run`, `plan` or `status` (any command but
 * `validate`) whose manifest has the very text, and `--interval`, a command of the same installed bundle
 * checked before skips the schema validation and the checks (docs/operations.md "Scheduling";
 * docs/performance.md, fifteenth round): the checks are a function of the text, the interval and the
 * checking code alone, and they were most of a nothing-due run's own work. `validate` (CI) always checks in
 * full, and so does any command whose manifest changed by one character.
 *
 * The verdicts are kept in files beside the bundle, `dist/bundle/cli.cjs.verdict.<hash>-<interval>.json`,
 * which bin/cert-renew names (`useVerdictCache`) when it runs the bundle: a build from `tsc` alone keeps none.
 * One file a verdict, named by the text's 64-bit FNV-1a hash (`fnv1a64`) and the interval, so a run reads
 * only its own; the file holds the manifest's whole text and is taken only for that very text, compared
 * character for character (a hash can be made to collide), and for the key it was written with: the bundle
 * and its checks (their digest, sizes and mtimes), the shipped schema (size and mtime) and node's version.
 * Only valid manifests get one, with their warnings (shown again exactly as the checks gave them). At most
 * MAX_VERDICTS are kept, the least recently written removed first. Plain files in the bundle's directory,
 * not a directory of their own: one that root made in a user's install could not be emptied by that user,
 * nor the package removed or upgraded.
 *
 * A file is trusted on the code cache's terms: a regular file (opened without following a link, never
 * waited on) owned by the bundle's owner, by this user or by root, that group and others may not write;
 * anything else is no verdict at all, and is replaced when the directory allows. Each is written readable by
 * its owner alone (the manifest's text is in it). Nothing about them is ever an error of the command.
 */
import {
  closeSync,
  constants,
  fstatSync,
  lstatSync,
  openSync,
  readdirSync,
  readSync,
  renameSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { processExists } from '../runtime/identity.js';
import { isObject } from './checks/view.js';
import type { Diagnostic } from './validate.js';

/** Where the verdicts are and what they must match: set by bin/cert-renew, or by a test. */
export interface VerdictCacheLocation {
  /** The path every verdict file's starts with (`…/dist/bundle/cli.cjs.verdict.`). */
  prefix: string;
  /** The bundle, schema and node this process checks with; a verdict written with another key is none. */
  key: string;
  /** The uid that owns the bundle: its verdicts are trusted as this user's and root's are. */
  ownerUid: number;
}

/** A warning as kept: a Diagnostic without its file (the path the command was given is put back). */
type KeptWarning = Omit<Diagnostic, 'file'>;

/** One verdict file's content. */
interface Verdict {
  format: number;
  key: string;
  /** The run interval the checks were given (ms): the renewal-window warning depends on it. */
  intervalMs: number;
  warnings: KeptWarning[];
  /** The manifest's text, as read (a byte-order mark included). */
  text: string;
}

/** How many verdicts are kept (the least recently written go first): hosts run one manifest or a few. */
export const MAX_VERDICTS = 16;
/** A verdict file larger than this is not read (a manifest is at most 5 MB; JSON escapes add to it). */
const MAX_FILE_BYTES = 16 * 1024 * 1024;
const FORMAT = 1;
const SUFFIX = '.json';

let location: VerdictCacheLocation | undefined;

/** Keeps verdicts in `where` from now on (bin/cert-renew, for the bundle); undefined keeps none. */
export function useVerdictCache(where: VerdictCacheLocation | undefined): void {
  location = where;
}

/** The file of the verdict for `text` with `intervalMs`. */
function fileFor(prefix: string, text: string, intervalMs: number): string {
  return `${prefix}${fnv1a64(text)}-${intervalMs}${SUFFIX}`;
}

/**
 * The warnings a full check of `text` with `intervalMs` gave before (each with `file` set to `file`), or
 * undefined when no verdict is kept for that very text: then the caller checks in full.
 */
export function keptVerdict(text: string, intervalMs: number, file: string): Diagnostic[] | undefined {
  if (location === undefined) return undefined;
  const verdict = readVerdict(location, fileFor(location.prefix, text, intervalMs));
  if (verdict === undefined || verdict.intervalMs !== intervalMs || verdict.text !== text) return undefined;
  return verdict.warnings.map((w) => ({ ...w, file }));
}

/**
 * Records that `text`, checked in full with `intervalMs`, is valid with these `warnings`. Writes its file
 * atomically (a temporary file renamed over it), then removes the least recently written beyond
 * MAX_VERDICTS and the temporary files of writers that no longer exist (killed before their rename). Does nothing where it cannot (another user's
 * directory, a read-only file system); never throws.
 */
export function keepVerdict(text: string, intervalMs: number, warnings: readonly Diagnostic[]): void {
  if (location === undefined) return;
  const { prefix, key } = location;
  const verdict: Verdict = {
    format: FORMAT,
    key,
    intervalMs,
    warnings: warnings.map(({ file: _file, ...rest }) => rest),
    text,
  };
  const target = fileFor(prefix, text, intervalMs);
  const temp = `${target}.${process.pid}-${Math.random().toString(36).slice(2)}.tmp`;
  let fd: number | undefined;
  try {
    fd = openSync(temp, 'wx', 0o600);
    writeFileSync(fd, JSON.stringify(verdict));
    closeSync(fd);
    fd = undefined;
    renameSync(temp, target);
  } catch {
    if (fd !== undefined) closeSync(fd);
    try {
      unlinkSync(temp);
    } catch {}
    return;
  }
  tidy(prefix, target);
}

/**
 * FNV-1a, 64 bits, over the string's UTF-16 code units, as 16 hex digits: the 64-bit state is kept as two
 * 32-bit halves, and multiplying by FNV's prime (2^40 + 0x1b3) is done on them (exact in doubles). It only
 * names a verdict's file; the text itself decides.
 */
export function fnv1a64(text: string): string {
  let hi = 0xcbf29ce4;
  let lo = 0x84222325;
  for (let i = 0; i < text.length; i++) {
    lo = (lo ^ text.charCodeAt(i)) >>> 0;
    const low = lo * 0x1b3; // < 2^41
    hi = (Math.imul(hi, 0x1b3) + Math.floor(low / 0x100000000) + (lo << 8)) >>> 0;
    lo = low >>> 0;
  }
  return hi.toString(16).padStart(8, '0') + lo.toString(16).padStart(8, '0');
}

/** Whether a file's owner and mode may be trusted (the code cache's terms). */
function trustedOwnerAndMode(where: VerdictCacheLocation, info: { uid: number; mode: number }): boolean {
  return [where.ownerUid, process.getuid?.(), 0].includes(info.uid) && (info.mode & 0o022) === 0;
}

/** The verdict in `path` when it is one to trust, as written; undefined for anything else. */
function readVerdict(where: VerdictCacheLocation, path: string): Verdict | undefined {
  let fd: number | undefined;
  try {
    // Never through a link; non-blocking, so a FIFO is opened and refused by the fstat, not waited on.
    fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
    const info = fstatSync(fd);
    if (!info.isFile() || !trustedOwnerAndMode(where, info) || info.size > MAX_FILE_BYTES) return undefined;
    const buffer = Buffer.allocUnsafe(info.size);
    let length = 0;
    for (;;) {
      const n = length < info.size ? readSync(fd, buffer, length, info.size - length, length) : 0;
      if (n === 0) break;
      length += n;
    }
    return parseVerdict(buffer.toString('utf8', 0, length), where.key);
  } catch {
    return undefined; // none, not readable by this user: check in full
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** A verdict file's text when it is a verdict written with `key`; undefined for anything else. */
export function parseVerdict(text: string, key: string): Verdict | undefined {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (
    !isObject(data) ||
    data.format !== FORMAT ||
    data.key !== key ||
    typeof data.text !== 'string' ||
    !Number.isSafeInteger(data.intervalMs) ||
    !Array.isArray(data.warnings) ||
    !data.warnings.every(isWarning)
  ) {
    return undefined;
  }
  return data as unknown as Verdict;
}

function isWarning(value: unknown): boolean {
  return (
    isObject(value) &&
    value.severity === 'warning' &&
    typeof value.pointer === 'string' &&
    typeof value.message === 'string' &&
    (value.line === undefined || Number.isSafeInteger(value.line)) &&
    (value.column === undefined || Number.isSafeInteger(value.column)) &&
    Object.keys(value).every((k) => ['severity', 'pointer', 'message', 'line', 'column'].includes(k))
  );
}

/**
 * Removes the verdicts beyond MAX_VERDICTS (the least recently written; never `keep`, just written) and the
 * temporary files (`<file>.<pid>-<random>.tmp`) of processes that no longer exist. Only names this module
 * writes are touched.
 */
function tidy(prefix: string, keep: string): void {
  try {
    const dir = dirname(prefix);
    const start = basename(prefix);
    const verdicts: { path: string; mtimeMs: number }[] = [];
    for (const name of readdirSync(dir)) {
      if (!name.startsWith(start)) continue;
      const rest = name.slice(start.length);
      const path = join(dir, name);
      const info = lstatSync(path, { throwIfNoEntry: false });
      if (info === undefined || !info.isFile()) continue;
      const writer = /^[0-9a-f]{16}-\d+\.json\.(\d+)-[0-9a-z]*\.tmp$/.exec(rest)?.[1];
      if (writer !== undefined) {
        if (Number(writer) !== process.pid && !processExists(Number(writer))) unlinkSync(path);
      } else if (/^[0-9a-f]{16}-\d+\.json$/.test(rest) && path !== keep) {
        verdicts.push({ path, mtimeMs: info.mtimeMs });
      }
    }
    verdicts.sort((a, b) => b.mtimeMs - a.mtimeMs);
    for (const old of verdicts.slice(MAX_VERDICTS - 1)) unlinkSync(old.path);
  } catch {
    // another run tidying at the same time, or a directory that changed: the next write tidies
  }
}
