import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { CertRenewError } from '../../src/errors.js';
import { loadManifest, ManifestError } from '../../src/manifest/load.js';
import { resolveCertificates } from '../../src/manifest/resolve.js';
import type { Manifest } from '../../src/manifest/types.js';
import { type TempDir, tempDir } from '../harness/process.js';

const DAY = 86_400_000;
const options = { intervalMs: DAY };

function manifest(): Manifest {
  return {
    version: 1,
    defaults: {
      issuer: 'local',
      store: 'files',
      renewBefore: '20d',
      hooks: { postRenew: [{ run: ['true'] }], onFailure: [{ run: ['false'] }], rollbackOnHookFailure: true },
      challenge: { type: 'http-01', webroot: '/w' },
    },
    issuers: {
      local: { type: 'local-ca' },
      le: { type: 'acme', directory: 'letsencrypt', challenge: { type: 'dns-01', exec: 'dns' } },
    },
    stores: {
      files: { type: 'filesystem', path: 'certs' },
      redis: { type: 'redis', url: 'redis://127.0.0.1' },
    },
    certificates: [
      { name: 'a', domains: ['Bücher.Example', 'www.bücher.example'] },
      {
        name: 'b',
        domains: ['b.example'],
        issuer: 'le',
        store: 'redis',
        keyType: 'rsa-2048',
        reuseKey: true,
        renewBeforePercent: 25,
        lifetime: '30d',
        hooks: { postRenew: [{ run: ['reload'] }] },
      },
      { name: 'c', domains: ['c.example'], issuer: 'le', challenge: { type: 'dns-01', exec: 'other' } },
    ],
  };
}

describe('resolveCertificates', () => {
  const [a, b, c] = resolveCertificates(manifest());

  test('defaults apply and domains are punycode', () => {
    assert.equal(a?.index, 0);
    assert.equal(a?.issuerName, 'local');
    assert.equal(a?.issuer.type, 'local-ca');
    assert.equal(a?.storeName, 'files');
    assert.deepEqual(a?.domains, ['xn--bcher-kva.example', 'www.xn--bcher-kva.example']);
    assert.equal(a?.keyType, 'ecdsa-p256');
    assert.equal(a?.keyTypeIsDefault, true, 'neither the entry nor defaults name a key type');
    assert.equal(a?.reuseKey, undefined);
    assert.equal(a?.renewBeforeMs, 20 * DAY);
    assert.equal(a?.renewBeforePercent, undefined);
    assert.equal(a?.lifetimeMs, undefined);
    assert.equal(a?.challenge, undefined, 'local-ca has no challenge');
    assert.deepEqual(a?.hooks, {
      postRenew: [{ run: ['true'] }],
      onFailure: [{ run: ['false'] }],
      rollbackOnHookFailure: true,
    });
  });

  test("a certificate's settings win, hooks per key, the window as a pair", () => {
    assert.equal(b?.storeName, 'redis');
    assert.equal(b?.keyType, 'rsa-2048');
    assert.equal(b?.keyTypeIsDefault, undefined);
    assert.equal(b?.reuseKey, true);
    assert.equal(b?.renewBeforeMs, undefined, "its renewBeforePercent replaces the defaults' renewBefore");
    assert.equal(b?.renewBeforePercent, 25);
    assert.equal(b?.lifetimeMs, 30 * DAY);
    assert.deepEqual(b?.hooks.postRenew, [{ run: ['reload'] }]);
    assert.deepEqual(b?.hooks.onFailure, [{ run: ['false'] }]);
    assert.deepEqual(
      b?.challenge,
      { type: 'http-01', webroot: '/w' },
      "the defaults' challenge beats the issuer's",
    );
    assert.deepEqual(c?.challenge, { type: 'dns-01', exec: 'other' });
  });
});

describe('loadManifest', () => {
  let dir: TempDir;
  before(async () => {
    dir = await tempDir();
  });
  after(async () => {
    await dir.remove();
  });

  test('loads, resolves and reports the base directory', async () => {
    await mkdir(join(dir.path, 'conf'));
    const path = join(dir.path, 'conf', 'm.json');
    await writeFile(path, JSON.stringify(manifest()));
    const loaded = await loadManifest(path, options);
    assert.equal(loaded.path, path);
    assert.equal(loaded.baseDir, join(dir.path, 'conf'));
    assert.equal(loaded.certificates.length, 3);
    assert.deepEqual(loaded.warnings, []);
  });

  test('an invalid manifest: ManifestError, exit 2, first error located, the rest counted', async () => {
    const path = join(dir.path, 'bad.json');
    const m = manifest() as unknown as { version: number; certificates: { issuer?: string }[] };
    m.version = 2;
    (m.certificates[1] as { issuer?: string }).issuer = 'nope';
    await writeFile(path, JSON.stringify(m, null, 2));
    await assert.rejects(loadManifest(path, options), (error: unknown) => {
      assert.ok(error instanceof ManifestError);
      assert.equal(error.code, 'MANIFEST_INVALID');
      assert.equal(error.exitCode, 2);
      assert.equal(error.diagnostics.length, 2);
      assert.equal(
        error.message,
        `${path}:2:3: version: must be 1 (the only manifest version), not 2 (and 1 more problem; run cert-renew validate ${path})`,
      );
      return true;
    });
  });

  test('unreadable: missing, a directory, too large, not UTF-8', async () => {
    const big = join(dir.path, 'big.json');
    await writeFile(big, Buffer.alloc(5 * 1024 * 1024 + 1, 0x20));
    const binary = join(dir.path, 'binary.json');
    await writeFile(binary, Buffer.from([0x7b, 0x0a, 0xff, 0xfe, 0x7d]));
    const cases: [string, RegExp][] = [
      [join(dir.path, 'missing.json'), /no such file \(ENOENT\)/],
      [dir.path, /is a directory/],
      [big, /the file is 5\.0 MB; a manifest may be at most 5 MB/],
      [binary, /not UTF-8 text \(first bad byte at line 2, column 1\)/],
    ];
    for (const [path, message] of cases) {
      await assert.rejects(loadManifest(path, options), (error: unknown) => {
        assert.ok(error instanceof CertRenewError);
        assert.ok(!(error instanceof ManifestError));
        assert.equal(error.code, 'MANIFEST_UNREADABLE');
        assert.equal(error.exitCode, 2);
        assert.match(error.message, message);
        return true;
      });
    }
  });
});
