/**
 * Through the CLI: `run` keeps the CA's renewal information (RFC 9773) in the store until its Retry-After,
 * and the runs after it — `run`, `plan`, `status` — then send the CA nothing while deciding from the
 * window it gave; `plan`, `status` and `run --dry-run` read what is kept and write nothing. Against a real
 * HTTPS renewalInfo server (tests/harness/ari.ts) that counts every request.
 */
import assert from 'node:assert/strict';
import { readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { FilesystemStore } from '../../src/stores/filesystem/index.js';
import { type AriServer, startAriServer } from '../harness/ari.js';
import { type TempDir, tempDir } from '../harness/process.js';
import { makeCertificates, testContext } from '../integration/redis-fixtures.js';
import { runCli } from './cli.js';

const NAMES = ['www', 'api', 'mail'];
let dir: TempDir;
let ari: AriServer;

before(async () => {
  dir = await tempDir('cert-renew-ari-kept-');
  ari = await startAriServer(dir.path, { retryAfter: '21600', windowStartDays: 40 });
  const storePath = join(dir.path, 'certs');
  const store = new FilesystemStore('files', { type: 'filesystem', path: storePath }, testContext());
  const certs = await makeCertificates(NAMES.length);
  for (const [i, name] of NAMES.entries()) {
    const cert = certs[i];
    assert.ok(cert);
    await store.save(name, cert.bundle, { ...cert.meta(name), issuer: 'ca' });
  }
  await store.close();
  const manifest = {
    version: 1,
    defaults: { issuer: 'ca', store: 'files' },
    issuers: {
      ca: {
        type: 'acme',
        directory: ari.directoryUrl,
        email: 'ops@example.test',
        caBundle: ari.caBundlePath,
        challenge: { type: 'http-01', webroot: 'webroot' },
      },
    },
    stores: { files: { type: 'filesystem', path: 'certs' } },
    certificates: NAMES.map((name, i) => ({ name, domains: [`host${i}.example.test`] })),
  };
  await writeFile(join(dir.path, 'manifest.json'), JSON.stringify(manifest, null, 2));
});
after(async () => {
  await ari?.close();
  await dir?.remove();
});

const kept = () =>
  readdir(join(dir.path, 'certs', '.cert-renew', 'blobs', 'renewal-info')).catch((error) => {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  });

async function cli(args: string[]) {
  const before = { ...ari.counts };
  const result = await runCli(['-m', 'manifest.json', ...args], { cwd: dir.path });
  const sent = {
    directory: ari.counts.directory - before.directory,
    renewalInfo: ari.counts.renewalInfo - before.renewalInfo,
  };
  return { ...result, sent };
}

test('plan, status and the dry run ask the CA and keep nothing; run keeps; later runs ask nothing', async () => {
  for (const args of [
    ['plan', '--json'],
    ['status', '--json'],
    ['run', '--dry-run'],
  ]) {
    const result = await cli(args);
    assert.equal(result.code, 0, `${args.join(' ')}: ${result.stderr}`);
    assert.deepEqual(result.sent, { directory: 1, renewalInfo: NAMES.length }, args.join(' '));
    assert.deepEqual(await kept(), [], `${args.join(' ')} writes nothing`);
  }

  const run = await cli(['run', '--json']);
  assert.equal(run.code, 0, run.stderr);
  assert.deepEqual(run.sent, { directory: 1, renewalInfo: NAMES.length });
  assert.deepEqual((await kept()).sort(), [...NAMES].sort(), 'one kept answer per certificate');

  for (const args of [
    ['run', '--json'],
    ['plan', '--json'],
    ['status', '--json'],
  ]) {
    const result = await cli(args);
    assert.equal(result.code, 0, `${args.join(' ')}: ${result.stderr}`);
    assert.deepEqual(result.sent, { directory: 0, renewalInfo: 0 }, `${args.join(' ')} asks the CA nothing`);
  }
  // The decision is still the CA's window, read from the store.
  const plan = await cli(['plan']);
  assert.equal(plan.code, 0, plan.stderr);
  for (const name of NAMES) {
    assert.match(plan.stdout, new RegExp(`^${name} .*keep .*the CA suggests renewing between`, 'm'));
  }
  const verbose = await cli(['-v', 'plan']);
  // Each line names the certificate, not only its RFC 9773 identifier.
  for (const name of NAMES) {
    assert.match(
      verbose.stderr,
      new RegExp(
        `^cert-renew debug: issuer ca: ${name}: renewalInfo for \\S+ as the CA gave it at \\S+ \\(not asked again before \\S+\\)$`,
        'm',
      ),
    );
  }
});
