/**
 * `cert-renew revoke` against a real Pebble (issue 13): keyCompromise revokes at the CA (Pebble's
 * management interface says so), the replacement has a new key although reuseKey is true, hooks ran, status
 * shows the revoked certificate in the history and the current one valid; a certificate ordered by another
 * account is revoked with its own key.
 */
import assert from 'node:assert/strict';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Manifest } from '../../src/manifest/types.js';
import type { RevokeReport } from '../../src/report/lifecycle.js';
import type { StatusReport } from '../../src/report/status.js';
import { httpsGet, type Pebble, startPebble } from '../harness/pebble.js';
import { type TempDir, tempDir } from '../harness/process.js';
import { normalizeSerial } from '../harness/tls.js';
import { acmeManifest, loggingHook, pebbleIssuer, standalone } from './acme-e2e-fixtures.js';
import { hasStackTrace, runCli } from './cli.js';
import { logLines, parseReport, readStored } from './e2e-helpers.js';
import { writeManifest } from './fixtures.js';

const json = parseReport;

describe('revoke against Pebble', () => {
  let pebble: Pebble;
  let tmp: TempDir;
  let store: string;
  let hookLog: string;
  let manifest: (email: string) => Manifest;
  let manifestPath: string;
  /** What Pebble's management interface says about a serial (hex as the harness prints it). */
  const pebbleStatus = async (serial: string) =>
    JSON.parse(
      await httpsGet(
        `${pebble.managementUrl}/cert-status-by-serial/${serial.toLowerCase()}`,
        pebble.caBundlePem,
      ),
    ) as { Status?: string; Reason?: number };

  before(async () => {
    tmp = await tempDir('cert-renew-revoke-acme-');
    pebble = await startPebble();
    store = join(tmp.path, 'certs');
    hookLog = join(tmp.path, 'hook.log');
    const hook = await loggingHook(tmp.path, hookLog);
    manifest = (email) =>
      acmeManifest(
        pebbleIssuer(pebble, standalone(pebble), { email }),
        store,
        [
          { name: 'web', domains: ['web.example.test'], reuseKey: true },
          { name: 'other', domains: ['other.example.test'] },
        ],
        { postRenew: [{ run: [hook] }] },
      );
    manifestPath = await writeManifest(tmp.path, manifest('ops@example.test'));
    const r = await runCli(['-m', manifestPath, 'run']);
    assert.equal(r.code, 0, r.stderr);
  });
  after(async () => {
    await pebble?.stop();
    await tmp?.remove();
  });

  test('keyCompromise: revoked at Pebble, replaced with a new key although reuseKey is true, hooks ran', async () => {
    const old = await readStored(store, 'web');
    assert.equal((await pebbleStatus(old.serial)).Status, 'Valid');
    const hooksBefore = (await logLines(hookLog)).length;
    const r = await runCli([
      '-m',
      manifestPath,
      'revoke',
      'web',
      '--reason',
      'keyCompromise',
      '--yes',
      '--json',
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(!hasStackTrace(r.stderr));
    const report = json<RevokeReport>(r.stdout);
    assert.deepEqual(
      report.certificates.map((c) => [c.name, c.outcome, normalizeSerial(c.serial ?? ''), c.via]),
      [['web', 'revoked', old.serial, 'acme revokeCert (account key)']],
    );
    assert.equal(report.run?.certificates[0]?.outcome, 'renewed');
    assert.equal(report.run?.exitCode, 0);

    const status = await pebbleStatus(old.serial);
    assert.equal(status.Status, 'Revoked', JSON.stringify(status));

    const now = await readStored(store, 'web');
    assert.ok(now.keyMatches);
    assert.notEqual(now.serial, old.serial);
    assert.notEqual(now.keyPem, old.keyPem, 'a key revoked for keyCompromise is never reused');
    assert.equal((await pebbleStatus(now.serial)).Status, 'Valid');
    const hooks = await logLines(hookLog);
    assert.deepEqual(hooks.slice(hooksBefore), ['post-renew web']);

    const s = await runCli(['-m', manifestPath, 'status', '--check', '--json']);
    assert.equal(s.code, 0, s.stdout + s.stderr);
    const web = json<StatusReport>(s.stdout).certificates.find((c) => c.name === 'web');
    assert.equal(web?.health, 'valid');
    assert.deepEqual(
      web?.revocations?.map((x) => [normalizeSerial(x.serial), x.reason]),
      [[old.serial, 'keyCompromise']],
    );
  });

  test('a stored account the CA does not know (accountDoesNotExist): revoked with the certificate key', async () => {
    manifestPath = await writeManifest(tmp.path, manifest('ops@example.test'));
    const web = await readStored(store, 'web');
    // The CA lost (or deactivated) the account: its URL no longer names one.
    const blobPath = join(store, '.cert-renew', 'blobs', 'account', 'pebble', 'ops%40example.test');
    const blob = JSON.parse(await readFile(blobPath, 'utf8')) as { url: string };
    await writeFile(
      blobPath,
      JSON.stringify({ ...blob, url: `${new URL(blob.url).origin}/my-account/gone` }),
    );
    const r = await runCli([
      '-m',
      manifestPath,
      'revoke',
      'web',
      '--reason',
      'superseded',
      '--no-renew',
      '--yes',
      '--json',
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(json<RevokeReport>(r.stdout).certificates[0]?.via, 'acme revokeCert (certificate key)');
    assert.match(r.stderr, /the CA does not know the stored account; revoking with the certificate's key/);
    assert.equal((await pebbleStatus(web.serial)).Status, 'Revoked');
    // The next run replaces it, registering the account again.
    const run = await runCli(['-m', manifestPath, 'run']);
    assert.equal(run.code, 0, run.stderr);
    assert.notEqual((await readStored(store, 'web')).serial, web.serial);
  });

  test('a certificate another account ordered is revoked with its own key; --no-renew leaves it critical', async () => {
    const other = await readStored(store, 'other');
    // Another contact email: another ACME account, which did not order 'other'.
    manifestPath = await writeManifest(tmp.path, manifest('someone-else@example.test'));
    const r = await runCli([
      '-m',
      manifestPath,
      'revoke',
      'other',
      '--reason',
      'cessationOfOperation',
      '--no-renew',
      '--yes',
      '--json',
    ]);
    assert.equal(r.code, 0, r.stderr);
    const report = json<RevokeReport>(r.stdout);
    assert.equal(report.certificates[0]?.via, 'acme revokeCert (certificate key)');
    assert.equal(report.run, undefined);
    assert.equal((await pebbleStatus(other.serial)).Status, 'Revoked');
    const s = await runCli(['-m', manifestPath, 'status', '--check']);
    assert.equal(s.code, 2, s.stdout);
    assert.match(s.stdout, /^other\s.*critical\s+revoked \(cessationOfOperation\)/m);
    // Revoking it again: the CA says it already is; exit 1, one line.
    const again = await runCli([
      '-m',
      manifestPath,
      'revoke',
      'other',
      '--reason',
      'superseded',
      '--no-renew',
      '--yes',
    ]);
    assert.equal(again.code, 1, again.stdout);
    assert.match(again.stderr, /already revoked .*recorded as revoked \(cessationOfOperation\)/);
    assert.ok(!hasStackTrace(again.stderr));
  });

  test('revoked at the CA but not recorded in the store (lost, or revoked by another tool): plan cannot know; revoke records and replaces it', async () => {
    // Continues from the test above: 'other' is revoked at Pebble and recorded.
    const revoked = await readStored(store, 'other');
    assert.equal((await pebbleStatus(revoked.serial)).Status, 'Revoked');
    await rm(join(store, 'other', 'revocations.json'));
    const plan = json<{ items: { name: string; action: string }[] }>(
      (await runCli(['-m', manifestPath, 'plan', '--json', '--only', 'other'])).stdout,
    );
    assert.equal(plan.items[0]?.action, 'keep', 'nothing here knows it is revoked');

    const r = await runCli([
      '-m',
      manifestPath,
      'revoke',
      'other',
      '--reason',
      'superseded',
      '--yes',
      '--json',
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /already revoked; recording it and replacing the certificate/);
    const report = json<RevokeReport>(r.stdout);
    assert.deepEqual(
      report.certificates.map((c) => [c.name, c.outcome, normalizeSerial(c.serial ?? ''), c.via]),
      [['other', 'revoked', revoked.serial, 'already revoked at pebble']],
    );
    assert.equal(report.run?.certificates[0]?.outcome, 'renewed');
    const now = await readStored(store, 'other');
    assert.notEqual(now.serial, revoked.serial);
    assert.equal((await pebbleStatus(now.serial)).Status, 'Valid');
    const status = json<StatusReport>((await runCli(['-m', manifestPath, 'status', '--json'])).stdout);
    const other = status.certificates.find((c) => c.name === 'other');
    assert.equal(other?.health, 'valid');
    assert.deepEqual(
      other?.revocations?.map((x) => [normalizeSerial(x.serial), x.reason]),
      [[revoked.serial, 'superseded']],
    );
  });
});
