/**
 * Reporters: a command's result in, text for stdout out. Each command has a map from format name to
 * reporter; the command picks one by its options and writes what it returns. Reporters never touch the
 * process, a store or the clock, and never decide an exit code.
 */
import type { Painter } from './table.js';

export interface ReportOptions {
  /**
   * The styles text is painted with: ANSI colour on a terminal (neither NO_COLOR nor TERM=dumb), else plain
   * (`painterFor` in table.ts).
   */
  paint: Painter;
}

/** Renders one result as the whole of stdout for one format. */
export type Reporter<T> = (result: T, options: ReportOptions) => string;

/**
 * Renders one result as the whole of stdout, in pieces to be written in order (`writeReport`): the reports
 * of every certificate (plan, status, run), which for a manifest of 10,000 would otherwise be held whole,
 * twice (the text and its bytes), when the run's memory peaks.
 */
export type ChunkedReporter<T> = (result: T, options: ReportOptions) => Iterable<string>;

/** `--json` → json, else human: the two formats of plan, run and status. */
export type Format = 'human' | 'json';

export function formatOf(options: { json?: boolean }): Format {
  return options.json ? 'json' : 'human';
}

/** Pretty-printed JSON with a final newline: every `--json` output. */
export function jsonText(value: unknown): string {
  return `${JSON.stringify(value, null, 2)}\n`;
}

/** Elements of a streamed array per piece (`jsonPieces`). */
const ELEMENTS_PER_PIECE = 64;

/** An object JSON.stringify writes member by member: a plain one, without `toJSON`. */
function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value) as unknown;
  return (
    (proto === Object.prototype || proto === null) &&
    typeof (value as { toJSON?: unknown }).toJSON !== 'function'
  );
}

/**
 * `jsonText(value)`'s exact text in pieces: a plain object's members one after the other, and the elements of
 * its array members ELEMENTS_PER_PIECE at a time, as JSON.stringify writes them in that place. Anything else
 * (a value that is not a plain object, members nested deeper) is JSON.stringify's in one piece. So a report of
 * many thousands of certificates is never one string. (An element's `toJSON` is given its index within its
 * piece; the reports' elements have none.)
 */
export function* jsonPieces(value: unknown): Generator<string> {
  if (!isPlainObject(value)) {
    yield jsonText(value);
    return;
  }
  // What JSON.stringify writes of each member, in its order (undefined, functions and symbols it leaves out).
  const members: [key: string, value: unknown[] | string][] = [];
  for (const [key, member] of Object.entries(value)) {
    if (Array.isArray(member) && typeof (member as { toJSON?: unknown }).toJSON !== 'function') {
      members.push([key, member]);
      continue;
    }
    const text = JSON.stringify(member, null, 2) as string | undefined;
    if (text !== undefined) members.push([key, text.replaceAll('\n', '\n  ')]);
  }
  if (members.length === 0) {
    yield '{}\n';
    return;
  }
  let piece = '{\n';
  for (let m = 0; m < members.length; m++) {
    const [key, member] = members[m] as [string, unknown[] | string];
    const end = m < members.length - 1 ? ',\n' : '\n';
    piece += `  ${JSON.stringify(key)}: `;
    if (typeof member === 'string' || member.length === 0) {
      piece += `${typeof member === 'string' ? member : '[]'}${end}`;
      continue;
    }
    piece += '[\n';
    // Each slice as JSON.stringify writes it in this place, `{ key: slice }`, between its first and last lines.
    const head = `{\n  ${JSON.stringify(key)}: [\n`.length;
    const tail = '\n  ]\n}'.length;
    for (let i = 0; i < member.length; i += ELEMENTS_PER_PIECE) {
      const slice = member.slice(i, i + ELEMENTS_PER_PIECE);
      const text = JSON.stringify({ [key]: slice }, null, 2);
      yield `${piece}${text.slice(head, -tail)}${i + ELEMENTS_PER_PIECE < member.length ? ',' : ''}\n`;
      piece = '';
    }
    piece += `  ]${end}`;
  }
  yield `${piece}}\n`;
}
