/**
 * `cert-renew revoke` against a real step-ca (issue 13): revoked with a JWK provisioner token; step-ca then
 * refuses to renew the old serial over mutual TLS, and the next run signs a new certificate instead.
 */
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { request } from 'node:https';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { RevokeReport } from '../../src/report/lifecycle.js';
import type { RunReport } from '../../src/report/model.js';
import { type TempDir, tempDir } from '../harness/process.js';
import { type StepCa, startStepCa } from '../harness/step-ca.js';
import { normalizeSerial } from '../harness/tls.js';
import { hasStackTrace, runCli } from './cli.js';
import { readStored } from './e2e-helpers.js';
import { writeManifest } from './fixtures.js';

/** POST /1.0/renew over mutual TLS with a certificate and key; resolves with the HTTP status. */
function renewOverMtls(ca: StepCa, certPem: string, keyPem: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(
      `${ca.url}/1.0/renew`,
      {
        method: 'POST',
        ca: ca.rootPem,
        cert: certPem,
        key: keyPem,
        headers: { 'content-type': 'application/json' },
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('error', reject);
    req.end('{}');
  });
}

describe('revoke against step-ca', () => {
  let ca: StepCa;
  let tmp: TempDir;
  let store: string;
  let manifestPath: string;

  before(async () => {
    tmp = await tempDir('cert-renew-revoke-step-ca-');
    ca = await startStepCa();
    store = join(tmp.path, 'certs');
    manifestPath = await writeManifest(tmp.path, {
      version: 1,
      defaults: { issuer: 'step', store: 'files' },
      issuers: {
        step: {
          type: 'step-ca',
          url: ca.url,
          rootFingerprint: ca.rootFingerprint,
          provisioner: ca.provisioner,
          password: { file: ca.passwordFile },
        },
      },
      stores: { files: { type: 'filesystem', path: store } },
      certificates: [{ name: 'svc', domains: ['svc.example.test'] }],
    });
    const r = await runCli(['-m', manifestPath, 'run']);
    assert.equal(r.code, 0, r.stderr);
  });
  after(async () => {
    await ca?.stop();
    await tmp?.remove();
  });

  test('revoked with the JWK provisioner; the old serial can no longer be renewed over mutual TLS', async () => {
    const old = await readStored(store, 'svc');
    const fullchain = old.fullchainPem;
    // Before: step-ca renews it over mutual TLS (the proof that the refusal below is the revocation).
    assert.equal(await renewOverMtls(ca, fullchain, old.keyPem), 201);

    const r = await runCli([
      '-m',
      manifestPath,
      'revoke',
      'svc',
      '--reason',
      'superseded',
      '--no-renew',
      '--yes',
      '--json',
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(!hasStackTrace(r.stderr));
    const report = JSON.parse(r.stdout) as RevokeReport;
    assert.deepEqual(
      report.certificates.map((c) => [c.outcome, normalizeSerial(c.serial ?? ''), c.via]),
      [['revoked', old.serial, 'step-ca revoke (provisioner token)']],
    );

    const status = await renewOverMtls(ca, fullchain, old.keyPem).catch(() => 0);
    assert.ok(
      status === 0 || (status >= 400 && status < 500),
      `step-ca renewed a revoked certificate (${status})`,
    );

    // The store loses the record (or another tool revoked it): step-ca says it is already revoked, and
    // revoke records it again instead of failing and leaving it in service.
    await rm(join(store, 'svc', 'revocations.json'));
    const again = await runCli([
      '-m',
      manifestPath,
      'revoke',
      'svc',
      '--reason',
      'superseded',
      '--no-renew',
      '--yes',
      '--json',
    ]);
    assert.equal(again.code, 0, again.stderr);
    assert.deepEqual(
      (JSON.parse(again.stdout) as RevokeReport).certificates.map((c) => [c.outcome, c.via]),
      [['revoked', 'already revoked at step']],
    );
    assert.match(again.stderr, /already revoked.*; recording it and replacing the certificate/);

    // The next run replaces it by signing anew (not /1.0/renew with the revoked certificate).
    const run = await runCli(['-m', manifestPath, 'run', '--json']);
    assert.equal(run.code, 0, run.stderr);
    const line = (JSON.parse(run.stdout) as RunReport).certificates[0];
    assert.deepEqual([line?.outcome, line?.reason, line?.via], ['renewed', 'revoked', 'step-ca sign']);
    const now = await readStored(store, 'svc');
    assert.notEqual(now.serial, old.serial);
    // superseded is not keyCompromise: step-ca's default reuseKey keeps the key.
    assert.equal(now.keyPem, old.keyPem);
  });
});
