/**
 * `cert-renew validate [FILE…]`: checks manifests and reports every problem with its line and column, as
 * text, JSON or GitHub workflow annotations. Touches no network, store or hook.
 *
 * Exit code: 0 valid (warnings allowed), 1 invalid (or warnings with --strict), 2 a file could not be read;
 * with several files the worst wins. A bad --interval is a usage error (exit 2, thrown).
 */
import { resolve } from 'node:path';
import { Chalk } from 'chalk';
import { type CliIO, useColour } from '../cli.js';
import { ExitCode, UsageError } from '../errors.js';
import { readManifestText } from '../manifest/load.js';
import { checkManifestText, type Diagnostic } from '../manifest/validate.js';
import { parseDuration } from '../util/duration.js';

export interface ValidateOptions {
  format: 'human' | 'json' | 'github';
  interval: string;
  strict?: boolean;
}

interface FileResult {
  file: string;
  /** Set when the file could not be read. */
  unreadable?: string;
  diagnostics: Diagnostic[];
  certificates?: number;
  exitCode: number;
}

/** Pointer for people: without the leading '/', and '/' for the whole document. */
function shownPointer(pointer: string): string {
  return pointer === '' ? '/' : pointer.slice(1);
}

/** GitHub workflow command escaping (data, and property values). */
function escapeData(text: string): string {
  return text.replace(/%/g, '%25').replace(/\r/g, '%0D').replace(/\n/g, '%0A');
}
function escapeProperty(text: string): string {
  return escapeData(text).replace(/:/g, '%3A').replace(/,/g, '%2C');
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

async function checkFile(file: string, io: CliIO, intervalMs: number, strict: boolean): Promise<FileResult> {
  const read = await readManifestText(resolve(io.cwd, file));
  if (!read.ok) return { file, unreadable: read.reason, diagnostics: [], exitCode: ExitCode.usage };
  const { manifest, diagnostics } = checkManifestText(read.text, file, { intervalMs });
  const warnings = diagnostics.some((d) => d.severity === 'warning');
  const exitCode = !manifest || (strict && warnings) ? ExitCode.failure : ExitCode.ok;
  return manifest
    ? { file, diagnostics, certificates: manifest.certificates.length, exitCode }
    : { file, diagnostics, exitCode };
}

function renderHuman(results: FileResult[], io: CliIO, strict: boolean): void {
  const c = new Chalk({ level: useColour(io) ? 1 : 0 });
  let out = '';
  for (const r of results) {
    if (r.unreadable !== undefined) {
      out += `${c.bold(r.file)}: ${c.red('error')}: ${r.unreadable}\n`;
      continue;
    }
    for (const d of r.diagnostics) {
      const where = `${r.file}:${d.line ?? 1}:${d.column ?? 1}`;
      const severity = d.severity === 'error' ? c.red('error') : c.yellow('warning');
      out += `${c.bold(where)}: ${severity}: ${c.cyan(shownPointer(d.pointer))}: ${d.message}\n`;
    }
    const errors = r.diagnostics.filter((d) => d.severity === 'error').length;
    const warnings = r.diagnostics.length - errors;
    if (errors > 0) {
      out += `${r.file}: ${c.red(`invalid (${plural(errors, 'error')}${warnings ? `, ${plural(warnings, 'warning')}` : ''})`)}\n`;
    } else {
      const note = warnings ? `, ${plural(warnings, 'warning')}${strict ? ' (--strict: failing)' : ''}` : '';
      const colour = warnings && strict ? c.red : warnings ? c.yellow : c.green;
      out += `${r.file}: ${colour(`valid (${plural(r.certificates ?? 0, 'certificate')}${note})`)}\n`;
    }
  }
  io.stdout(out);
}

function renderJson(results: FileResult[], io: CliIO): void {
  const strip = (d: Diagnostic) => ({
    pointer: d.pointer,
    ...(d.line === undefined ? {} : { line: d.line, column: d.column }),
    message: d.message,
  });
  const files = results.map((r) => ({
    file: r.file,
    valid: r.unreadable === undefined && !r.diagnostics.some((d) => d.severity === 'error'),
    errors:
      r.unreadable !== undefined
        ? [{ pointer: '', message: r.unreadable }]
        : r.diagnostics.filter((d) => d.severity === 'error').map(strip),
    warnings: r.diagnostics.filter((d) => d.severity === 'warning').map(strip),
  }));
  io.stdout(`${JSON.stringify({ version: 1, files }, null, 2)}\n`);
}

function renderGithub(results: FileResult[], io: CliIO): void {
  let out = '';
  let errors = 0;
  let warnings = 0;
  for (const r of results) {
    if (r.unreadable !== undefined) {
      errors++;
      out += `::error file=${escapeProperty(r.file)},title=cert-renew::${escapeData(r.unreadable)}\n`;
      continue;
    }
    for (const d of r.diagnostics) {
      if (d.severity === 'error') errors++;
      else warnings++;
      const props = [`file=${escapeProperty(r.file)}`];
      if (d.line !== undefined) props.push(`line=${d.line}`, `col=${d.column ?? 1}`);
      props.push('title=cert-renew');
      out += `::${d.severity} ${props.join(',')}::${escapeData(`${shownPointer(d.pointer)}: ${d.message}`)}\n`;
    }
  }
  out += `cert-renew validate: ${plural(results.length, 'file')}, ${plural(errors, 'error')}, ${plural(warnings, 'warning')}\n`;
  io.stdout(out);
}

export async function validateCommand(files: string[], options: ValidateOptions, io: CliIO): Promise<number> {
  const intervalMs = parseDuration(options.interval);
  if (intervalMs === undefined || intervalMs <= 0) {
    throw new UsageError(`--interval '${options.interval}' is not a duration such as 24h, 12h or 30m`);
  }
  const strict = options.strict === true;
  const results: FileResult[] = [];
  for (const file of files) results.push(await checkFile(file, io, intervalMs, strict));
  if (options.format === 'json') renderJson(results, io);
  else if (options.format === 'github') renderGithub(results, io);
  else renderHuman(results, io, strict);
  return Math.max(ExitCode.ok, ...results.map((r) => r.exitCode));
}
