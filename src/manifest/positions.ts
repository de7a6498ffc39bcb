/**
 * A small JSON scanner that knows where things are: it checks the syntax (with plain-word messages and the
 * exact line and column of the first mistake), caps the nesting depth, finds duplicate keys, and can map
 * every JSON pointer to the line and column of its key and value. `JSON.parse` still builds the value.
 *
 * Lines and columns start at 1; a column counts UTF-16 code units from the start of the line. A line ends
 * at LF, CRLF or a lone CR.
 */

export interface Position {
  line: number;
  column: number;
}

export interface JsonLocation {
  /** Where the member's key starts (objects only). */
  key?: Position;
  /** Where the value starts. */
  value: Position;
}

export interface DuplicateKey {
  /** Pointer of the object holding the key twice. */
  pointer: string;
  key: string;
  position: Position;
  first: Position;
}

export interface ScanResult {
  /** The first syntax error, if any (the scan stops there). */
  error?: { message: string; position: Position };
  duplicates: DuplicateKey[];
  /** Pointer → location; only when `collect` was asked for and there was no syntax error. */
  locations?: Map<string, JsonLocation>;
}

export interface ScanOptions {
  /** Record the location of every pointer (costs memory; only needed when there is something to report). */
  collect: boolean;
  /** Deeper nesting is an error. */
  maxDepth: number;
}

/** Escapes one reference token of a JSON pointer (RFC 6901). */
export function escapePointerToken(token: string): string {
  return token.replace(/~/g, '~0').replace(/\//g, '~1');
}

export function pointerFrom(tokens: readonly (string | number)[]): string {
  return tokens.map((t) => `/${escapePointerToken(String(t))}`).join('');
}

/** Line and column of a UTF-16 offset. */
export function positionAt(text: string, offset: number): Position {
  let line = 1;
  let lineStart = 0;
  const end = Math.min(Math.max(offset, 0), text.length);
  for (let i = 0; i < end; i++) {
    const c = text.charCodeAt(i);
    if (c === 10 || (c === 13 && text.charCodeAt(i + 1) !== 10)) {
      line++;
      lineStart = i + 1;
    }
  }
  return { line, column: end - lineStart + 1 };
}

class SyntaxProblem {
  constructor(
    readonly message: string,
    readonly offset: number,
  ) {}
}

function describeChar(text: string, i: number): string {
  if (i >= text.length) return 'the end of the file';
  const code = text.codePointAt(i) as number;
  if (code < 0x20 || code === 0x7f || (code >= 0x80 && code < 0xa0)) {
    return `control character U+${code.toString(16).toUpperCase().padStart(4, '0')}`;
  }
  if (code === 0xfeff) return 'a byte order mark (U+FEFF)';
  return `'${String.fromCodePoint(code)}'`;
}

const WHITESPACE = new Set([0x20, 0x09, 0x0a, 0x0d]);

/** Scans `text` (a BOM must already be stripped). Never throws. */
export function scanJson(text: string, options: ScanOptions): ScanResult {
  const duplicates: DuplicateKey[] = [];
  const locations = options.collect ? new Map<string, JsonLocation>() : undefined;
  let i = 0;
  let line = 1;
  let lineStart = 0;
  const here = (): Position => ({ line, column: i - lineStart + 1 });
  const fail = (message: string, at = i): never => {
    throw new SyntaxProblem(message, at);
  };

  const skipWhitespace = (): void => {
    while (i < text.length) {
      const c = text.charCodeAt(i);
      if (!WHITESPACE.has(c)) {
        if (c === 0x2f && (text[i + 1] === '/' || text[i + 1] === '*'))
          fail('comments are not allowed in JSON');
        return;
      }
      if (c === 10 || (c === 13 && text.charCodeAt(i + 1) !== 10)) {
        line++;
        lineStart = i + 1;
      }
      i++;
    }
  };

  /** Scans a string starting at the opening quote; returns its decoded value when `decode`. */
  const scanString = (decode: boolean): string => {
    const start = i;
    i++; // opening quote
    let escaped = false;
    for (;;) {
      if (i >= text.length) fail("the file ends inside a string (a missing closing '\"'?)", start);
      const c = text.charCodeAt(i);
      if (c === 0x22) break;
      if (c === 0x5c) {
        escaped = true;
        const e = text[i + 1];
        if (e === 'u') {
          if (!/^[0-9A-Fa-f]{4}$/.test(text.slice(i + 2, i + 6)))
            fail('invalid \\u escape: it needs four hex digits', i);
          i += 6;
          continue;
        }
        if (e === undefined) fail("the file ends inside a string (a missing closing '\"'?)", start);
        if (!'"\\/bfnrt'.includes(e as string)) fail(`invalid escape '\\${e}' in a string`, i);
        i += 2;
        continue;
      }
      if (c < 0x20) {
        if (c === 10 || c === 13) fail("a string runs past the end of the line (a missing closing '\"'?)", i);
        fail(`${describeChar(text, i)} inside a string; write it as a \\u escape`, i);
      }
      i++;
    }
    i++; // closing quote
    if (!decode) return '';
    const raw = text.slice(start + 1, i - 1);
    return escaped ? (JSON.parse(text.slice(start, i)) as string) : raw;
  };

  const scanNumber = (): void => {
    const match = /^-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/y;
    match.lastIndex = 0;
    const rest = text.slice(i, i + 400);
    const m = match.exec(rest);
    if (!m || m[0] === '-' || m[0] === '') fail(`invalid number starting with ${describeChar(text, i)}`);
    const after = text.charCodeAt(i + (m as RegExpExecArray)[0].length);
    if ((after >= 0x30 && after <= 0x39) || after === 0x2e || after === 0x65 || after === 0x45) {
      fail('invalid number (leading zeros, a lone "." or a bad exponent)');
    }
    i += (m as RegExpExecArray)[0].length;
  };

  const scanValue = (pointer: string, depth: number, key: Position | undefined): void => {
    skipWhitespace();
    if (i >= text.length) fail('the file ends where a value was expected (is it truncated?)');
    if (locations) locations.set(pointer, key ? { key, value: here() } : { value: here() });
    const c = text[i];
    if (c === '{' || c === '[') {
      if (depth >= options.maxDepth) {
        fail(`the JSON is nested more than ${options.maxDepth} levels deep; a manifest needs far fewer`);
      }
      if (c === '{') scanObject(pointer, depth + 1);
      else scanArray(pointer, depth + 1);
      return;
    }
    if (c === '"') {
      scanString(false);
      return;
    }
    if (c === '-' || (c !== undefined && c >= '0' && c <= '9')) {
      scanNumber();
      return;
    }
    for (const word of ['true', 'false', 'null']) {
      if (text.startsWith(word, i)) {
        i += word.length;
        return;
      }
    }
    if (c === "'") fail('strings need double quotes ("), not single quotes');
    if (c === '}' || c === ']') fail(`expected a value, found ${describeChar(text, i)} (a trailing comma?)`);
    fail(`expected a value, found ${describeChar(text, i)}`);
  };

  const scanObject = (pointer: string, depth: number): void => {
    const open = here();
    i++;
    const seen = new Map<string, Position>();
    // Where the last ',' was: a trailing comma is reported there, not at the '}' after it.
    let comma = i;
    skipWhitespace();
    if (text[i] === '}') {
      i++;
      return;
    }
    for (;;) {
      skipWhitespace();
      if (i >= text.length)
        fail(`the file ends inside the object opened at line ${open.line}, column ${open.column}`);
      if (text[i] !== '"') {
        if (text[i] === '}') fail("a trailing comma before '}' is not allowed in JSON", comma);
        if (text[i] === "'") fail('property names need double quotes ("), not single quotes');
        fail(`expected a property name in double quotes, found ${describeChar(text, i)}`);
      }
      const keyPos = here();
      const key = scanString(true);
      const earlier = seen.get(key);
      if (earlier) duplicates.push({ pointer, key, position: keyPos, first: earlier });
      else seen.set(key, keyPos);
      skipWhitespace();
      if (text[i] !== ':')
        fail(`expected ':' after the property name "${key}", found ${describeChar(text, i)}`);
      i++;
      scanValue(`${pointer}/${escapePointerToken(key)}`, depth, keyPos);
      skipWhitespace();
      const c = text[i];
      if (c === ',') {
        comma = i;
        i++;
        continue;
      }
      if (c === '}') {
        i++;
        return;
      }
      if (i >= text.length)
        fail(`the file ends inside the object opened at line ${open.line}, column ${open.column}`);
      fail(`expected ',' or '}' after the value of "${key}", found ${describeChar(text, i)}`);
    }
  };

  const scanArray = (pointer: string, depth: number): void => {
    const open = here();
    i++;
    skipWhitespace();
    if (text[i] === ']') {
      i++;
      return;
    }
    let comma = i;
    for (let index = 0; ; index++) {
      skipWhitespace();
      if (text[i] === ']') fail("a trailing comma before ']' is not allowed in JSON", comma);
      scanValue(`${pointer}/${index}`, depth, undefined);
      skipWhitespace();
      const c = text[i];
      if (c === ',') {
        comma = i;
        i++;
        continue;
      }
      if (c === ']') {
        i++;
        return;
      }
      if (i >= text.length)
        fail(`the file ends inside the array opened at line ${open.line}, column ${open.column}`);
      fail(`expected ',' or ']' after an array element, found ${describeChar(text, i)}`);
    }
  };

  try {
    skipWhitespace();
    if (i >= text.length) fail('the file is empty; a manifest is a JSON object');
    scanValue('', 0, undefined);
    skipWhitespace();
    if (i < text.length) fail(`unexpected ${describeChar(text, i)} after the end of the JSON value`);
  } catch (error) {
    if (error instanceof SyntaxProblem) {
      return { error: { message: error.message, position: positionAt(text, error.offset) }, duplicates };
    }
    if (error instanceof RangeError) {
      // Stack exhaustion cannot happen with the depth cap, but a scanner must never throw.
      return {
        error: { message: 'the JSON is too deeply nested', position: positionAt(text, i) },
        duplicates,
      };
    }
    throw error;
  }
  return locations ? { duplicates, locations } : { duplicates };
}
