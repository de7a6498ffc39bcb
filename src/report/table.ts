/** Plain-text tables for terminals and logs: aligned columns, colour only when asked. */
import { formatDuration } from '../util/duration.js';

/** The styles reports paint text with; each returns `text` styled. */
export interface Painter {
  bold(text: string): string;
  cyan(text: string): string;
  green(text: string): string;
  magenta(text: string): string;
  red(text: string): string;
  yellow(text: string): string;
}

const same = (text: string): string => text;
const PLAIN: Painter = { bold: same, cyan: same, green: same, magenta: same, red: same, yellow: same };

/**
 * The painter for a report: chalk's 16 colours when `colour`, else plain text. chalk is loaded only then:
 * setting it up is ~0.5 ms that a run in cron (no terminal) would spend for nothing.
 */
export async function painterFor(colour: boolean): Promise<Painter> {
  if (!colour) return PLAIN;
  const { Chalk } = await import('chalk');
  return new Chalk({ level: 1 });
}

/** Visible width (ANSI colour codes do not count). Most cells have none: no copy is made of those. */
function width(text: string): number {
  return text.includes('\u001b') ? text.replace(/\u001b\[[0-9;]*m/g, '').length : text.length;
}

export function renderTable(headers: string[], rows: string[][]): string {
  return [...tablePieces(headers, rows.length, (i) => rows[i] as string[])].join('');
}

/** Lines per piece of a streamed table: ~36 kB of a plan's rows. */
const LINES_PER_PIECE = 256;

/**
 * `renderTable`'s text in pieces of at most LINES_PER_PIECE whole lines. `row(i)` gives the cells of row
 * `i` (0 ≤ i < count) and is called twice per row, for the widths and then for the line, so a table of
 * 10,000 certificates never holds all its rows, nor its whole text.
 */
export function* tablePieces(
  headers: readonly string[],
  count: number,
  row: (index: number) => readonly string[],
): Generator<string> {
  const widths = headers.map(width);
  for (let i = 0; i < count; i++) {
    const cells = row(i);
    for (let c = 0; c < widths.length; c++) widths[c] = Math.max(widths[c] ?? 0, width(cells[c] ?? ''));
  }
  const line = (cells: readonly string[]) =>
    cells
      .map((cell, c) => (c === cells.length - 1 ? cell : cell + ' '.repeat((widths[c] ?? 0) - width(cell))))
      .join('  ')
      .trimEnd();
  let piece = `${line(headers)}\n`;
  for (let i = 0; i < count; i++) {
    piece += `${line(row(i))}\n`;
    if ((i + 2) % LINES_PER_PIECE === 0) {
      yield piece;
      piece = '';
    }
  }
  if (piece !== '') yield piece;
}

/** "42d", "5h", "-3d" — remaining lifetime for tables. */
export function shortLeft(seconds: number | undefined): string {
  return seconds === undefined ? '-' : formatDuration(seconds * 1000, 'table');
}

/** `2027-02-28T11:32:20.000Z` → `2027-02-28 11:32Z`; "-" for none. */
export function shortDate(iso: string | undefined): string {
  if (!iso) return '-';
  // toISOString's shape (with or without milliseconds) is cut, not matched: tables of 10,000 make it twice.
  if ((iso.length === 20 || iso.length === 24) && iso[10] === 'T' && iso[16] === ':' && iso.endsWith('Z'))
    return `${iso.slice(0, 10)} ${iso.slice(11, 16)}Z`;
  return iso.replace('T', ' ').replace(/:\d\d(\.\d+)?Z$/, 'Z');
}

export function domainsCell(domains: string[]): string {
  const first = domains[0] ?? '';
  return domains.length > 1 ? `${first} +${domains.length - 1}` : first;
}

/** The "orphaned" section of `plan` and `status`: certificates stores hold that the manifest no longer names. */
export function orphansSection(
  orphans: readonly {
    name: string;
    store: string;
    state: string;
    domains?: string[];
    notAfter?: string;
    remainingSeconds?: number;
    deployedOn?: string[];
  }[],
): string {
  if (orphans.length === 0) return '';
  const rows = orphans.map((o) => [
    o.name,
    o.store,
    domainsCell(o.domains ?? []) || '-',
    shortDate(o.notAfter),
    shortLeft(o.remainingSeconds),
    `${o.state === 'present' ? 'orphaned' : `orphaned (${o.state})`}${o.deployedOn ? `; deployed on ${o.deployedOn.join(', ')}` : ''}`,
  ]);
  return (
    `\n${orphans.length} orphaned certificate(s): in a store, no longer in the manifest (cert-renew prune removes them)\n` +
    renderTable(['NAME', 'STORE', 'DOMAINS', 'NOT AFTER', 'LEFT', 'STATE'], rows)
  );
}
