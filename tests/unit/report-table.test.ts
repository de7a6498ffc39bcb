import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import { isoSecond } from '../../src/policy/checks.js';
import { painterFor, renderTable } from '../../src/report/table.js';

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
