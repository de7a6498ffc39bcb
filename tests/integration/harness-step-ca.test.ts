import * as assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { request } from 'node:https';
import { after, before, describe, test } from 'node:test';
import { type StepCa, startStepCa, stepCaBinaryPath } from '../harness/step-ca.js';

/** GET over TLS trusting only `ca`; resolves status and body. */
function get(url: string, ca: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { ca, timeout: 5000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        body += chunk;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

describe('step-ca harness', () => {
  let ca: StepCa;
  before(async () => {
    ca = await startStepCa({ maxDuration: '48h' });
  });
  after(() => ca?.stop());

  test('the binary lives in the cache named by CERT_RENEW_CACHE', () => {
    assert.equal(stepCaBinaryPath({ CERT_RENEW_CACHE: '/c' }), '/c/step-ca/bin/step-ca');
    assert.equal(stepCaBinaryPath({ XDG_CACHE_HOME: '/x', HOME: '/h' }), '/x/cert-renew/step-ca/bin/step-ca');
    assert.equal(stepCaBinaryPath({ HOME: '/h' }), '/h/.cache/cert-renew/step-ca/bin/step-ca');
  });

  test('answers /health over TLS that verifies against its root for 127.0.0.1', async () => {
    assert.match(ca.url, /^https:\/\/127\.0\.0\.1:\d+$/);
    const health = await get(`${ca.url}/health`, ca.rootPem);
    assert.equal(health.status, 200);
    assert.deepEqual(JSON.parse(health.body), { status: 'ok' });
  });

  test('serves its root at /root/<sha256 fingerprint>', async () => {
    const answer = await get(`${ca.url}/root/${ca.rootFingerprint}`, ca.rootPem);
    assert.equal(answer.status, 200);
    const served = new X509Certificate(JSON.parse(answer.body).ca as string);
    assert.ok(served.raw.equals(new X509Certificate(ca.rootPem).raw));
    assert.match(ca.rootFingerprint, /^[0-9a-f]{64}$/);
  });

  test('lists the JWK provisioner with its encrypted key', async () => {
    const answer = await get(`${ca.url}/1.0/provisioners`, ca.rootPem);
    const list = JSON.parse(answer.body) as {
      provisioners: { type: string; name: string; encryptedKey?: string }[];
    };
    const jwk = list.provisioners.find((p) => p.name === ca.provisioner);
    assert.equal(jwk?.type, 'JWK');
    assert.ok(jwk?.encryptedKey);
  });

  test('comes back on the same port after restart()', async () => {
    await ca.restart();
    const health = await get(`${ca.url}/health`, ca.rootPem);
    assert.equal(health.status, 200);
  });
});

describe('step-ca harness: ACME provisioner', () => {
  let ca: StepCa;
  before(async () => {
    ca = await startStepCa({ acme: true, allowRenewalAfterExpiry: true, defaultDuration: '2h' });
  });
  after(() => ca?.stop());

  test('serves an ACME directory', async () => {
    assert.equal(ca.acmeDirectoryUrl, `${ca.url}/acme/acme/directory`);
    const answer = await get(ca.acmeDirectoryUrl, ca.rootPem);
    assert.equal(answer.status, 200);
    const directory = JSON.parse(answer.body) as Record<string, string>;
    assert.ok(directory.newNonce?.startsWith(ca.url));
    assert.ok(directory.newOrder);
  });
});
