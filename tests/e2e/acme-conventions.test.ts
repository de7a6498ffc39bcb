/**
 * Conventions operators bring from certbot, lego and acme.sh, through the built CLI against a real Pebble:
 * `webroot` is a document root served by a real nginx (the token under `.well-known/acme-challenge/`),
 * and `preferredChain` picks the alternate chain whose top certificate was issued by the named root
 * (Pebble with PEBBLE_ALTERNATE_ROOTS), checked against that root from Pebble's management API.
 */
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdir, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { type Nginx, startNginx } from '../harness/nginx.js';
import { type Pebble, startPebble } from '../harness/pebble.js';
import { type TempDir, tempDir } from '../harness/process.js';
import { createCa, createLeaf } from '../harness/tls.js';
import {
  acmeManifest,
  assertChainsToRoot,
  pebbleIssuer,
  readAndVerify,
  standalone,
} from './acme-e2e-fixtures.js';
import { hasStackTrace, runCli } from './cli.js';
import { parseReport } from './e2e-helpers.js';
import { writeManifest } from './fixtures.js';

/** `CN=` of a certificate's subject. */
function subjectCommonName(pem: string): string {
  const cn = new X509Certificate(pem).subject.split('\n').find((line) => line.startsWith('CN='));
  assert.ok(cn, 'the root has a common name');
  return cn.slice(3);
}

describe('certbot-style webroot through nginx, against Pebble', () => {
  let pebble: Pebble;
  let nginx: Nginx;
  let tmp: TempDir;
  let documentRoot: string;

  before(async () => {
    tmp = await tempDir('cert-renew-conventions-');
    pebble = await startPebble();
    documentRoot = join(tmp.path, 'html');
    await mkdir(documentRoot);
    const ca = await createCa(tmp.path, { commonName: 'nginx test CA' });
    const leaf = await createLeaf(ca, tmp.path, { names: ['localhost'] });
    nginx = await startNginx({
      certPath: leaf.fullchainPath,
      keyPath: leaf.keyPath,
      httpPort: pebble.httpPort,
      documentRoot,
    });
  });
  after(async () => {
    await nginx?.stop();
    await pebble?.stop();
    await tmp?.remove();
  });

  test('the manifest a certbot -w command line translates to issues; tokens removed afterwards', async () => {
    const store = join(tmp.path, 'certs');
    const manifest = await writeManifest(
      tmp.path,
      acmeManifest(pebbleIssuer(pebble, { type: 'http-01', webroot: documentRoot }), store, [
        { name: 'site', domains: ['site.example.test', 'www.site.example.test'] },
      ]),
    );
    const dry = await runCli(['-m', manifest, 'run', '--dry-run']);
    assert.equal(dry.code, 0, dry.stderr);
    const r = await runCli(['-m', manifest, 'run', '--json']);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(!hasStackTrace(r.stderr), r.stderr);
    assert.deepEqual(
      parseReport(r.stdout).certificates.map((c) => [c.name, c.outcome]),
      [['site', 'renewed']],
    );
    const stored = await readAndVerify(store, 'site', await pebble.roots());
    assert.deepEqual(stored.dnsNames, ['site.example.test', 'www.site.example.test']);
    assert.ok(stored.keyMatches);
    assert.deepEqual(
      await readdir(join(documentRoot, '.well-known', 'acme-challenge')),
      [],
      'the tokens went under .well-known/acme-challenge/ and were removed',
    );
    assert.deepEqual(await readdir(documentRoot), ['.well-known'], 'nothing written into the document root');
  });
});

describe('preferredChain against Pebble with an alternate root', () => {
  let pebble: Pebble;
  let tmp: TempDir;

  before(async () => {
    tmp = await tempDir('cert-renew-chains-');
    pebble = await startPebble({ alternateRoots: 1 });
  });
  after(async () => {
    await pebble?.stop();
    await tmp?.remove();
  });

  const issueWith = async (name: string, preferredChain: string | undefined) => {
    const store = join(tmp.path, `certs-${name}`);
    const manifest = await writeManifest(
      tmp.path,
      acmeManifest(
        pebbleIssuer(pebble, standalone(pebble), preferredChain === undefined ? {} : { preferredChain }),
        store,
        [{ name, domains: [`${name}.example.test`] }],
      ),
      `${name}.json`,
    );
    const r = await runCli(['-m', manifest, 'run', '--json']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(parseReport(r.stdout).certificates[0]?.outcome, 'renewed');
    return { store, name };
  };

  test('the named alternate root is chosen; without it, or with an unknown name, the default chain', async () => {
    const defaultRoot = await pebble.roots(0);
    const alternateRoot = await pebble.roots(1);
    const alternateName = subjectCommonName(alternateRoot);
    assert.notEqual(alternateName, subjectCommonName(defaultRoot), 'two distinct roots');

    const preferred = await issueWith('preferred', alternateName);
    const chosen = await readAndVerify(preferred.store, preferred.name, alternateRoot);
    assert.ok(chosen.keyMatches);
    assert.throws(() => assertChainsToRoot(chosen.cert, chosen.chain, defaultRoot), 'not the default chain');

    const plain = await issueWith('plain', undefined);
    const byDefault = await readAndVerify(plain.store, plain.name, defaultRoot);
    assert.throws(() => assertChainsToRoot(byDefault.cert, byDefault.chain, alternateRoot));

    const unknown = await issueWith('unknown', 'No Such Root CA');
    await readAndVerify(unknown.store, unknown.name, defaultRoot);
  });
});
