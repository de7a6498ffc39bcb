/**
 * The ACME issuer against step-ca's ACME provisioner (a private CA: its root is the `caBundle`), dns-01
 * through the exec hook, with step-ca resolving names through pebble-challtestsrv (started here by the
 * Pebble harness, whose ACME server is not used).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { AcmeIssuer } from '../../src/issuers/acme/issuer.js';
import type { AcmeIssuerConfig } from '../../src/manifest/types.js';
import { type Pebble, startPebble, writeDnsExecHook } from '../harness/pebble.js';
import { type TempDir, tempDir } from '../harness/process.js';
import { type StepCa, startStepCa } from '../harness/step-ca.js';
import {
  assertChainVerifies,
  dnsNames,
  FAST,
  filesystemStore,
  issueOne,
  makeContext,
  resolved,
} from './acme-fixtures.js';

describe('ACME issuer against step-ca ACME provisioner', () => {
  let dns: Pebble;
  let ca: StepCa;
  let dir: TempDir;

  before(async () => {
    dir = await tempDir('cert-renew-acme-step-');
    dns = await startPebble();
    ca = await startStepCa({ acme: true, resolverPort: dns.dnsPort });
  });
  after(async () => {
    await ca?.stop();
    await dns?.stop();
    await dir?.remove();
  });

  test('dns-01 with caBundle: issued, chain verifies against the step-ca root', async () => {
    const context = makeContext(dir.path);
    const config: AcmeIssuerConfig = {
      type: 'acme',
      directory: ca.acmeDirectoryUrl,
      email: 'ops@example.test',
      caBundle: ca.rootPath,
      challenge: {
        type: 'dns-01',
        exec: await writeDnsExecHook(dir.path, dns.challtestsrvUrl),
        nameservers: [`127.0.0.1:${dns.dnsPort}`],
      },
    };
    const issuer = new AcmeIssuer('step-acme', config, context, FAST);
    try {
      const store = filesystemStore(context, 'store');
      const domains = ['svc.internal.test', 'alt.internal.test'];
      const result = await issueOne(issuer, store, resolved('svc', domains, config));
      assert.deepEqual(dnsNames(result.certPem), [...domains].sort());
      assertChainVerifies(result, ca.rootPem);
      const report = await issuer.check({ store, certs: [], signal: AbortSignal.timeout(60_000) });
      assert.match(report, /account https:\/\/\S+ exists/);
    } finally {
      await issuer.close();
    }
  });
});
