/**
 * Reading a manifest from disk for the commands that act on it (`plan`, `run`, `status`, `show`): read,
 * check (exactly as `validate` does, or take the verdict kept for the same text: verdicts.ts), resolve. An
 * invalid manifest stops the command before anything is attempted (exit 2), naming the first problem with
 * its line and column.
 */
import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { CertRenewError, describeError, ErrorCode, ExitCode } from '../errors.js';
import { positionAt } from './positions.js';
import { resolveCertificates } from './resolve.js';
import { MAX_MANIFEST_BYTES, withoutBom } from './text.js';
import type { Manifest, ResolvedCertificate } from './types.js';
import type { CheckOptions, Diagnostic } from './validate.js';
import { keepVerdict, keptVerdict } from './verdicts.js';

/** "FILE:LINE:COL: POINTER: message" (pointer without its leading '/'; the document itself is '/'). */
export function formatLocated(d: Diagnostic): string {
  const where = d.line === undefined ? d.file : `${d.file}:${d.line}:${d.column ?? 1}`;
  return `${where}: ${d.pointer === '' ? '/' : d.pointer.slice(1)}: ${d.message}`;
}

export class ManifestError extends CertRenewError {
  readonly diagnostics: Diagnostic[];

  constructor(file: string, diagnostics: Diagnostic[]) {
    const errors = diagnostics.filter((d) => d.severity === 'error');
    const first = errors[0];
    const more = errors.length - 1;
    const message = first
      ? `${formatLocated(first)}${more > 0 ? ` (and ${more} more problem${more === 1 ? '' : 's'}; run cert-renew validate ${file})` : ''}`
      : `${file}: the manifest is invalid`;
    super(ErrorCode.manifestInvalid, message, { exitCode: ExitCode.usage });
    this.name = 'ManifestError';
    this.diagnostics = diagnostics;
  }
}

export interface LoadedManifest {
  /** Absolute path of the manifest. */
  path: string;
  /** Its directory: relative paths in the manifest are resolved against it. */
  baseDir: string;
  manifest: Manifest;
  certificates: ResolvedCertificate[];
  warnings: Diagnostic[];
}

export type ReadResult = { ok: true; text: string } | { ok: false; reason: string };

const reasons: Record<string, string> = {
  ENOENT: 'no such file',
  EACCES: 'permission denied',
  EPERM: 'permission denied',
  EISDIR: 'it is a directory',
  ELOOP: 'too many symbolic links',
  ENOTDIR: 'a part of the path is not a directory',
};

/**
 * Reads a manifest's text: refuses what is not a regular file (a directory, a FIFO that would block for
 * ever, `/dev/zero` that never ends), files over 5 MB (reading at most that much, whatever the file claims
 * its size is) and text that is not UTF-8, with a reason in plain words. Never throws.
 *
 * The calls are synchronous: a manifest is read in one or two read(2)s, and a round trip through the thread
 * pool per call cost more than the reading. (A file on a hung network mount hangs the command either way.)
 */
export async function readManifestText(path: string): Promise<ReadResult> {
  let fd: number | undefined;
  try {
    // Non-blocking, so a FIFO without a writer is opened (and refused below) instead of waiting for ever.
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
    const info = fstatSync(fd);
    if (info.isDirectory()) return { ok: false, reason: 'it is a directory, not a manifest file' };
    if (!info.isFile()) {
      const kind = info.isFIFO()
        ? 'a named pipe'
        : info.isCharacterDevice() || info.isBlockDevice()
          ? 'a device'
          : info.isSocket()
            ? 'a socket'
            : 'not a regular file';
      return { ok: false, reason: `it is ${kind}, not a manifest file; give the path of a regular file` };
    }
    const limitMb = MAX_MANIFEST_BYTES / 1024 / 1024;
    const tooBig = (bytes: number) => ({
      ok: false as const,
      reason: `the file is ${bytes > MAX_MANIFEST_BYTES && bytes === info.size ? (bytes / 1024 / 1024).toFixed(1) : `more than ${limitMb}`} MB; a manifest may be at most ${limitMb} MB`,
    });
    if (info.size > MAX_MANIFEST_BYTES) return tooBig(info.size);
    // At most the limit (and one byte more, to notice a file that grew), never "the whole file".
    const buffer = Buffer.allocUnsafe(MAX_MANIFEST_BYTES + 1);
    let length = 0;
    for (;;) {
      const bytesRead = readSync(fd, buffer, length, buffer.length - length, length);
      if (bytesRead === 0) break;
      length += bytesRead;
      if (length > MAX_MANIFEST_BYTES) return tooBig(length);
    }
    const bytes = buffer.subarray(0, length);
    try {
      return { ok: true, text: new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes) };
    } catch {
      const lossy = new TextDecoder('utf-8', { ignoreBOM: true }).decode(bytes);
      const { line, column } = positionAt(lossy, Math.max(0, lossy.indexOf('\uFFFD')));
      return {
        ok: false,
        reason: `the file is not UTF-8 text (first bad byte at line ${line}, column ${column})`,
      };
    }
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'error';
    if (code === 'EISDIR') return { ok: false, reason: 'it is a directory, not a manifest file' };
    return { ok: false, reason: `${reasons[code] ?? 'cannot be read'} (${code})` };
  } finally {
    if (fd !== undefined) {
      try {
        closeSync(fd);
      } catch {}
    }
  }
}

/**
 * The manifest's checks (validate.ts), loaded when a manifest is checked in full: in the bundle they are a
 * file of their own beside it, dist/bundle/checks.cjs, which a run taking a verdict never loads. Throws
 * CertRenewError INTERNAL (exit 1), one line saying to reinstall, when they cannot be loaded: a damaged or
 * incomplete installation.
 */
export async function loadChecks(): Promise<typeof import('./validate.js')> {
  try {
    return await import('./validate.js');
  } catch (error) {
    const reason = describeError(error).split('\n')[0];
    throw new CertRenewError(
      ErrorCode.internal,
      `the installation of cert-renew is damaged or incomplete: the manifest's checks cannot be loaded (${reason})`,
      { hint: 'reinstall cert-renew' },
    );
  }
}

/**
 * Reads, checks and resolves the manifest at `path` (resolved against the process's working directory
 * when relative; the entry point passes an absolute path). `beforeCheck` is given the manifest's text once
 * it is read, before it is parsed and checked (the session sizes V8's heap by it: runtime/heap.ts). A text
 * this bundle checked before with the same interval is not checked again: its kept warnings are returned
 * (manifest/verdicts.ts). Throws CertRenewError MANIFEST_UNREADABLE or ManifestError (MANIFEST_INVALID),
 * exit 2.
 */
export async function loadManifest(
  path: string,
  options: CheckOptions & { beforeCheck?: (text: string) => void },
): Promise<LoadedManifest> {
  const absolute = resolve(path);
  const read = await readManifestText(absolute);
  if (!read.ok) {
    throw new CertRenewError(
      ErrorCode.manifestUnreadable,
      `cannot read the manifest ${path}: ${read.reason}`,
      {
        exitCode: ExitCode.usage,
        hint: 'give its path with -m/--manifest or CERT_RENEW_MANIFEST',
      },
    );
  }
  options.beforeCheck?.(read.text);
  // The same text checked before by this bundle (manifest/verdicts.ts): its warnings, without the checks.
  let manifest: Manifest;
  let warnings = keptVerdict(read.text, options.intervalMs, path);
  if (warnings !== undefined) {
    manifest = JSON.parse(withoutBom(read.text)) as Manifest;
  } else {
    const { checkManifestText } = await loadChecks();
    const checked = checkManifestText(read.text, path, options);
    if (!checked.manifest) throw new ManifestError(path, checked.diagnostics);
    manifest = checked.manifest;
    warnings = checked.diagnostics.filter((d) => d.severity === 'warning');
    keepVerdict(read.text, options.intervalMs, warnings);
  }
  return {
    path: absolute,
    baseDir: dirname(absolute),
    manifest,
    certificates: resolveCertificates(manifest),
    warnings,
  };
}
