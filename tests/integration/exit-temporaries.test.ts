/**
 * An exit at once (a second stop signal, a stopped `status --metrics-file`) removes the temporary files
 * atomic writes were filling (runtime/exit-cleanup.ts): a write registers its temporary file while it
 * fills it and forgets it once renamed or removed, so only a write cut short is cleaned up. On a real disk.
 */
import assert from 'node:assert/strict';
import { readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { removeTemporaryFilesNow, temporaryUntilExit } from '../../src/runtime/exit-cleanup.js';
import { writeAtomic } from '../../src/stores/filesystem/fs-util.js';
import { type TempDir, tempDir } from '../harness/process.js';

let dir: TempDir;
before(async () => {
  dir = await tempDir('cert-renew-exit-temporaries-');
});
after(() => dir?.remove());

test('a finished atomic write leaves nothing for the exit to remove; one cut short is removed', async () => {
  await writeAtomic(join(dir.path, 'metrics.prom'), 'cert_renew_up 1\n', { mode: 0o644 });
  assert.equal(removeTemporaryFilesNow(), 0, 'renamed: forgotten');
  assert.deepEqual(await readdir(dir.path), ['metrics.prom']);
  // What a write cut short by the exit looks like: its temporary file registered, half written.
  const half = join(dir.path, '.tmp-cut-short');
  await writeFile(half, 'cert_renew_');
  const forget = temporaryUntilExit(half);
  assert.equal(removeTemporaryFilesNow(), 1);
  assert.deepEqual(await readdir(dir.path), ['metrics.prom']);
  forget();
  assert.equal(removeTemporaryFilesNow(), 0);
});
