/**
 * Hooks at any scale (issue 10): what a hook receives never depends on how many certificates a run
 * touches. 3,000 certificates with long names renewed in one run behind one shared hook (whose
 * `CERT_RENEW_NAMES` alone would pass Linux's 128 KiB limit for one variable), and 1,000 failing
 * certificates behind one onFailure hook: each hook runs once and reads every name from its list file.
 */
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Manifest } from '../../src/manifest/types.js';
import { type TempDir, tempDir } from '../harness/process.js';
import { hasStackTrace, runCli } from './cli.js';
import { parseReport } from './e2e-helpers.js';
import { writeManifest } from './fixtures.js';

/** `tenant-00042-production-frontend-eu-west-1-loadbalancer-a` and so on: 58 characters each. */
const longName = (i: number) =>
  `tenant-${String(i).padStart(5, '0')}-production-frontend-eu-west-1-loadbalancer-a`;

function manifest(store: string, count: number, hooks: Manifest['defaults']): Manifest {
  return {
    version: 1,
    defaults: { issuer: 'local', store: 'files', keyType: 'ecdsa-p256', ...hooks },
    issuers: { local: { type: 'local-ca', lifetime: '30d' } },
    stores: { files: { type: 'filesystem', path: store } },
    certificates: Array.from({ length: count }, (_, i) => ({
      name: longName(i),
      domains: [`${longName(i)}.example.test`],
    })),
  };
}

describe('hooks at scale', () => {
  let tmp: TempDir;
  before(async () => {
    tmp = await tempDir('cert-renew-e2e-scale-');
  });
  after(() => tmp?.remove());

  test('3,000 certificates behind one shared hook: exit 0, the hook runs once and reads every name', async () => {
    const out = join(tmp.path, 'names.seen');
    const runs = join(tmp.path, 'runs.log');
    const path = await writeManifest(
      tmp.path,
      manifest(join(tmp.path, 'certs'), 3000, {
        hooks: {
          postRenew: [
            {
              name: 'reload',
              run: [
                '/bin/sh',
                '-c',
                `cp "$CERT_RENEW_NAMES_FILE" '${out}'; echo "$CERT_RENEW_COUNT \${CERT_RENEW_NAMES:-unset}" >> '${runs}'`,
              ],
            },
          ],
        },
      }),
      'many.json',
    );
    const r = await runCli(['-m', path, 'run', '--json', '--concurrency', '16', '--host-id', 'h'], {
      killAfterMs: 900_000,
    });
    assert.equal(r.code, 0, r.stderr.slice(-2000));
    assert.ok(!hasStackTrace(r.stderr));
    const report = parseReport(r.stdout);
    assert.equal(report.summary.renewed, 3000);
    assert.equal(report.hooks.length, 1);
    assert.equal(report.hooks[0]?.ok, true, JSON.stringify(report.hooks[0]));
    const seen = (await readFile(out, 'utf8')).trim().split('\n');
    assert.deepEqual(
      seen,
      Array.from({ length: 3000 }, (_, i) => longName(i)),
    );
    // One run; the list is too long for one variable (3,000 × 59 bytes > 32 KiB), so it is left out.
    assert.deepEqual((await readFile(runs, 'utf8')).trim().split('\n'), ['3000 unset']);
  });

  test('1,000 failing certificates behind one onFailure hook: it runs once and reads every failure', async () => {
    // A store path that is a file: every certificate fails (nothing can be read or written there).
    const notADir = join(tmp.path, 'not-a-directory');
    await writeFile(notADir, 'a file\n');
    const out = join(tmp.path, 'failures.seen');
    const runs = join(tmp.path, 'alerts.log');
    const path = await writeManifest(
      tmp.path,
      manifest(notADir, 1000, {
        hooks: {
          onFailure: [
            {
              name: 'page',
              run: [
                '/bin/sh',
                '-c',
                `cp "$CERT_RENEW_FAILURES_FILE" '${out}'; echo "$CERT_RENEW_FAILED_COUNT" >> '${runs}'`,
              ],
            },
          ],
        },
      }),
      'failing.json',
    );
    const r = await runCli(['-m', path, 'run', '--json', '--host-id', 'h'], { killAfterMs: 600_000 });
    assert.equal(r.code, 1, r.stderr.slice(-2000));
    assert.ok(!hasStackTrace(r.stderr));
    const report = parseReport(r.stdout);
    assert.equal(report.summary.failed, 1000);
    assert.deepEqual(
      report.hooks.map((h) => [h.name, h.event, h.ok]),
      [['page', 'on-failure', true]],
    );
    const lines = (await readFile(out, 'utf8')).trim().split('\n');
    assert.equal(lines.length, 1000);
    for (const [i, line] of lines.entries()) assert.ok(line.startsWith(`${longName(i)}: `), line);
    assert.deepEqual((await readFile(runs, 'utf8')).trim().split('\n'), ['1000']);
  });
});
