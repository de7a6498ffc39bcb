/**
 * `cert-renew validate [FILE…]`: checks manifests and reports every problem with its line and column, as
 * text, JSON or GitHub workflow annotations. Touches no network, store or hook.
 *
 * Exit code: 0 valid (warnings allowed), 1 invalid (or warnings with --strict), 2 a file could not be read;
 * with several files the worst wins. A bad --interval is a usage error (exit 2, thrown).
 */
import { resolve } from 'node:path';
import { ExitCode, UsageError } from '../errors.js';
import { loadChecks, readManifestText } from '../manifest/load.js';
import { type FileResult, type ValidateFormat, validateReporters } from '../report/validate.js';
import { parseDuration } from '../util/duration.js';
import { type CliIO, reportOptions } from './io.js';

export interface ValidateOptions {
  format: ValidateFormat;
  interval: string;
  strict?: boolean;
}

async function checkFile(file: string, io: CliIO, intervalMs: number, strict: boolean): Promise<FileResult> {
  const read = await readManifestText(resolve(io.cwd, file));
  if (!read.ok) return { file, unreadable: read.reason, diagnostics: [], exitCode: ExitCode.usage };
  const { checkManifestText } = await loadChecks();
  const { manifest, diagnostics, counts } = checkManifestText(read.text, file, { intervalMs });
  const warnings = diagnostics.some((d) => d.severity === 'warning');
  const exitCode = !manifest || (strict && warnings) ? ExitCode.failure : ExitCode.ok;
  const counted = counts === undefined ? {} : { counts };
  return manifest
    ? { file, diagnostics, ...counted, certificates: manifest.certificates.length, exitCode }
    : { file, diagnostics, ...counted, exitCode };
}

export async function validateCommand(files: string[], options: ValidateOptions, io: CliIO): Promise<number> {
  const intervalMs = parseDuration(options.interval);
  if (intervalMs === undefined || intervalMs <= 0) {
    throw new UsageError(`--interval '${options.interval}' is not a duration such as 24h, 12h or 30m`);
  }
  const strict = options.strict === true;
  const results: FileResult[] = [];
  for (const file of files) results.push(await checkFile(file, io, intervalMs, strict));
  io.stdout(validateReporters[options.format]({ results, strict }, await reportOptions(io)));
  return Math.max(ExitCode.ok, ...results.map((r) => r.exitCode));
}
