/** Durations that fit the pattern but not the clock are errors in validate, not crashes at issue time. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { checkManifestText } from '../../src/manifest/validate.js';
import { DURATION_PATTERN, parseDuration, UNIT_MS } from '../../src/util/duration.js';
import { REPO } from '../e2e/cli.js';

test('an absurdly long duration is a located error', () => {
  const manifest = JSON.parse(readFileSync(`${REPO}examples/quickstart.json`, 'utf8'));
  manifest.issuers.local.lifetime = '999999999d';
  manifest.certificates[0].hooks = { postRenew: [{ run: ['true'], timeout: '36500d' }] };
  const text = JSON.stringify(manifest, null, 2);
  const { diagnostics } = checkManifestText(text, 'm.json', { intervalMs: 86_400_000 });
  const errors = diagnostics.filter((d) => d.severity === 'error');
  assert.deepEqual(
    errors.map((d) => d.pointer),
    ['/issuers/local/lifetime'],
  );
  assert.match(errors[0]?.message ?? '', /too long/);
  assert.ok(errors[0]?.line && errors[0].line > 1);
});

test('parseDuration reads exactly what DURATION_PATTERN (the schema) allows, for every short text of its characters', () => {
  const pattern = new RegExp(DURATION_PATTERN);
  const expected = (text: string): number | undefined => {
    if (!pattern.test(text)) return undefined;
    let total = 0;
    for (const [, digits, unit] of text.matchAll(/([0-9]+)(ms|s|m|h|d|w)/g))
      total += Number(digits) * (UNIT_MS[unit as string] as number);
    return Number.isSafeInteger(total) ? total : undefined;
  };
  const alphabet = ['0', '7', 'm', 's', 'h', 'd', 'w', 'x', ' '];
  let valid = 0;
  const each = (text: string): void => {
    if (text !== '') {
      assert.equal(parseDuration(text), expected(text), JSON.stringify(text));
      if (expected(text) !== undefined) valid++;
    }
    if (text.length < 6) for (const c of alphabet) each(text + c);
  };
  each('');
  assert.ok(valid > 3000, `${valid} valid texts among them`);
  for (const text of [
    '90d',
    '1h30m',
    '500ms',
    '1ms5s',
    '0s',
    '9007199254740993ms',
    `${'9'.repeat(400)}d`,
    '1mss',
    '-1d',
    '1.5h',
    '1D',
  ])
    assert.equal(parseDuration(text), expected(text), text);
});

test('a renewal window too short for three runs at any --interval says to widen it, not an interval it refuses', () => {
  const manifest = JSON.parse(readFileSync(`${REPO}examples/quickstart.json`, 'utf8'));
  manifest.issuers.local.lifetime = '3ms';
  for (const [renewBefore, advice] of [
    ['2ms', /cannot hold three runs at any interval; widen the window/],
    ['1ms', /cannot hold three runs at any interval; widen the window/],
  ] as const) {
    manifest.defaults = { ...manifest.defaults, renewBefore };
    const text = JSON.stringify(manifest, null, 2);
    const { diagnostics } = checkManifestText(text, 'm.json', { intervalMs: 1 });
    const messages = diagnostics.map((d) => d.message).join('\n');
    assert.match(messages, advice, renewBefore);
    assert.doesNotMatch(messages, /--interval 0ms/);
  }
  // A window of 3 ms holds three runs 1 ms apart: that is the advice.
  manifest.issuers.local.lifetime = '4ms';
  manifest.defaults = { ...manifest.defaults, renewBefore: '3ms' };
  const { diagnostics } = checkManifestText(JSON.stringify(manifest, null, 2), 'm.json', {
    intervalMs: 86_400_000,
  });
  assert.match(
    diagnostics.map((d) => d.message).join('\n'),
    /run at least every 1ms \(and validate with --interval 1ms\)/,
  );
});
