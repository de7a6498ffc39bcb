/** Plain-text tables for terminals and logs: aligned columns, colour only when asked. */
import { Chalk, type ChalkInstance } from 'chalk';

export function painter(colour: boolean): ChalkInstance {
  return new Chalk({ level: colour ? 1 : 0 });
}

/** Visible width (ANSI colour codes do not count). */
function width(text: string): number {
  return text.replace(/\u001b\[[0-9;]*m/g, '').length;
}

export function renderTable(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, c) => Math.max(width(h), ...rows.map((r) => width(r[c] ?? ''))));
  const line = (cells: string[]) =>
    cells
      .map((cell, c) => (c === cells.length - 1 ? cell : cell + ' '.repeat((widths[c] ?? 0) - width(cell))))
      .join('  ')
      .trimEnd();
  return `${[line(headers), ...rows.map(line)].join('\n')}\n`;
}

/** "42d", "5h", "-3d" — remaining lifetime for tables. */
export function shortLeft(seconds: number | undefined): string {
  if (seconds === undefined) return '-';
  const abs = Math.abs(seconds);
  const sign = seconds < 0 ? '-' : '';
  if (abs >= 86400) return `${sign}${Math.floor(abs / 86400)}d`;
  if (abs >= 3600) return `${sign}${Math.floor(abs / 3600)}h`;
  return `${sign}${Math.floor(abs / 60)}m`;
}

export function shortDate(iso: string | undefined): string {
  return iso ? iso.replace('T', ' ').replace(/:\d\d(\.\d+)?Z$/, 'Z') : '-';
}

export function domainsCell(domains: string[]): string {
  const first = domains[0] ?? '';
  return domains.length > 1 ? `${first} +${domains.length - 1}` : first;
}
