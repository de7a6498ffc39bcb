/** domains-changed judges what was asked for, so a CA that adds names of its own does not cause a renewal loop. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ResolvedCertificate } from '../../src/manifest/types.js';
import { decide, inspectStored } from '../../src/policy/decide.js';
import { inspectCertificate } from '../../src/x509/index.js';
import { makeCertificate } from '../contract/fixtures.js';

function entry(domains: string[]): ResolvedCertificate {
  return {
    index: 0,
    name: 'site',
    domains,
    issuerName: 'test-ca',
    issuer: { type: 'local-ca' },
    storeName: 'files',
    store: { type: 'filesystem', path: '/nonexistent' },
    keyType: 'ecdsa-p256',
    reuseKey: undefined,
    hooks: { postRenew: [], onFailure: [], rollbackOnHookFailure: false },
  };
}

test('a name the CA added is not a change; a name the manifest added or dropped is', async () => {
  // The CA put www.site.test in although only site.test was asked for.
  const { bundle, meta } = await makeCertificate('site', { domains: ['site.test', 'www.site.test'] });
  const stored = {
    state: 'present' as const,
    cert: { ...bundle, meta: { ...meta, domains: ['site.test'] } },
  };
  const now = new Date();
  for (const inspected of [inspectStored(stored), undefined]) {
    // Both the metadata fast path and node:crypto's view (forced by a certificate-only inspection).
    const slow = inspected ?? {
      ok: true as const,
      cert: inspectCertificate(bundle.certPem),
      keyMatches: true,
    };
    const ok = decide({ entry: entry(['site.test']), stored, now, runIntervalMs: 86_400_000 }, slow);
    assert.equal(ok.reason, 'ok', ok.message);
    const added = decide(
      { entry: entry(['site.test', 'api.site.test']), stored, now, runIntervalMs: 86_400_000 },
      slow,
    );
    assert.equal(added.reason, 'domains-changed', added.message);
  }
});

test('a certificate name with spaces around it is not the name, and odd names are quoted in the message', async () => {
  const { bundle, meta } = await makeCertificate('site', {
    domains: [' site.test ', 'a.test, IP Address:9.9.9.9'],
  });
  const stored = { state: 'present' as const, cert: { ...bundle, meta } };
  const now = new Date();
  for (const inspected of [inspectStored(stored), undefined]) {
    const view = inspected ?? {
      ok: true as const,
      cert: inspectCertificate(bundle.certPem),
      keyMatches: true,
    };
    const changed = decide({ entry: entry(['site.test']), stored, now, runIntervalMs: 86_400_000 }, view);
    assert.equal(changed.reason, 'domains-changed', changed.message);
    assert.equal(
      changed.message,
      'domains changed: adds site.test; drops " site.test ", "a.test, ip address:9.9.9.9"',
    );
  }
});
