/**
 * Everything `cert-renew validate` checks, as one pure function over the text of a manifest: the JSON syntax,
 * the schema, then the meaning checks a schema cannot express (the named list in checks/index.ts: unique
 * names, host names, references between certificates, issuers and stores, wildcards and challenges, renewal
 * windows). Every problem comes back with its JSON pointer and its line and column. Nothing here touches the
 * network, a store or a hook.
 */
import { formatDuration } from '../util/duration.js';
import { safeText } from '../util/text.js';
import { type CheckOptions, type Finding, meaningFindings } from './checks/index.js';
import { isObject } from './checks/view.js';
import { escapePointerToken, type JsonLocation, positionAt, scanJson } from './positions.js';
import { schemaProblems } from './schema.js';
import { MAX_MANIFEST_BYTES, withoutBom } from './text.js';
import type { Manifest } from './types.js';

export interface Diagnostic {
  severity: 'error' | 'warning';
  file: string;
  /** JSON pointer ("" is the whole document). */
  pointer: string;
  line?: number;
  column?: number;
  message: string;
}

export type { CheckOptions } from './checks/index.js';

export { MAX_MANIFEST_BYTES } from './text.js';
/** Deeper JSON is refused (a manifest needs about 8 levels). */
export const MAX_DEPTH = 64;
/** At most this many diagnostics per file; the last one says how many more there were. */
export const MAX_DIAGNOSTICS = 1000;

/** "90d", "36h", "2h40m", "45s": a duration string the manifest and `--interval` accept. */
export function compactDuration(ms: number): string {
  return formatDuration(ms, 'manifest');
}

function locate(
  locations: Map<string, JsonLocation> | undefined,
  pointer: string,
): { line: number; column: number } {
  let p = pointer;
  for (;;) {
    const location = locations?.get(p);
    if (location) return location.key ?? location.value;
    if (p === '') return { line: 1, column: 1 };
    p = p.slice(0, p.lastIndexOf('/'));
  }
}

function nodeJsonError(text: string, error: unknown): { message: string; line: number; column: number } {
  const message = error instanceof Error ? error.message : String(error);
  const at = /position (\d+)/.exec(message);
  const position = at ? positionAt(text, Number(at[1])) : positionAt(text, text.length);
  return { message: `invalid JSON: ${message.split('\n')[0]}`, ...position };
}

/** How many errors and warnings a check found, the ones not shown included. */
export interface DiagnosticCounts {
  errors: number;
  warnings: number;
}

/**
 * Checks the text of a manifest. Never throws. `manifest` is set when there is no error (warnings allowed).
 * A UTF-8 byte order mark at the start is accepted and ignored. `diagnostics` holds at most MAX_DIAGNOSTICS,
 * the last of them saying how many more there are; `counts` is then set, counting them all.
 */
export function checkManifestText(
  text: string,
  file: string,
  options: CheckOptions,
): { manifest?: Manifest; diagnostics: Diagnostic[]; counts?: DiagnosticCounts } {
  const diagnostics: Diagnostic[] = [];
  const at = (
    severity: Diagnostic['severity'],
    pointer: string,
    line: number,
    column: number,
    message: string,
  ) =>
    // Whatever a message echoes from the manifest (names, keys, values) is shown safely: no URL
    // userinfo, no control characters.
    diagnostics.push({
      severity,
      file,
      pointer: safeText(pointer),
      line,
      column,
      message: safeText(message),
    });
  if (text.length > MAX_MANIFEST_BYTES) {
    at(
      'error',
      '',
      1,
      1,
      `the manifest is larger than ${MAX_MANIFEST_BYTES / 1024 / 1024} MB; split it or trim it`,
    );
    return { diagnostics };
  }
  const body = withoutBom(text);

  const scan = scanJson(body, { collect: false, maxDepth: MAX_DEPTH });
  if (scan.error) {
    at(
      'error',
      '',
      scan.error.position.line,
      scan.error.position.column,
      `invalid JSON: ${scan.error.message}`,
    );
    return { diagnostics };
  }
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch (parseError) {
    const problem = nodeJsonError(body, parseError);
    at('error', '', problem.line, problem.column, problem.message);
    return { diagnostics };
  }
  if (!isObject(value)) {
    const kind = Array.isArray(value) ? 'an array' : value === null ? 'null' : `a ${typeof value}`;
    at('error', '', 1, 1, `the manifest must be a JSON object ({"version": 1, …}), not ${kind}`);
    return { diagnostics };
  }

  const findings: Finding[] = [];
  for (const d of scan.duplicates) {
    findings.push({
      severity: 'error',
      pointer: `${d.pointer}/${escapePointerToken(d.key)}`,
      message: `duplicate key '${d.key}' (first at line ${d.first.line}, column ${d.first.column}); JSON keeps only the last one`,
    });
  }
  // Schema problems, then the meaning checks (which are written to cope with whatever the schema rejected).
  try {
    for (const problem of schemaProblems(value)) {
      findings.push({
        severity: 'error',
        pointer: problem.pointer,
        at: problem.at,
        message: problem.message,
      });
    }
    // One error per place: a meaning check that repeats, at the same pointer, what the schema already
    // said (a Redis URL's scheme, a name's '..') is left out.
    const schemaErrorAt = new Set(findings.map((f) => f.pointer));
    findings.push(
      ...meaningFindings(value, options).filter(
        (f) => f.severity !== 'error' || !schemaErrorAt.has(f.pointer),
      ),
    );
  } catch (bug) {
    const reason = bug instanceof Error ? bug.message : String(bug);
    findings.push({
      severity: 'error',
      pointer: '',
      message: `internal error while checking (please report this): ${reason}`,
    });
  }

  // Duplicate-key findings point at the second key, which the parsed value no longer has: locate those directly.
  const duplicateAt = new Map(
    scan.duplicates.map((d) => [`${d.pointer}/${escapePointerToken(d.key)}`, d.position]),
  );
  const locations =
    findings.length > 0 ? scanJson(body, { collect: true, maxDepth: MAX_DEPTH }).locations : undefined;
  const seen = new Set<string>();
  for (const finding of findings) {
    const key = `${finding.severity}\n${finding.pointer}\n${finding.message}`;
    if (seen.has(key)) continue;
    seen.add(key);
    const position = duplicateAt.get(finding.pointer) ?? locate(locations, finding.at ?? finding.pointer);
    at(finding.severity, finding.pointer, position.line, position.column, finding.message);
  }
  diagnostics.sort((a, b) => (a.line ?? 0) - (b.line ?? 0) || (a.column ?? 0) - (b.column ?? 0));
  let counts: DiagnosticCounts | undefined;
  if (diagnostics.length > MAX_DIAGNOSTICS) {
    const errors = diagnostics.filter((d) => d.severity === 'error').length;
    counts = { errors, warnings: diagnostics.length - errors };
    const more = diagnostics.length - (MAX_DIAGNOSTICS - 1);
    const hasError = errors > 0;
    diagnostics.length = MAX_DIAGNOSTICS - 1;
    diagnostics.push({
      severity: hasError ? 'error' : 'warning',
      file,
      pointer: '',
      line: 1,
      column: 1,
      message: `${more} more problems not shown`,
    });
  }
  const valid = !diagnostics.some((d) => d.severity === 'error');
  const counted = counts === undefined ? {} : { counts };
  return valid
    ? { manifest: value as unknown as Manifest, diagnostics, ...counted }
    : { diagnostics, ...counted };
}
