/**
 * The filesystem load cache seen from the CLI (docs/stores.md, "The load cache"): over a store of more
 * than LIST_FROM certificates, the first `plan` reads every certificate and writes
 * `.cert-renew/load-cache.json`; the next ones take unchanged certificates from it and report exactly
 * what a plan without it reports, changes made since included; a user who cannot write the store (a
 * monitoring user) gets the same report and leaves the cache alone.
 */
import assert from 'node:assert/strict';
import { chmod, readFile, readlink, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { FilesystemStore } from '../../src/stores/filesystem/index.js';
import { LOAD_CACHE_FILE, RACY_MS } from '../../src/stores/filesystem/load-cache.js';
import { LIST_FROM } from '../../src/stores/filesystem/read.js';
import { makeCertificate, type TestCertificate, testContext } from '../contract/fixtures.js';
import { runCommand, type TempDir, tempDir } from '../harness/process.js';
import { BIN, cliEnv } from './cli.js';

let tmp: TempDir;
let site: TestCertificate;
let other: TestCertificate;
const names = Array.from({ length: LIST_FROM + 20 }, (_, i) => `site-${String(i).padStart(3, '0')}`);
let certs: string;
let cacheFile: string;

before(async () => {
  tmp = await tempDir('cert-renew-load-cache-e2e-');
  site = await makeCertificate('site');
  other = await makeCertificate('site');
  certs = join(tmp.path, 'certs');
  cacheFile = join(certs, '.cert-renew', LOAD_CACHE_FILE);
  const manifest = {
    version: 1,
    defaults: { issuer: site.meta.issuer, store: 'files' },
    issuers: { [site.meta.issuer]: { type: 'local-ca' } },
    stores: { files: { type: 'filesystem', path: 'certs' } },
    certificates: names.map((name) => ({ name, domains: site.meta.domains })),
  };
  await writeFile(join(tmp.path, 'manifest.json'), JSON.stringify(manifest));
  const store = new FilesystemStore('files', { type: 'filesystem', path: certs }, testContext(tmp.path));
  for (const name of names) await store.save(name, site.bundle, { ...site.meta, name });
  // Readable, not writable, by the unprivileged user of the last test.
  await chmod(tmp.path, 0o755);
  // As a daily run finds them: older than RACY_MS (a lower bound, never a race).
  await sleep(RACY_MS + 300);
});
after(() => tmp?.remove());

/** The CLI (as `prefix`, e.g. setpriv) with the manifest; its output. */
async function cli(args: string[], prefix: string[] = []) {
  const [command, ...rest] = [...prefix, process.execPath, BIN];
  return runCommand(command as string, [...rest, '-m', 'manifest.json', ...args], {
    cwd: tmp.path,
    env: cliEnv(),
    timeoutMs: 120_000,
  });
}

/** `plan --json` (as `prefix`, e.g. setpriv); its items and summary, without what the clock changes. */
async function plan(prefix: string[] = []): Promise<unknown> {
  const result = await cli(['plan', '--json'], prefix);
  assert.equal(result.stderr, '', 'nothing on stderr');
  const report = JSON.parse(result.stdout) as { items: Record<string, unknown>[]; summary: unknown };
  for (const item of report.items) delete item.remainingSeconds;
  return { summary: report.summary, items: report.items };
}

const cacheState = async () => {
  const s = await stat(cacheFile).catch(() => undefined);
  return s && { ino: s.ino, mtimeMs: s.mtimeMs, size: s.size };
};

const cachedNames = async () =>
  (await readFile(cacheFile, 'utf8'))
    .trim()
    .split('\n')
    .slice(1)
    .map((line) => (JSON.parse(line) as string[])[0]);

test('a run writes the cache (plan, status and a dry run never do); plans take it and report what a full read reports', async () => {
  await plan();
  await cli(['status']);
  await cli(['run', '--dry-run']);
  assert.equal(await cacheState(), undefined, 'plan, status and run --dry-run write nothing');
  await cli(['run']);
  assert.deepEqual((await cachedNames()).sort(), [...names].sort());
  const written = await cacheState();
  const cached = await plan();
  await cli(['run']);
  assert.deepEqual(await cacheState(), written, 'nothing learned: not rewritten');
  const kept = await readFile(cacheFile);
  await rm(cacheFile);
  assert.deepEqual(await plan(), cached, 'the same report as a full read');
  await writeFile(cacheFile, kept);

  // A key replaced in place by another of the same size, a chain removed: seen at once.
  const version = async (name: string) => join(certs, name, await readlink(join(certs, name, 'current')));
  const key = join(await version('site-003'), 'privkey.pem');
  assert.equal(other.bundle.keyPem.length, site.bundle.keyPem.length);
  await chmod(key, 0o600);
  await writeFile(key, other.bundle.keyPem);
  await rm(join(await version('site-007'), 'chain.pem'));
  const changed = await plan();
  const items = (changed as { items: { name: string; action: string; reason?: string }[] }).items;
  const item = (name: string) => items.find((one) => one.name === name);
  assert.equal(item('site-003')?.action, 'renew');
  assert.match(JSON.stringify(item('site-003')), /key/i);
  assert.equal(item('site-007')?.action, 'renew');
  assert.match(JSON.stringify(item('site-007')), /chain\.pem is missing/);
  // Exactly what a plan that reads everything in full reports.
  await rm(cacheFile);
  assert.deepEqual(await plan(), changed);
  await writeFile(cacheFile, kept);
  // A run renews both; their new versions, written just now, are remembered by a later run.
  await cli(['run']);
  const remembered = await cachedNames();
  assert.ok(!remembered.includes('site-003') && !remembered.includes('site-007'));
  assert.equal(remembered.length, names.length - 2);
});

test('without the capabilities, groups or user namespace the cache was written with, a user reads in full', async () => {
  if (process.getuid?.() !== 0) return assert.ok(true, 'needs root to drop capabilities');
  // Root without CAP_DAC_OVERRIDE cannot read keys another user owns (0600): root's cache, written with
  // every capability, must not say they are readable.
  await runCommand('chown', ['-R', '65534:65534', certs]);
  await rm(cacheFile, { force: true });
  await sleep(RACY_MS + 300);
  await cli(['run']);
  assert.equal((await stat(cacheFile)).uid, 0, "root's cache, written with every capability");
  const kept = await readFile(cacheFile);
  // Root without capabilities; root in a user namespace of its own (systemd's PrivateUsers=), whose
  // capabilities do not reach files owned by a user not mapped into it.
  for (const prefix of [
    ['setpriv', '--inh-caps=-all', '--bounding-set=-all'],
    ['unshare', '--user', '--map-root-user'],
  ]) {
    const withCache = await plan(prefix);
    await rm(cacheFile);
    assert.deepEqual(await plan(prefix), withCache, prefix[0]);
    await writeFile(cacheFile, kept);
  }
  await runCommand('chown', ['-R', '0:0', certs]);
  await sleep(RACY_MS + 300);
});

test("a user who cannot write the store reads in full (never through another user's cache) and writes nothing", async () => {
  // As root (who ignores modes) the CLI runs as nobody: a monitoring user over a root-owned store, who
  // cannot read the private keys (0600) — which root's cache must not paper over.
  const prefix =
    process.getuid?.() === 0 ? ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups'] : [];
  await rm(cacheFile, { force: true });
  const theirs = await plan(prefix);
  assert.equal(await cacheState(), undefined, 'nothing written');
  await cli(['run']);
  const kept = await cacheState();
  assert.ok(kept);
  assert.deepEqual(await plan(prefix), theirs, "root's cache is not used");
  assert.deepEqual(await cacheState(), kept, 'nor rewritten');
});
