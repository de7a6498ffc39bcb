/**
 * A machine whose clock is behind (trial 13, fault 5), against a real TLS server: an ACME directory served
 * with a certificate whose notBefore is a day ahead (made here; no faked clock). The run names this
 * machine's time and the clock to check, and does not advise caBundle (which is set, and right).
 */
import assert from 'node:assert/strict';
import { webcrypto } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import * as x509 from '@peculiar/x509';
import type { RunReport } from '../../src/report/model.js';
import { tempDir } from '../harness/process.js';
import { hasStackTrace, runCli } from './cli.js';
import { writeManifest } from './fixtures.js';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);
type CryptoKeyPair = webcrypto.CryptoKeyPair;
const ecdsa = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
const DAY = 86_400_000;

function pem(label: string, der: ArrayBuffer): string {
  const body = Buffer.from(der).toString('base64').replace(/.{64}/g, '$&\n');
  return `-----BEGIN ${label}-----\n${body}\n-----END ${label}-----\n`;
}

/** A CA valid now and a server certificate for 127.0.0.1 valid only from tomorrow. */
async function notYetValidServerCertificate(): Promise<{ caPem: string; certPem: string; keyPem: string }> {
  const caKeys = (await webcrypto.subtle.generateKey(ecdsa, true, ['sign', 'verify'])) as CryptoKeyPair;
  const ca = await x509.X509CertificateGenerator.createSelfSigned({
    name: 'CN=clock test CA',
    notBefore: new Date(Date.now() - DAY),
    notAfter: new Date(Date.now() + 30 * DAY),
    keys: caKeys,
    signingAlgorithm: ecdsa,
    extensions: [new x509.BasicConstraintsExtension(true, undefined, true)],
  });
  const keys = (await webcrypto.subtle.generateKey(ecdsa, true, ['sign', 'verify'])) as CryptoKeyPair;
  const leaf = await x509.X509CertificateGenerator.create({
    subject: 'CN=127.0.0.1',
    issuer: ca.subject,
    notBefore: new Date(Date.now() + DAY),
    notAfter: new Date(Date.now() + 30 * DAY),
    publicKey: keys.publicKey,
    signingKey: caKeys.privateKey,
    signingAlgorithm: ecdsa,
    extensions: [new x509.SubjectAlternativeNameExtension([{ type: 'ip', value: '127.0.0.1' }])],
  });
  return {
    caPem: ca.toString('pem'),
    certPem: leaf.toString('pem'),
    keyPem: pem('PRIVATE KEY', await webcrypto.subtle.exportKey('pkcs8', keys.privateKey)),
  };
}

describe('clock behind', () => {
  test('an ACME server whose TLS certificate is not valid yet: the run names the clock, not caBundle', async () => {
    const tmp = await tempDir();
    let server: Server | undefined;
    try {
      const made = await notYetValidServerCertificate();
      server = createServer({ cert: made.certPem, key: made.keyPem }, (_req, res) => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end('{}');
      });
      await new Promise<void>((resolve) => server?.listen(0, '127.0.0.1', resolve));
      const port = (server.address() as AddressInfo).port;
      const caBundle = join(tmp.path, 'ca.pem');
      await writeFile(caBundle, made.caPem);
      const manifest = await writeManifest(tmp.path, {
        version: 1,
        defaults: { issuer: 'acme', store: 'files' },
        issuers: {
          acme: {
            type: 'acme',
            directory: `https://127.0.0.1:${port}/dir`,
            email: 'ops@example.test',
            caBundle,
            challenge: { type: 'http-01', standalone: '127.0.0.1:5002' },
          },
        },
        stores: { files: { type: 'filesystem', path: join(tmp.path, 'certs') } },
        certificates: [{ name: 'web', domains: ['web.example.test'] }],
      });
      const r = await runCli(['-m', manifest, 'run', '--json']);
      assert.equal(r.code, 1, r.stderr + r.stdout);
      assert.ok(!hasStackTrace(r.stderr), r.stderr);
      const report = JSON.parse(r.stdout) as RunReport;
      const message = report.certificates[0]?.error?.message ?? '';
      assert.match(message, /not valid yet by this machine's clock \(CERT_NOT_YET_VALID\)/);
      assert.match(message, /this machine's clock says \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ \(UTC\)/);
      assert.match(message, /timedatectl/);
      assert.doesNotMatch(message, /caBundle/);
      assert.doesNotMatch(r.stderr, /caBundle/);
    } finally {
      await new Promise((resolve) => (server ? server.close(resolve) : resolve(undefined)));
      await tmp.remove();
    }
  });
});
