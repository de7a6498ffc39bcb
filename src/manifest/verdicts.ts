/**
 * Verdicts kept for manifests already checked in full: a daily `run`, `plan` or `status` whose manifest has
 * the very text (and `--interval`) a command of the same installed bundle checked before skips the schema
 * validation and the checks (docs/operations.md "Start-up caches"; docs/performance.md, fifteenth round):
 * the checks are a function of the text, the interval and the checking code alone, and they were most of a
 * nothing-due run's own work. `validate` (CI) always checks in full, and so does any command whose manifest
 * changed by one character.
 *
 * The verdicts are kept in one small JSON file beside the bundle, `dist/bundle/cli.cjs.manifests`, which
 * bin/cert-renew names (`useVerdictCache`) when it runs the bundle: a build from `tsc` alone keeps none. The
 * file is tied to the bundle (its digest, size and mtime) and to the shipped schema (its size and mtime) by
 * a key; a verdict is found by the text's length and FNV-1a 64-bit hash (`fnv1a64`), never by the file's
 * name or times. Only valid manifests get one, with their warnings (shown again exactly as the checks gave
 * them). The file is trusted on the code cache's terms: a regular file owned by the bundle's owner, by this
 * user or by root, that group and others may not write; anything else — another owner, a damaged or
 * foreign file, one of another bundle — is no verdict at all and is replaced when the directory allows.
 * Nothing about it is ever an error of the command.
 */
import {
  closeSync,
  constants,
  fstatSync,
  openSync,
  readSync,
  renameSync,
  statSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import type { Diagnostic } from './validate.js';

/** Where the verdicts are and what they must match: set by bin/cert-renew, or by a test. */
export interface VerdictCacheLocation {
  /** The file (`dist/bundle/cli.cjs.manifests`). */
  file: string;
  /** The bundle and schema this process checks with; a file written for another key holds no verdict. */
  key: string;
  /** The uid that owns the bundle: its file is trusted as this user's and root's are. */
  ownerUid: number;
}

/** A warning as kept: a Diagnostic without its file (the path the command was given is put back). */
type KeptWarning = Omit<Diagnostic, 'file'>;

interface Verdict {
  /** The manifest text's length, in UTF-16 code units. */
  length: number;
  /** `fnv1a64` of the text, 16 hex digits. */
  fnv: string;
  /** The run interval the checks were given (ms): the renewal-window warning depends on it. */
  intervalMs: number;
  warnings: KeptWarning[];
}

/** How many manifests' verdicts are kept (the most recent first): hosts run one or a few. */
export const MAX_VERDICTS = 16;
/** A file larger than this is not read (16 verdicts with their warnings are a few kB). */
const MAX_FILE_BYTES = 1024 * 1024;
const FORMAT = 1;

let location: VerdictCacheLocation | undefined;
/** Whether this process checked a manifest in full (no verdict kept for it): see `checkedInFull`. */
let fullCheck = false;
/** The verdicts read from the file (once per process), or [] when there were none to trust. */
let kept: Verdict[] | undefined;

/** Keeps verdicts in `where` from now on (bin/cert-renew, for the bundle); undefined keeps none. */
export function useVerdictCache(where: VerdictCacheLocation | undefined): void {
  location = where;
  kept = undefined;
}

/**
 * Whether this process checked a manifest in full, schema and checks, rather than taking a kept verdict.
 * bin/cert-renew asks before it writes the code cache: the code of a full check, once in the cache, would be
 * deserialised by every later run that never runs it (docs/performance.md, fifteenth round).
 */
export function checkedInFull(): boolean {
  return fullCheck;
}

/**
 * The warnings a full check of `text` with `intervalMs` gave before (each with `file` set to `file`), or
 * undefined when no verdict is kept for that text: then the caller checks in full.
 */
export function keptVerdict(text: string, intervalMs: number, file: string): Diagnostic[] | undefined {
  if (location === undefined) return undefined;
  kept ??= readVerdicts(location);
  const candidates = kept.filter((v) => v.length === text.length && v.intervalMs === intervalMs);
  if (candidates.length === 0) return undefined;
  const fnv = fnv1a64(text);
  const found = candidates.find((v) => v.fnv === fnv);
  return found?.warnings.map((w) => ({ ...w, file }));
}

/**
 * Records that `text`, checked in full with `intervalMs`, is valid with these `warnings`. Writes the file
 * atomically (a temporary file renamed over it); does nothing where it cannot (another user's directory, a
 * read-only file system) and never throws.
 */
export function keepVerdict(text: string, intervalMs: number, warnings: readonly Diagnostic[]): void {
  fullCheck = true;
  if (location === undefined) return;
  kept ??= readVerdicts(location);
  const verdict: Verdict = {
    length: text.length,
    fnv: fnv1a64(text),
    intervalMs,
    warnings: warnings.map(({ file: _file, ...rest }) => rest),
  };
  const same = (v: Verdict) =>
    v.length === verdict.length && v.fnv === verdict.fnv && v.intervalMs === verdict.intervalMs;
  kept = [verdict, ...kept.filter((v) => !same(v))].slice(0, MAX_VERDICTS);
  writeVerdicts(location, kept);
}

/**
 * FNV-1a, 64 bits, over the string's UTF-16 code units, as 16 hex digits: the 64-bit state is kept as two
 * 32-bit halves, and multiplying by FNV's prime (2^40 + 0x1b3) is done on them (exact in doubles). Not a
 * defence against anyone (whoever writes the manifest runs its hooks anyway); two different manifests of the
 * same length share a hash with a chance of about 2^-64.
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

function readVerdicts(where: VerdictCacheLocation): Verdict[] {
  let fd: number | undefined;
  try {
    // Non-blocking: a FIFO put there is opened and refused by the fstat, not waited on.
    fd = openSync(where.file, constants.O_RDONLY | constants.O_NONBLOCK);
    const info = fstatSync(fd);
    const uid = process.getuid?.();
    if (
      !info.isFile() ||
      ![where.ownerUid, uid, 0].includes(info.uid) ||
      (info.mode & 0o022) !== 0 ||
      info.size > MAX_FILE_BYTES
    ) {
      return [];
    }
    const buffer = Buffer.allocUnsafe(info.size);
    let length = 0;
    for (;;) {
      const n = length < info.size ? readSync(fd, buffer, length, info.size - length, length) : 0;
      if (n === 0) break;
      length += n;
    }
    return parseVerdicts(buffer.toString('utf8', 0, length), where.key);
  } catch {
    return []; // none yet, not readable by this user: check in full
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** The verdicts of a file's text written for `key`; [] for anything else (damaged, another bundle's). */
export function parseVerdicts(text: string, key: string): Verdict[] {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    return [];
  }
  if (!isRecord(data) || data.format !== FORMAT || data.key !== key || !Array.isArray(data.verdicts))
    return [];
  const verdicts: Verdict[] = [];
  for (const v of data.verdicts.slice(0, MAX_VERDICTS)) {
    if (
      !isRecord(v) ||
      !Number.isSafeInteger(v.length) ||
      typeof v.fnv !== 'string' ||
      !/^[0-9a-f]{16}$/.test(v.fnv) ||
      !Number.isSafeInteger(v.intervalMs) ||
      !Array.isArray(v.warnings) ||
      !v.warnings.every(isWarning)
    ) {
      return []; // one entry not as written: the file is not to be trusted at all
    }
    verdicts.push({
      length: v.length as number,
      fnv: v.fnv,
      intervalMs: v.intervalMs as number,
      warnings: v.warnings as KeptWarning[],
    });
  }
  return verdicts;
}

function isWarning(value: unknown): boolean {
  return (
    isRecord(value) &&
    value.severity === 'warning' &&
    typeof value.pointer === 'string' &&
    typeof value.message === 'string' &&
    (value.line === undefined || Number.isSafeInteger(value.line)) &&
    (value.column === undefined || Number.isSafeInteger(value.column)) &&
    Object.keys(value).every((k) => ['severity', 'pointer', 'message', 'line', 'column'].includes(k))
  );
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function writeVerdicts(where: VerdictCacheLocation, verdicts: readonly Verdict[]): void {
  // Nothing can be renamed over a directory: no temporary file for nothing.
  if (statSync(where.file, { throwIfNoEntry: false })?.isDirectory()) return;
  const temp = `${where.file}.${process.pid}-${Math.random().toString(36).slice(2)}.tmp`;
  let fd: number | undefined;
  try {
    // Readable by its owner alone: the warnings echo the manifest's names and values.
    fd = openSync(temp, 'wx', 0o600);
  } catch {
    return;
  }
  try {
    writeFileSync(fd, `${JSON.stringify({ format: FORMAT, key: where.key, verdicts })}\n`);
    closeSync(fd);
    fd = undefined;
    renameSync(temp, where.file);
  } catch {
    if (fd !== undefined) closeSync(fd);
    try {
      unlinkSync(temp);
    } catch {}
  }
}
