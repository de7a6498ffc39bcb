/**
 * Locks that cannot be taken because the store fails (not because another holder has them): the failure
 * is recorded like any other when the store still can record it (`status --check` warns), and when it
 * cannot, the run says so on stderr, marks `attemptNotRecorded` and counts it in the metrics
 * (docs/operations.md). The CLI runs as an unprivileged user (as root: nobody, through setpriv), so
 * permissions stop its writes.
 */
import assert from 'node:assert/strict';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { StatusReport } from '../../src/report/status.js';
import { type TempDir, tempDir } from '../harness/process.js';
import { type CliResult, hasStackTrace, runCli } from './cli.js';
import { parseReport } from './e2e-helpers.js';
import { localManifest, writeManifest } from './fixtures.js';

const UNPRIVILEGED =
  process.getuid?.() === 0 ? ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups'] : [];

function runUnprivileged(args: string[]): Promise<CliResult> {
  return runCli(args, { prefix: UNPRIVILEGED, killAfterMs: 120_000 });
}

describe('a lock the store cannot take', () => {
  let tmp: TempDir;
  before(async () => {
    tmp = await tempDir('cert-renew-lock-faults-');
    await chmod(tmp.path, 0o777);
  });
  after(() => tmp.remove());

  /** A store with `web` issued in it by the unprivileged user, and its manifest and a metrics file. */
  async function issued(label: string) {
    const store = join(tmp.path, label);
    await mkdir(store, { mode: 0o777 });
    await chmod(store, 0o777);
    const manifest = await writeManifest(
      tmp.path,
      localManifest(store, { certificates: [{ name: 'web', domains: ['web.example.test'] }] }),
      `${label}.json`,
    );
    await chmod(manifest, 0o644);
    const metrics = join(tmp.path, `${label}.prom`);
    await writeFile(metrics, '');
    await chmod(metrics, 0o666);
    const r = await runUnprivileged(['-m', manifest, 'run']);
    assert.equal(r.code, 0, r.stderr);
    return { store, manifest, metrics, locks: join(store, '.cert-renew', 'locks') };
  }

  test('EACCES on the lock directory: the failure is recorded, status --check warns', async () => {
    const { manifest, metrics, locks } = await issued('locks-closed');
    await chmod(locks, 0o555);
    const r = await runUnprivileged(['-m', manifest, 'run', '--force', '--json', '--metrics-file', metrics]);
    assert.equal(r.code, 1, r.stderr);
    assert.ok(!hasStackTrace(r.stderr), r.stderr);
    const [failed] = parseReport(r.stdout).certificates;
    assert.equal(failed?.error?.code, 'STORE_UNAVAILABLE');
    assert.match(failed?.error?.message ?? '', /cannot create the lock file: .*\(EACCES\)/);
    assert.equal(failed?.attemptNotRecorded, undefined, 'the certificate directory could record it');
    assert.match(await readFile(metrics, 'utf8'), /^cert_renew_last_run_unrecorded_failures 0$/m);
    const status = await runUnprivileged(['-m', manifest, 'status', '--check']);
    assert.equal(status.code, 1, `status --check warns: ${status.stdout}`);
    const json = await runUnprivileged(['-m', manifest, 'status', '--json']);
    const [item] = (JSON.parse(json.stdout) as StatusReport).certificates;
    assert.equal(item?.failures?.count, 1);
    assert.match(item?.failures?.lastError ?? '', /cannot create the lock file/);
    await chmod(locks, 0o755);
  });

  test('a store that cannot be written at all: said on stderr, attemptNotRecorded, counted in the metrics', async () => {
    const { store, manifest, metrics, locks } = await issued('read-only');
    // As a read-only remount would: neither a lock file nor the attempts record can be written.
    for (const path of [locks, join(store, 'web'), join(store, '.cert-renew'), store])
      await chmod(path, 0o555);
    const r = await runUnprivileged(['-m', manifest, 'run', '--force', '--json', '--metrics-file', metrics]);
    for (const path of [locks, join(store, 'web'), join(store, '.cert-renew'), store])
      await chmod(path, 0o777);
    assert.equal(r.code, 1, r.stderr);
    assert.ok(!hasStackTrace(r.stderr), r.stderr);
    const [failed] = parseReport(r.stdout).certificates;
    assert.equal(failed?.error?.code, 'STORE_UNAVAILABLE');
    assert.match(failed?.error?.message ?? '', /cannot create the lock file/);
    assert.match(failed?.attemptNotRecorded ?? '', /EACCES/);
    assert.match(
      r.stderr,
      /web: .*cannot create the lock file.*; the failed attempt could not be recorded in store 'files' \(status will not show it\)/,
    );
    assert.match(await readFile(metrics, 'utf8'), /^cert_renew_last_run_unrecorded_failures 1$/m);
  });
});
