/**
 * `cert-renew validate`: every problem with its file, line and column, as text for people (`human`), the
 * public JSON (`json`, docs/operations.md), or GitHub workflow annotations (`github`).
 */
import type { Diagnostic, DiagnosticCounts } from '../manifest/validate.js';
import { jsonText, type Reporter, type ReportOptions } from './reporter.js';

/** What validate found in one file. */
export interface FileResult {
  file: string;
  /** Set when the file could not be read. */
  unreadable?: string;
  diagnostics: Diagnostic[];
  /** Every error and warning found, when `diagnostics` shows only the first (and how many more). */
  counts?: DiagnosticCounts;
  certificates?: number;
  exitCode: number;
}

/** The errors and warnings a file has: all of them, not only those shown. */
function countsOf(r: FileResult): DiagnosticCounts {
  if (r.counts !== undefined) return r.counts;
  const errors = r.diagnostics.filter((d) => d.severity === 'error').length;
  return { errors, warnings: r.diagnostics.length - errors };
}

/** Everything validate found, and whether warnings fail (`--strict`). */
export interface ValidateResult {
  results: FileResult[];
  strict: boolean;
}

export type ValidateFormat = 'human' | 'json' | 'github';

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

function human({ results, strict }: ValidateResult, { paint: c }: ReportOptions): string {
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
    const { errors, warnings } = countsOf(r);
    if (errors > 0) {
      out += `${r.file}: ${c.red(`invalid (${plural(errors, 'error')}${warnings ? `, ${plural(warnings, 'warning')}` : ''})`)}\n`;
    } else if (warnings && strict) {
      out += `${r.file}: ${c.red(`invalid under --strict (${plural(r.certificates ?? 0, 'certificate')}, ${plural(warnings, 'warning')})`)}\n`;
    } else {
      const note = warnings ? `, ${plural(warnings, 'warning')}` : '';
      const colour = warnings ? c.yellow : c.green;
      out += `${r.file}: ${colour(`valid (${plural(r.certificates ?? 0, 'certificate')}${note})`)}\n`;
    }
  }
  return out;
}

function json({ results }: ValidateResult): string {
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
  return jsonText({ version: 1, files });
}

function github({ results }: ValidateResult): string {
  let out = '';
  let errors = 0;
  let warnings = 0;
  for (const r of results) {
    if (r.unreadable !== undefined) {
      errors++;
      out += `::error file=${escapeProperty(r.file)},title=cert-renew::${escapeData(r.unreadable)}\n`;
      continue;
    }
    const counts = countsOf(r);
    errors += counts.errors;
    warnings += counts.warnings;
    for (const d of r.diagnostics) {
      const props = [`file=${escapeProperty(r.file)}`];
      if (d.line !== undefined) props.push(`line=${d.line}`, `col=${d.column ?? 1}`);
      props.push('title=cert-renew');
      out += `::${d.severity} ${props.join(',')}::${escapeData(`${shownPointer(d.pointer)}: ${d.message}`)}\n`;
    }
  }
  out += `cert-renew validate: ${plural(results.length, 'file')}, ${plural(errors, 'error')}, ${plural(warnings, 'warning')}\n`;
  return out;
}

export const validateReporters: Readonly<Record<ValidateFormat, Reporter<ValidateResult>>> = {
  human,
  json,
  github,
};
