/**
 * `import` stopped by a signal: what was imported stays (and is written to the manifest), nothing more is
 * started, and one line says how many were not imported and to run it again — not one "waiting for the
 * lock … was cancelled" error per certificate left. The import is held on a certificate whose lock another
 * process holds, so the signal always comes while it waits.
 */
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { FilesystemStore } from '../../src/stores/filesystem/index.js';
import type { Lock } from '../../src/stores/types.js';
import { testContext } from '../contract/fixtures.js';
import { type TempDir, tempDir } from '../harness/process.js';
import { createCa } from '../harness/tls.js';
import { hasStackTrace, runCli, startCli } from './cli.js';
import { certbotLineage, emptyManifest } from './import-fixtures.js';

const NAMES = Array.from({ length: 6 }, (_, i) => `site${i}.example.test`);
let tmp: TempDir;
let letsencrypt: string;
let manifest: string;

before(async () => {
  tmp = await tempDir('cert-renew-import-interrupt-');
  letsencrypt = join(tmp.path, 'letsencrypt');
  const ca = await createCa(tmp.path);
  for (const name of NAMES) {
    await certbotLineage(
      letsencrypt,
      ca,
      name,
      [name],
      'authenticator = webroot\nwebroot_path = /var/www/html,',
    );
  }
  manifest = await emptyManifest(tmp.path);
});
after(() => tmp?.remove());

test('SIGINT while an import waits for a lock: what was imported stays, one line says what was not', async () => {
  const config = JSON.parse(await readFile(manifest, 'utf8')) as {
    stores: Record<string, { path: string }>;
  };
  const [storeName, storeConfig] = Object.entries(config.stores)[0] as [string, { path: string }];
  const storePath = join(tmp.path, storeConfig.path);
  // Another process's lock on the third certificate (by name order): the import waits there.
  const holder = new FilesystemStore(
    storeName,
    { type: 'filesystem', path: storePath },
    testContext(tmp.path),
  );
  const held = NAMES[2] as string;
  const lock = (await holder.locker().acquire(held, { waitMs: 1_000 })) as Lock;
  assert.ok(lock);
  try {
    const { child, done } = startCli(
      ['-m', manifest, 'import', 'certbot', letsencrypt, '--write', '--ca-bundle', join(tmp.path, 'ca.pem')],
      { cwd: tmp.path },
    );
    // Event-driven enough: the two certificates before the held one are stored first (hang guard: the
    // CLI's own 5 min).
    const stored = async () =>
      (await readdir(storePath).catch(() => [] as string[])).filter((n) => !n.startsWith('.')).length;
    while ((await stored()) < 2) await sleep(100);
    child.kill('SIGINT');
    const result = await done;
    assert.equal(result.code, 1, result.stderr);
    assert.ok(!hasStackTrace(result.stderr), result.stderr);
    assert.doesNotMatch(result.stderr, /waiting for the lock/);
    assert.match(
      result.stderr,
      /interrupted by SIGINT: 4 certificate\(s\) not imported, 2 imported; run the import again to finish/,
    );
  } finally {
    await lock.release();
  }
  // Running it again finishes it.
  const again = await runCli(
    ['-m', manifest, 'import', 'certbot', letsencrypt, '--write', '--ca-bundle', join(tmp.path, 'ca.pem')],
    { cwd: tmp.path },
  );
  assert.equal(again.code, 0, again.stderr);
  const written = JSON.parse(await readFile(manifest, 'utf8')) as { certificates: { name: string }[] };
  assert.equal(written.certificates.length, NAMES.length);
});
