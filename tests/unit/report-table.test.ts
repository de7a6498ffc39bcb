import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import { isoSecond } from '../../src/policy/checks.js';
import { jsonPieces } from '../../src/report/reporter.js';
import { painterFor, renderTable, shortDate, tablePieces } from '../../src/report/table.js';

test('renderTable aligns columns by visible width, with and without colour codes', async () => {
  for (const colour of [false, true]) {
    const c = await painterFor(colour);
    const text = renderTable(
      ['NAME', 'ACTION', 'WHY'],
      [
        ['a', c.green('keep'), 'fine'],
        ['longer-name', c.yellow('renew'), 'due'],
      ],
    );
    const plain = text.replace(/\u001b\[[0-9;]*m/g, '');
    assert.equal(plain, 'NAME         ACTION  WHY\na            keep    fine\nlonger-name  renew   due\n');
    assert.equal(text.includes('\u001b['), colour);
  }
});

test('isoSecond drops the milliseconds of any date toISOString can show', () => {
  assert.equal(isoSecond(new Date('2026-11-30T12:34:56.789Z')), '2026-11-30T12:34:56Z');
  assert.equal(isoSecond(new Date('1999-01-01T00:00:00.000Z')), '1999-01-01T00:00:00Z');
  assert.equal(isoSecond(new Date(Date.UTC(10000, 0, 1, 0, 0, 1, 5))), '+010000-01-01T00:00:01Z');
});

test('a table in pieces: whole lines, at most 256 a piece, the same text as renderTable', () => {
  const rows = Array.from({ length: 600 }, (_, i) => [
    `site-${i}`,
    i % 7 === 0 ? '' : 'x'.repeat(i % 13),
    `${i}`,
  ]);
  const pieces = [...tablePieces(['NAME', 'MID', 'LAST'], rows.length, (i) => rows[i] as string[])];
  assert.ok(pieces.length >= 3);
  for (const piece of pieces) {
    assert.ok(piece.endsWith('\n'));
    assert.ok(piece.split('\n').length - 1 <= 256);
  }
  const text = pieces.join('');
  assert.equal(text, renderTable(['NAME', 'MID', 'LAST'], rows));
  const lines = text.split('\n');
  assert.equal(lines.length, 602);
  assert.equal(lines[0], 'NAME      MID           LAST');
  assert.equal(lines[1], 'site-0                  0');
  assert.equal(lines[2], 'site-1    x             1');
  assert.deepEqual([...tablePieces(['A', 'B'], 0, () => [])], ['A  B\n']);
});

test('JSON in pieces is JSON.stringify(value, null, 2) and a newline, character for character', () => {
  const item = (i: number) => ({
    name: `site-${i}`,
    domains: [`a${i}.example`, 'b.example'],
    action: i % 2 ? 'keep' : 'renew',
    notAfter: new Date(Date.UTC(2027, 0, 1 + (i % 28))),
    skipped: undefined,
    nested: { deep: [1, { x: 'é\u001b"\\' }], empty: {}, none: [] },
    hosts: i % 3 ? [] : [{ host: 'web-1', state: 'current' }],
  });
  const values: unknown[] = [
    {
      version: 1,
      generatedAt: '2026-11-30T00:00:00.000Z',
      summary: { total: 3 },
      items: Array.from({ length: 200 }, (_, i) => item(i)),
    },
    { items: [] },
    { items: [undefined, null, () => 1, 'text', 7] },
    {},
    { absent: undefined, fn: () => 1 },
    { first: [1, 2], second: 'x', third: [[], [[]]], fourth: { a: [] } },
    { withDate: new Date(0), toJSONed: { toJSON: () => ({ replaced: true }) } },
    [1, 2, { a: 3 }],
    'a string',
    42,
    null,
    { dated: Object.assign([1, 2], { toJSON: () => 'as text' }) },
    Object.assign(Object.create(null), { bare: [1], b: 2 }),
    { toJSON: () => ({ whole: 'object replaced' }) },
  ];
  for (const value of values) {
    const pieces = [...jsonPieces(value)];
    assert.equal(pieces.join(''), `${JSON.stringify(value, null, 2)}\n`);
  }
  assert.ok([...jsonPieces(values[0])].length >= 4, 'the 200 items come in pieces of 64');
});

test('shortDate keeps the minute of an ISO 8601 time, with or without milliseconds', () => {
  assert.equal(shortDate('2027-02-28T11:32:20.000Z'), '2027-02-28 11:32Z');
  assert.equal(shortDate('2027-02-28T11:32:20Z'), '2027-02-28 11:32Z');
  assert.equal(shortDate('2027-02-28T11:32:20.5Z'), '2027-02-28 11:32Z');
  assert.equal(shortDate('+010000-01-01T00:00:00.000Z'), '+010000-01-01 00:00Z');
  assert.equal(shortDate(undefined), '-');
  assert.equal(shortDate(''), '-');
});
