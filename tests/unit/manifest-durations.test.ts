/** Durations that fit the pattern but not the clock are errors in validate, not crashes at issue time. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { checkManifestText } from '../../src/manifest/validate.js';
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
