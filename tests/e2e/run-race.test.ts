/**
 * A run whose post-renew hooks run after another command replaced the stored version (trial 13, fault 4):
 * this host's deployment entry must not say it deployed the older version over the other command's record.
 */
import assert from 'node:assert/strict';
import { webcrypto } from 'node:crypto';
import { access, chmod, readFile, writeFile } from 'node:fs/promises';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import * as x509 from '@peculiar/x509';
import type { StatusReport } from '../../src/report/status.js';
import { tempDir } from '../harness/process.js';
import { normalizeSerial } from '../harness/tls.js';
import { runCli, startCli } from './cli.js';
import { readStored } from './e2e-helpers.js';
import { localManifest, writeManifest } from './fixtures.js';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);
type CryptoKeyPair = webcrypto.CryptoKeyPair;
const ecdsa = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };

/** A CA and a server certificate for 127.0.0.1 signed by it, both valid now. */
async function testServerCertificate(): Promise<{ caPem: string; certPem: string; keyPem: string }> {
  const caKeys = (await webcrypto.subtle.generateKey(ecdsa, true, ['sign', 'verify'])) as CryptoKeyPair;
  const ca = await x509.X509CertificateGenerator.createSelfSigned({
    name: 'CN=race test CA',
    notBefore: new Date(Date.now() - 3_600_000),
    notAfter: new Date(Date.now() + 86_400_000),
    keys: caKeys,
    signingAlgorithm: ecdsa,
    extensions: [new x509.BasicConstraintsExtension(true, undefined, true)],
  });
  const keys = (await webcrypto.subtle.generateKey(ecdsa, true, ['sign', 'verify'])) as CryptoKeyPair;
  const leaf = await x509.X509CertificateGenerator.create({
    subject: 'CN=127.0.0.1',
    issuer: ca.subject,
    notBefore: new Date(Date.now() - 3_600_000),
    notAfter: new Date(Date.now() + 86_400_000),
    publicKey: keys.publicKey,
    signingKey: caKeys.privateKey,
    signingAlgorithm: ecdsa,
    extensions: [new x509.SubjectAlternativeNameExtension([{ type: 'ip', value: '127.0.0.1' }])],
  });
  const der = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey)).toString('base64');
  return {
    caPem: ca.toString('pem'),
    certPem: leaf.toString('pem'),
    keyPem: `-----BEGIN PRIVATE KEY-----\n${der.replace(/.{64}/g, '$&\n')}\n-----END PRIVATE KEY-----\n`,
  };
}

/** Resolves once `path` exists; rejects after `guardMs` (a hang guard, not a timing assertion). */
async function appears(path: string, guardMs = 90_000): Promise<void> {
  const until = Date.now() + guardMs;
  for (;;) {
    try {
      await access(path);
      return;
    } catch {
      if (Date.now() > until) throw new Error(`${path} never appeared`);
      await sleep(100);
    }
  }
}

describe('a run racing a revoke', () => {
  test('the hook held while revoke replaces the certificate: status does not say the host serves the revoked serial', async () => {
    const tmp = await tempDir();
    const cleanup: (() => Promise<void>)[] = [];
    try {
      const store = join(tmp.path, 'certs');
      const arm = join(tmp.path, 'arm');
      const held = join(tmp.path, 'held');
      const gate = join(tmp.path, 'gate');
      const log = join(tmp.path, 'hook.log');
      const hook = join(tmp.path, 'hold.sh');
      // The first hook run after `arm` exists waits for `gate` (mkdir: exactly one run holds); others pass.
      await writeFile(
        hook,
        `#!/bin/sh
echo "$CERT_RENEW_SERIAL" >> '${log}'
if [ -f '${arm}' ] && mkdir '${held}' 2>/dev/null; then
  i=0
  while [ ! -f '${gate}' ] && [ $i -lt 1200 ]; do sleep 0.1; i=$((i+1)); done
fi
exit 0
`,
      );
      await chmod(hook, 0o755);
      const manifest = await writeManifest(
        tmp.path,
        localManifest(store, {
          defaults: {
            issuer: 'local',
            store: 'files',
            hooks: { postRenew: [{ run: [hook], timeout: '5m' }] },
          },
          certificates: [{ name: 'web', domains: ['web.example.test'] }],
        }),
      );
      const hostArgs = ['--host-id', 'vm'];
      const first = await runCli(['-m', manifest, 'run', ...hostArgs]);
      assert.equal(first.code, 0, first.stderr);

      await writeFile(arm, '');
      const racing = startCli(['-m', manifest, 'run', '--force', ...hostArgs], { killAfterMs: 180_000 });
      // Whatever fails below, the held hook is let go.
      cleanup.push(async () => {
        await writeFile(gate, '');
        await racing.done;
      });
      await appears(held);
      const older = (await readStored(store, 'web')).serial;

      const revoke = await runCli(
        ['-m', manifest, 'revoke', 'web', '--reason', 'superseded', '--yes', ...hostArgs],
        { killAfterMs: 180_000 },
      );
      assert.equal(revoke.code, 0, revoke.stderr);
      const newer = (await readStored(store, 'web')).serial;
      assert.notEqual(newer, older);

      await writeFile(gate, '');
      const run = await racing.done;
      assert.equal(run.code, 0, run.stderr);
      assert.match(
        run.stderr,
        new RegExp(`serial 0*${newer} was stored and deployed here while the hooks ran`),
      );

      const entry = JSON.parse(
        await readFile(join(store, '.cert-renew', 'deployments', 'web', 'vm.json'), 'utf8'),
      ) as { serial?: string; pending?: unknown };
      assert.equal(
        normalizeSerial(entry.serial ?? ''),
        newer,
        'the entry names the version the last hook deployed',
      );
      assert.equal(entry.pending, undefined);

      const status = await runCli(['-m', manifest, 'status', '--json', '--only', 'web']);
      assert.equal(status.code, 0, status.stdout + status.stderr);
      const report = JSON.parse(status.stdout) as StatusReport;
      const host = report.certificates[0]?.hosts?.find((h: { host: string }) => h.host === 'vm');
      assert.equal(host?.state, 'current', JSON.stringify(host));
      assert.equal(host?.revoked, undefined);
    } finally {
      for (const step of cleanup) await step();
      await tmp.remove();
    }
  });
  test('revoke replaces the certificate before the run hooks start: the run deploys and records the replacement', async () => {
    const tmp = await tempDir();
    const cleanup: (() => Promise<void>)[] = [];
    try {
      const store = join(tmp.path, 'certs');
      const log = join(tmp.path, 'hook.log');
      const hook = join(tmp.path, 'hook.sh');
      await writeFile(hook, `#!/bin/sh\necho "$CERT_RENEW_SERIAL" >> '${log}'\n`);
      await chmod(hook, 0o755);
      // "slow", renewed after "web" (concurrency 1), asks an ACME directory that this test holds: the first
      // request after "web" was stored waits for `release`, then gets an answer that is no directory.
      const tls = await testServerCertificate();
      const caBundle = join(tmp.path, 'ca.pem');
      await writeFile(caBundle, tls.caPem);
      let initial: string | undefined;
      let holding = false;
      let held: (() => void) | undefined;
      const seen = new Promise<void>((resolve) => {
        held = resolve;
      });
      let release: () => void = () => {};
      const released = new Promise<void>((resolve) => {
        release = resolve;
      });
      const server = createServer({ cert: tls.certPem, key: tls.keyPem }, (_req, res) => {
        void (async () => {
          const now =
            initial === undefined
              ? undefined
              : (await readStored(store, 'web').catch(() => undefined))?.serial;
          if (!holding && now !== undefined && now !== initial) {
            holding = true;
            held?.();
            await released;
          }
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end('{}');
        })();
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      cleanup.push(async () => {
        release();
        server.closeAllConnections();
        await new Promise((resolve) => server.close(resolve));
      });
      const port = (server.address() as AddressInfo).port;
      const manifest = await writeManifest(tmp.path, {
        ...localManifest(store, {
          defaults: {
            issuer: 'local',
            store: 'files',
            hooks: { postRenew: [{ run: [hook], timeout: '5m' }] },
          },
          certificates: [
            { name: 'web', domains: ['web.example.test'] },
            { name: 'slow', domains: ['slow.example.test'], issuer: 'held' },
          ],
        }),
      });
      const withHeld = JSON.parse(await readFile(manifest, 'utf8')) as { issuers: Record<string, unknown> };
      withHeld.issuers.held = {
        type: 'acme',
        directory: `https://127.0.0.1:${port}/dir`,
        email: 'ops@example.test',
        caBundle,
        challenge: { type: 'http-01', standalone: '127.0.0.1:5002' },
      };
      await writeFile(manifest, JSON.stringify(withHeld, null, 2));
      const hostArgs = ['--host-id', 'vm'];
      assert.equal((await runCli(['-m', manifest, 'run', '--only', 'web', ...hostArgs])).code, 0);
      initial = (await readStored(store, 'web')).serial;

      const racing = startCli(['-m', manifest, 'run', '--force', '--concurrency', '1', ...hostArgs], {
        killAfterMs: 180_000,
      });
      cleanup.unshift(async () => {
        release();
        await racing.done;
      });
      await seen;
      const older = (await readStored(store, 'web')).serial;
      const revoke = await runCli(
        ['-m', manifest, 'revoke', 'web', '--reason', 'superseded', '--yes', ...hostArgs],
        {
          killAfterMs: 180_000,
        },
      );
      assert.equal(revoke.code, 0, revoke.stderr);
      const newer = (await readStored(store, 'web')).serial;
      assert.notEqual(newer, older);
      release();
      const run = await racing.done;
      assert.equal(run.code, 1, run.stderr); // "slow" failed: its directory was no directory
      assert.match(run.stderr, new RegExp(`web: the store now holds serial 0*${newer} `));

      const entry = JSON.parse(
        await readFile(join(store, '.cert-renew', 'deployments', 'web', 'vm.json'), 'utf8'),
      ) as { serial?: string; pending?: unknown };
      assert.equal(normalizeSerial(entry.serial ?? ''), newer);
      assert.equal(entry.pending, undefined);
      // The run's hook was told the serial it deployed: the replacement.
      assert.equal(normalizeSerial((await readFile(log, 'utf8')).trim().split('\n').at(-1) ?? ''), newer);
      const status = await runCli(['-m', manifest, 'status', '--json', '--only', 'web']);
      const report = JSON.parse(status.stdout) as StatusReport;
      const host = report.certificates[0]?.hosts?.find((h: { host: string }) => h.host === 'vm');
      assert.equal(host?.state, 'current', JSON.stringify(host));
    } finally {
      for (const step of cleanup) await step();
      await tmp.remove();
    }
  });
});
