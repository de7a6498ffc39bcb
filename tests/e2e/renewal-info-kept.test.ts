/**
 * Through the CLI: `run` keeps the CA's renewal information (RFC 9773) in the store until its Retry-After,
 * and the runs after it — `run`, `plan`, `status` — then send the CA nothing while deciding from the
 * window it gave; `plan`, `status` and `run --dry-run` read what is kept and write nothing. Against a real
 * HTTPS renewalInfo server (tests/harness/ari.ts) that counts every request.
 */
import assert from 'node:assert/strict';
import { chmod, chown, mkdir, readdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { type AriServer, startAriServer } from '../harness/ari.js';
import { type TempDir, tempDir } from '../harness/process.js';
import { makeCertificates } from '../integration/redis-fixtures.js';
import { runCli } from './cli.js';
import { ariManifest, filesystemStoreWith } from './e2e-helpers.js';

const NAMES = ['www', 'api', 'mail'];
let dir: TempDir;
let ari: AriServer;

before(async () => {
  dir = await tempDir('cert-renew-ari-kept-');
  ari = await startAriServer(dir.path, { retryAfter: '21600', windowStartDays: 40 });
  await filesystemStoreWith(join(dir.path, 'certs'), NAMES, 'ca');
  await writeFile(
    join(dir.path, 'manifest.json'),
    JSON.stringify(ariManifest(ari, 'files', 'certs', NAMES), null, 2),
  );
});
after(async () => {
  await ari?.close();
  await dir?.remove();
});

/** A manifest of `names` (domains host<i>.example.test) in a filesystem store at `path`, issued by the ARI server's CA. */
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

test("a run that keeps renewal information in a store it adopted leaves the store readable by the certificates' group", async () => {
  // Plain files another tool wrote (adopted as they are): the first thing this run writes in the store is
  // a renewal-information blob. The store's own directory must stay listable, as its locks and deployments
  // make it (0755): only the blobs are private. A 0700 .cert-renew hid the deployments from a monitoring
  // user in the keys' group, and its status called every certificate critical.
  const root = process.getuid?.() === 0;
  const group = 65534; // nogroup: the group the unprivileged user below runs as
  const store = join(dir.path, 'adopted');
  const certs = await makeCertificates(2);
  const names = ['shop', 'blog'];
  for (const [i, name] of names.entries()) {
    const cert = certs[i];
    assert.ok(cert);
    await mkdir(join(store, name), { recursive: true });
    const { certPem, chainPem, keyPem } = cert.bundle;
    await writeFile(join(store, name, 'cert.pem'), certPem);
    await writeFile(join(store, name, 'chain.pem'), chainPem);
    await writeFile(join(store, name, 'fullchain.pem'), certPem + chainPem);
    await writeFile(join(store, name, 'privkey.pem'), keyPem, { mode: 0o640 });
    if (root) await chown(join(store, name, 'privkey.pem'), 0, group);
  }
  const manifest = ariManifest(ari, 'adopted', 'adopted', names);
  await writeFile(join(dir.path, 'adopted.json'), JSON.stringify(manifest, null, 2), { mode: 0o644 });
  await chmod(dir.path, 0o755);

  const run = await runCli(['-m', 'adopted.json', 'run'], { cwd: dir.path });
  assert.equal(run.code, 0, run.stderr);
  assert.deepEqual((await readdir(join(store, '.cert-renew', 'blobs', 'renewal-info'))).sort(), [
    'blog',
    'shop',
  ]);
  const umask = process.umask();
  const mode = async (...path: string[]) => (await stat(join(store, ...path))).mode & 0o777;
  assert.equal(await mode('.cert-renew'), 0o755 & ~umask, "the store's own directory is listable");
  assert.equal(await mode('.cert-renew', 'blobs'), 0o700 & ~umask, 'the blobs are private');
  assert.equal(await mode('.cert-renew', 'blobs', 'renewal-info', 'shop'), 0o600);
  // A monitoring user in the keys' group (as root: nobody, group nogroup) sees every certificate valid.
  const prefix = root ? ['setpriv', '--reuid=65534', `--regid=${group}`, '--clear-groups'] : [];
  const status = await runCli(['-m', 'adopted.json', 'status', '--check'], { cwd: dir.path, prefix });
  assert.equal(status.code, 0, status.stdout + status.stderr);
  for (const name of names) assert.match(status.stdout, new RegExp(`^${name} .* valid `, 'm'));
});

test("more certificates than node's listener warning allows are asked at once, and stderr stays empty", async () => {
  // 16 lookups in flight share the run's abort signal: node warned of a "possible memory leak" from 11.
  const many = Array.from({ length: 20 }, (_, i) => `site${i}`);
  const sub = join(dir.path, 'many');
  await mkdir(sub);
  await filesystemStoreWith(join(sub, 'certs'), many, 'ca');
  await writeFile(join(sub, 'manifest.json'), JSON.stringify(ariManifest(ari, 'files', 'certs', many)));
  const asked = ari.counts.renewalInfo;
  const result = await runCli(['-m', 'manifest.json', 'plan', '--json'], { cwd: sub });
  assert.equal(result.code, 0, result.stderr);
  assert.equal(result.stderr, '');
  assert.equal(ari.counts.renewalInfo - asked, many.length);
});
