import assert from 'node:assert/strict';
import { test } from 'node:test';
import { groupBy } from '../../src/util/group.js';

test('groupBy: keys in order of first appearance, items in their order, every item once', () => {
  const groups = groupBy(['b1', 'a1', 'b2', 'c1', 'a2'], (s) => s[0]);
  assert.deepEqual(
    [...groups],
    [
      ['b', ['b1', 'b2']],
      ['a', ['a1', 'a2']],
      ['c', ['c1']],
    ],
  );
  assert.deepEqual([...groupBy([], (s: string) => s)], []);
});

test('groupBy is linear: 100,000 items under one key', () => {
  const items = Array.from({ length: 100_000 }, (_, i) => i);
  const groups = groupBy(items, () => 'one');
  assert.equal(groups.get('one')?.length, 100_000);
  assert.equal(groups.get('one')?.[99_999], 99_999);
});
