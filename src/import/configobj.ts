/**
 * certbot's renewal files (`renewal/<lineage>.conf`) are written by Python's configobj: INI with
 * `[section]` and nested `[[subsection]]` headers, `#` comments, values optionally quoted, lists as
 * comma-separated values (`webroot_path = /var/www/html,`). They are parsed with the `ini` package after
 * two adjustments for configobj's dialect: a nested header becomes ini's dotted section name
 * (`[[webroot_map]]` under `[renewalparams]` → `[renewalparams.webroot_map]`), and `;` and `\` in an
 * unquoted value are escaped (configobj keeps them; ini would take `;` as the start of a comment).
 */
import { decode } from 'ini';

export type ConfigSection = { [key: string]: string | ConfigSection };

const HEADER = /^\s*(\[+)\s*([^\]]*?)\s*(\]+)\s*(#.*)?$/;
const ASSIGNMENT = /^(\s*[^=#]+?\s*=\s*)(.*)$/;

/** Escapes what ini would otherwise drop from an unquoted configobj value; quoted values pass as they are. */
function escapeValue(value: string): string {
  const trimmed = value.trim();
  // One quoted value: handed over as a JSON string, which ini decodes exactly (no escapes in configobj).
  const quoted = /^'([^']*)'\s*(#.*)?$/.exec(trimmed) ?? /^"([^"]*)"\s*(#.*)?$/.exec(trimmed);
  if (quoted) return JSON.stringify(quoted[1] ?? '');
  // configobj: an unquoted '#' starts a comment; everything before it is the value.
  const hash = trimmed.indexOf('#');
  const bare = (hash >= 0 ? trimmed.slice(0, hash) : trimmed).trim();
  return bare.replaceAll('\\', '\\\\').replaceAll(';', '\\;');
}

function toSection(value: unknown): ConfigSection {
  const out: ConfigSection = {};
  if (typeof value !== 'object' || value === null) return out;
  for (const [key, inner] of Object.entries(value as Record<string, unknown>)) {
    if (typeof inner === 'string') out[key] = inner;
    else if (typeof inner === 'boolean') out[key] = String(inner);
    else if (typeof inner === 'object' && inner !== null && !Array.isArray(inner))
      out[key] = toSection(inner);
  }
  return out;
}

/** Parses configobj text into nested sections of strings. Never throws; unparseable lines are ignored. */
export function parseConfigObj(text: string): ConfigSection {
  const path: string[] = [];
  const lines = text.split(/\r?\n/).map((line) => {
    const header = HEADER.exec(line);
    if (header?.[1] && header[3] && header[1].length === header[3].length) {
      const depth = header[1].length;
      path.splice(depth - 1);
      path.push((header[2] ?? '').replaceAll('.', '\\.'));
      return `[${path.join('.')}]`;
    }
    if (/^\s*#/.test(line)) return line;
    const assignment = ASSIGNMENT.exec(line);
    return assignment ? `${assignment[1]}${escapeValue(assignment[2] ?? '')}` : line;
  });
  return toSection(decode(lines.join('\n'), { bracketedArray: false }));
}

/** A configobj list value (`a, b,` or a single value) as its items, without empty ones. */
export function configList(value: string | ConfigSection | undefined): string[] {
  if (typeof value !== 'string') return [];
  return value
    .split(',')
    .map((item) => item.trim().replace(/^(['"])(.*)\1$/, '$2'))
    .filter((item) => item !== '');
}

/** A string value of a section, or undefined (also for a subsection of that name). */
export function configString(section: ConfigSection | undefined, key: string): string | undefined {
  const value = section?.[key];
  if (typeof value !== 'string') return undefined;
  const trimmed = value.trim();
  return trimmed === '' || trimmed === 'None' ? undefined : trimmed;
}

/** A subsection, or undefined. */
export function configSection(section: ConfigSection | undefined, key: string): ConfigSection | undefined {
  const value = section?.[key];
  return typeof value === 'object' ? value : undefined;
}
