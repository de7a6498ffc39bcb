/**
 * Without `keyType` in the manifest, a stored certificate keeps its key type (as certbot keeps a
 * lineage's): `plan` says ok, and a forced renewal issues the same type again. Only a manifest that names
 * a type (in the entry or in `defaults`) changes it. The built CLI, the local CA and the filesystem store.
 */
import assert from 'node:assert/strict';
import { createPrivateKey } from 'node:crypto';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Plan } from '../../src/plan/build-plan.js';
import { type TempDir, tempDir } from '../harness/process.js';
import { hasStackTrace, runCli } from './cli.js';
import { parseReport, readStored } from './e2e-helpers.js';
import { localManifest, writeManifest } from './fixtures.js';

async function keyOf(store: string, name: string): Promise<{ type: string; bits?: number; curve?: string }> {
  const key = createPrivateKey((await readStored(store, name)).keyPem);
  const details = key.asymmetricKeyDetails ?? {};
  return {
    type: key.asymmetricKeyType ?? '',
    ...(details.modulusLength ? { bits: details.modulusLength } : {}),
    ...(details.namedCurve ? { curve: details.namedCurve } : {}),
  };
}

describe('a stored RSA certificate and a manifest without keyType', () => {
  let tmp: TempDir;
  let store: string;
  before(async () => {
    tmp = await tempDir('cert-renew-keytype-');
    store = join(tmp.path, 'certs');
    // An RSA certificate in the store, as one copied from certbot would be.
    const first = await writeManifest(
      tmp.path,
      localManifest(store, {
        certificates: [{ name: 'legacy', domains: ['legacy.example.test'], keyType: 'rsa-2048' }],
      }),
      'rsa.json',
    );
    const r = await runCli(['-m', first, 'run', '--json']);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(await keyOf(store, 'legacy'), { type: 'rsa', bits: 2048 });
  });
  after(() => tmp?.remove());

  const plan = async (manifest: string): Promise<Plan> => {
    const r = await runCli(['-m', manifest, 'plan', '--json']);
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout) as Plan;
  };

  test('plan says ok, a forced renewal stays RSA, a new certificate gets ecdsa-p256', async () => {
    const manifest = await writeManifest(
      tmp.path,
      localManifest(store, {
        certificates: [
          { name: 'legacy', domains: ['legacy.example.test'] },
          { name: 'fresh', domains: ['fresh.example.test'] },
        ],
      }),
      'no-key-type.json',
    );
    assert.deepEqual(
      (await plan(manifest)).items.map((i) => [i.name, i.action, i.reason]),
      [
        ['legacy', 'keep', 'ok'],
        ['fresh', 'renew', 'missing'],
      ],
    );
    const before = (await readStored(store, 'legacy')).serial;
    const r = await runCli(['-m', manifest, 'run', '--force', '--json']);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(!hasStackTrace(r.stderr), r.stderr);
    assert.deepEqual(
      parseReport(r.stdout).certificates.map((c) => [c.name, c.outcome, c.reason]),
      [
        ['legacy', 'renewed', 'forced'],
        ['fresh', 'renewed', 'missing'],
      ],
    );
    const after = await readStored(store, 'legacy');
    assert.notEqual(after.serial, before, 'a new certificate was issued');
    assert.ok(after.keyMatches);
    assert.deepEqual(await keyOf(store, 'legacy'), { type: 'rsa', bits: 2048 });
    assert.deepEqual(await keyOf(store, 'fresh'), { type: 'ec', curve: 'prime256v1' });
    assert.deepEqual(
      (await plan(manifest)).items.map((i) => i.reason),
      ['ok', 'ok'],
    );
  });

  test('a key type named in the entry or in defaults still changes it', async () => {
    const named = await writeManifest(
      tmp.path,
      localManifest(store, {
        certificates: [{ name: 'legacy', domains: ['legacy.example.test'], keyType: 'ecdsa-p256' }],
      }),
      'named.json',
    );
    const item = (await plan(named)).items[0];
    assert.equal(item?.reason, 'key-type-changed');
    assert.match(item?.message ?? '', /has rsa-2048, the manifest asks for ecdsa-p256/);
    const base = localManifest(store, {
      certificates: [{ name: 'legacy', domains: ['legacy.example.test'] }],
    });
    const viaDefaults = await writeManifest(
      tmp.path,
      { ...base, defaults: { ...base.defaults, keyType: 'ecdsa-p256' } },
      'defaults.json',
    );
    assert.equal((await plan(viaDefaults)).items[0]?.reason, 'key-type-changed');
  });
});
