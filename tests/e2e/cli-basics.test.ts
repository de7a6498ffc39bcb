/** The CLI's surface: version, help, the manifest option and its environment variable, usage errors. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { tempDir } from '../harness/process.js';
import { hasStackTrace, REPO, runCli } from './cli.js';
import { localManifest, writeManifest } from './fixtures.js';

describe('cli basics', () => {
  test('--version prints the package version; --help lists the commands', async () => {
    const version = (JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { version: string })
      .version;
    const v = await runCli(['--version']);
    assert.equal(v.code, 0);
    assert.equal(v.stdout.trim(), version);
    const h = await runCli(['--help']);
    assert.equal(h.code, 0);
    for (const command of ['validate', 'plan', 'run', 'status', 'show'])
      assert.match(h.stdout, new RegExp(`\\b${command}\\b`));
    assert.match(h.stdout, /--manifest/);
  });

  test('the manifest comes from -m, else CERT_RENEW_MANIFEST, else ./certificate-manifest.json', async () => {
    const tmp = await tempDir();
    try {
      const path = await writeManifest(tmp.path, localManifest(join(tmp.path, 'certs')));
      const fromEnv = await runCli(['plan', '--json'], { env: { CERT_RENEW_MANIFEST: path } });
      assert.equal(fromEnv.code, 0, fromEnv.stderr);
      assert.equal(JSON.parse(fromEnv.stdout).items.length, 2);
      const fromCwd = await runCli(['plan', '--json'], { cwd: tmp.path });
      assert.equal(fromCwd.code, 0, fromCwd.stderr);
      const missing = await runCli(['plan'], { cwd: join(tmp.path, 'certs', '..', '..') });
      assert.equal(missing.code, 2);
      assert.match(missing.stderr, /certificate-manifest\.json/);
    } finally {
      await tmp.remove();
    }
  });

  test('usage errors exit 2 without a stack trace', async () => {
    for (const args of [
      ['frobnicate'],
      ['run', '--concurrency', '0'],
      ['run', '--timeout', 'soon'],
      ['plan', '--shard', '5/4'],
      ['validate', '--format', 'xml'],
    ]) {
      const r = await runCli(args);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.ok(!hasStackTrace(r.stderr), r.stderr);
    }
  });
});
