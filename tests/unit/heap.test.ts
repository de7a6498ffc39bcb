/**
 * runtime/heap.ts: V8's growth flags set for a manifest of at least LARGE_RUN certificates, never for a
 * smaller one, text that is not a manifest, or when the operator sized the heap; and set back, so that a
 * V8 code cache made after the command is one a run with V8's default flags takes (which is what
 * bin/cert-renew relies on). Observed through V8 itself: its code cache is keyed to the flags in force.
 * (Each test file runs in its own process, so the flags set here touch no other test.)
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Script } from 'node:vm';
import { fitHeapToManifest, LARGE_RUN, restoreHeapFlags } from '../../src/runtime/heap.js';

function manifest(count: number): string {
  return JSON.stringify({
    version: 1,
    certificates: Array.from({ length: count }, (_, i) => ({
      name: `c${i}`,
      domains: [`c${i}.example.test`],
    })),
  });
}

const SOURCE = 'function probe(){ return 6 * 7 } probe(); //';
let compiled = 0;

/** A code cache of SOURCE made under the flags now in force. */
function cacheNow(): Buffer {
  const script = new Script(`${SOURCE}${String(compiled++).padStart(4, '0')}`);
  script.runInThisContext();
  return script.createCachedData();
}

/**
 * Whether V8 takes `data` with the flags now in force. Each call compiles a source text not compiled
 * before (V8 would otherwise answer from its in-process compilation cache, without looking at `data`) of
 * the same length (V8 keys its code cache to the source's length, not its text).
 */
function takes(data: Buffer): boolean {
  const script = new Script(`${SOURCE}${String(compiled++).padStart(4, '0')}`, { cachedData: data });
  return !script.cachedDataRejected;
}

test('a manifest below LARGE_RUN certificates, or not a manifest, changes nothing', () => {
  const data = cacheNow();
  for (const text of [
    manifest(LARGE_RUN - 1),
    manifest(3),
    `${manifest(LARGE_RUN)}}`, // not JSON
    JSON.stringify({ certificates: 'many', padding: 'x'.repeat(100_000) }),
    JSON.stringify(Array.from({ length: LARGE_RUN }, () => ({}))), // no certificates array
  ]) {
    assert.equal(fitHeapToManifest(text, []), false);
    assert.ok(takes(data), 'flags as they were');
  }
});

test("an operator who sized the heap (node's flags or NODE_OPTIONS) keeps it", () => {
  const text = manifest(LARGE_RUN);
  assert.equal(fitHeapToManifest(text, ['--max-semi-space-size=8']), false);
  assert.equal(fitHeapToManifest(text, ['--max-old-space-size=512']), false);
  assert.equal(fitHeapToManifest(text, ['--enable-source-maps', '--heap-growing-percent=30']), false);
  assert.equal(fitHeapToManifest(text, ['', '--semi-space-growth-factor=4']), false);
  // V8 takes `_` for `-` in a flag's name, and so does node on its command line and in NODE_OPTIONS.
  assert.equal(fitHeapToManifest(text, ['--max_old_space_size=4096']), false);
  assert.equal(fitHeapToManifest(text, ['--max_semi_space_size=8']), false);
  assert.equal(fitHeapToManifest(text, ['--heap_growing_percent=30']), false);
  assert.equal(fitHeapToManifest(text, ['--semi-space_growth-factor=4']), false);
  assert.equal(fitHeapToManifest(text, ['--max-old-space-size', '512']), false);
});

test('LARGE_RUN certificates set the flags once; restoring gives V8 its defaults back', () => {
  const before = cacheNow();
  assert.ok(takes(before));

  assert.equal(fitHeapToManifest(manifest(LARGE_RUN), ['--enable-source-maps', '']), true);
  assert.equal(takes(before), false, 'V8 runs with other flags');
  assert.equal(fitHeapToManifest(manifest(LARGE_RUN * 2), []), false, 'once');

  restoreHeapFlags();
  assert.ok(takes(before), 'default flags again');
  restoreHeapFlags(); // nothing to restore: still the defaults
  assert.ok(takes(before));
});

test('a manifest that starts with a byte order mark (which the manifest check allows) is counted too', () => {
  const before = cacheNow();
  assert.equal(fitHeapToManifest(`\uFEFF${manifest(LARGE_RUN)}`, []), true);
  assert.equal(takes(before), false, 'V8 runs with other flags');
  restoreHeapFlags();
  assert.ok(takes(before), 'default flags again');
});
