import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { pointerFrom, positionAt, scanJson } from '../../src/manifest/positions.js';

const opts = { collect: true, maxDepth: 64 };

describe('scanJson', () => {
  test('maps pointers to the line and column of keys and values', () => {
    const text = '{\n  "a": [1, {"b~/c": true}],\n  "d": "x"\n}';
    const { locations, error } = scanJson(text, opts);
    assert.equal(error, undefined);
    assert.deepEqual(locations?.get(''), { value: { line: 1, column: 1 } });
    assert.deepEqual(locations?.get('/a'), { key: { line: 2, column: 3 }, value: { line: 2, column: 8 } });
    assert.deepEqual(locations?.get('/a/1'), { value: { line: 2, column: 12 } });
    assert.deepEqual(locations?.get(pointerFrom(['a', 1, 'b~/c'])), {
      key: { line: 2, column: 13 },
      value: { line: 2, column: 21 },
    });
    assert.deepEqual(locations?.get('/d'), { key: { line: 3, column: 3 }, value: { line: 3, column: 8 } });
  });

  test('CRLF and lone CR end lines', () => {
    assert.deepEqual(positionAt('a\r\nb\rc', 5), { line: 3, column: 1 });
    const { locations } = scanJson('{\r\n"a":\r1}', opts);
    assert.deepEqual(locations?.get('/a'), { key: { line: 2, column: 1 }, value: { line: 3, column: 1 } });
  });

  const errors: [string, string, RegExp, number, number][] = [
    ['empty', '  ', /the file is empty/, 1, 3],
    ['truncated object', '{"a": 1,', /ends inside the object opened at line 1, column 1/, 1, 9],
    ['truncated string', '{"a": "xy', /ends inside a string/, 1, 7],
    ['missing comma', '{"a": 1 "b": 2}', /expected ',' or '}' after the value of "a", found '"'/, 1, 9],
    // A trailing comma is reported where the comma is, also when the closing bracket is lines later.
    ['trailing comma', '{"a": [1,]}', /trailing comma before '\]'/, 1, 9],
    ['trailing comma in an object', '{"a": 1,\n\n}', /trailing comma before '\}'/, 1, 8],
    ['trailing comma in an array, spaced', '[1 ,\n  ]', /trailing comma before '\]'/, 1, 4],
    ['single quotes', "{'a': 1}", /double quotes/, 1, 2],
    ['comment', '{"a": 1 // no\n}', /comments are not allowed/, 1, 9],
    ['bad escape', '{"a": "\\x"}', /invalid escape '\\x'/, 1, 8],
    ['raw newline in a string', '{"a": "x\ny"}', /runs past the end of the line/, 1, 9],
    ['leading zero', '{"a": 01}', /invalid number/, 1, 7],
    ['garbage after', '{} x', /unexpected 'x' after the end/, 1, 4],
    ['bare word', '{"a": nope}', /expected a value, found 'n'/, 1, 7],
    ['too deep', `${'['.repeat(65)}${']'.repeat(65)}`, /nested more than 64 levels/, 1, 65],
  ];
  for (const [title, text, message, line, column] of errors) {
    test(`syntax error: ${title}`, () => {
      const { error } = scanJson(text, opts);
      assert.ok(error, 'expected an error');
      assert.match(error.message, message);
      assert.deepEqual(error.position, { line, column });
    });
  }

  test('agrees with JSON.parse on what is valid', () => {
    for (const text of [
      '1',
      '"x"',
      '[]',
      '{}',
      '{"a":[true,false,null,-0.5e+3,"\\u00e9\\n"]}',
      ' \t\n{"": {}}\n',
    ]) {
      assert.equal(scanJson(text, opts).error, undefined, text);
      JSON.parse(text);
    }
  });

  test('finds duplicate keys, and a deep document does not overflow the stack', () => {
    const { duplicates } = scanJson('{"a": 1, "b": {"c": 1, "c": 2}, "a": 3}', {
      collect: false,
      maxDepth: 64,
    });
    assert.deepEqual(
      duplicates.map((d) => [d.pointer, d.key, d.position.column, d.first.column]),
      [
        ['/b', 'c', 24, 16],
        ['', 'a', 33, 2],
      ],
    );
    const deep = scanJson('['.repeat(1_000_000), { collect: false, maxDepth: 64 });
    assert.match(deep.error?.message ?? '', /nested more than 64/);
  });
});
