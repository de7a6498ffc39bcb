/** The one duration formatter, in each of its styles (a table of value → text). */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type DurationStyle, formatDuration } from '../../src/util/duration.js';

const S = 1000;
const M = 60 * S;
const H = 60 * M;
const D = 24 * H;

const cases: [DurationStyle, number, string][] = [
  ['short', 0, '0s'],
  ['short', 500, '0s'],
  ['short', 42 * S, '42s'],
  ['short', 3 * H + 5 * M + 7 * S, '3h 5m'],
  ['short', 89 * D + 23 * H + 59 * M, '89d 23h'],
  ['short', D + 5 * M, '1d'],
  ['short', -2 * D, '-2d'],
  ['manifest', 500, '500ms'],
  ['manifest', -5, '0ms'],
  ['manifest', 1500, '1s'],
  ['manifest', 24 * H, '24h'],
  ['manifest', 36 * H, '36h'],
  ['manifest', 90 * D, '90d'],
  ['manifest', 2 * H + 40 * M, '2h40m'],
  ['manifest', 2 * D + H + M + S, '2d1h1m1s'],
  ['table', 0, '0m'],
  ['table', 30 * S, '0m'],
  ['table', 5 * H + 59 * M, '5h'],
  ['table', 42 * D + 23 * H, '42d'],
  ['table', -3 * D, '-3d'],
  ['table', -8 * S, '-<1m'],
  ['short', -500, '-<1s'],
  ['timeout', 250, '250ms'],
  ['timeout', 1500, '1500ms'],
  ['timeout', 30 * S, '30s'],
  ['timeout', 90 * S, '1m30s'],
  ['timeout', 2 * H, '120m'],
];

test('formatDuration: each style', () => {
  for (const [style, ms, text] of cases) {
    assert.equal(formatDuration(ms, style), text, `${style} ${ms}`);
  }
});

test('formatDuration: the short style is the default', () => {
  assert.equal(formatDuration(3 * H + 5 * M), '3h 5m');
});
