/**
 * revoke and prune end to end with the local CA: the built CLI against a filesystem store and a real
 * redis-server (issue 13).
 */
import assert from 'node:assert/strict';
import { createHash, X509Certificate } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { main } from '../../src/cli.js';
import type { Manifest } from '../../src/manifest/types.js';
import type { Plan } from '../../src/plan/model.js';
import type { PruneReport, RevokeReport } from '../../src/report/lifecycle.js';
import type { StatusReport } from '../../src/report/status.js';
import { systemClock } from '../../src/runtime/clock.js';
import { runCommand, type TempDir, tempDir } from '../harness/process.js';
import { type RedisServer, startRedis } from '../harness/redis.js';
import { normalizeSerial } from '../harness/tls.js';
import { hasStackTrace, runCli } from './cli.js';
import { logLines, parseReport, readStored, reloadWrapper, snapshotStore } from './e2e-helpers.js';
import { localManifest, memoryIO, writeManifest } from './fixtures.js';

const json = parseReport;

describe('revoke with the local CA', () => {
  let tmp: TempDir;
  let store: string;
  let manifest: string;
  let hookLog: string;
  before(async () => {
    tmp = await tempDir();
    store = join(tmp.path, 'certs');
    hookLog = join(tmp.path, 'hook.log');
    const hook = await reloadWrapper(tmp.path, hookLog, join(tmp.path, 'no-such-flag'));
    manifest = await writeManifest(
      tmp.path,
      localManifest(store, {
        defaults: {
          issuer: 'local',
          store: 'files',
          reuseKey: true,
          hooks: { postRenew: [{ run: [hook, 'true'] }] },
        },
      }),
    );
    const r = await runCli(['-m', manifest, 'run']);
    assert.equal(r.code, 0, r.stderr);
  });
  after(() => tmp.remove());

  test('without --yes and without a terminal it refuses with exit 2 and changes nothing', async () => {
    const before = await snapshotStore(store, 'web');
    const r = await runCli(['-m', manifest, 'revoke', 'web', '--reason', 'keyCompromise']);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /--yes/);
    assert.ok(!hasStackTrace(r.stderr));
    assert.deepEqual(await snapshotStore(store, 'web'), before);
  });

  test('on a terminal it asks; "no" revokes nothing and exits 1', async () => {
    const before = await snapshotStore(store, 'web');
    const questions: string[] = [];
    const io = {
      ...memoryIO(systemClock),
      confirm: async (question: string) => {
        questions.push(question);
        return false;
      },
    };
    const code = await main(['-m', manifest, 'revoke', 'web', '--reason', 'keyCompromise'], io.env, io);
    assert.equal(code, 1, io.err);
    assert.equal(questions.length, 1);
    assert.match(
      questions[0] ?? '',
      /Revoke 1 certificate\(s\) \(web\) for keyCompromise and replace them\? \[y\/N\] $/,
    );
    assert.deepEqual(await snapshotStore(store, 'web'), before);
  });

  test('an unknown reason or name is a usage error', async () => {
    assert.equal((await runCli(['-m', manifest, 'revoke', 'web', '--reason', 'bored', '--yes'])).code, 2);
    const unknown = await runCli(['-m', manifest, 'revoke', 'nope', '--reason', 'superseded', '--yes']);
    assert.equal(unknown.code, 2);
    // It names what the operator typed, not an option they never gave.
    assert.match(unknown.stderr, /revoke names certificates that are not in the manifest: nope/);
    assert.doesNotMatch(unknown.stderr, /--only/);
  });

  test('--no-renew: the serial is in the CRL, status says critical (revoked), the next run replaces it', async () => {
    const old = await readStored(store, 'api');
    const r = await runCli([
      '-m',
      manifest,
      'revoke',
      'api',
      '--reason',
      'superseded',
      '--no-renew',
      '--yes',
      '--json',
    ]);
    assert.equal(r.code, 0, r.stderr);
    const report = json<RevokeReport>(r.stdout);
    assert.equal(report.command, 'revoke');
    assert.equal(report.run, undefined);
    assert.deepEqual(
      report.certificates.map((c) => [c.name, c.outcome, normalizeSerial(c.serial ?? ''), c.via]),
      [['api', 'revoked', old.serial, 'local-ca crl']],
    );
    // The CRL the local CA published in its store, read by openssl.
    const crlPath = join(store, '.cert-renew', 'blobs', 'local-ca-crl', 'local');
    const crl = await runCommand('openssl', ['crl', '-in', crlPath, '-noout', '-text']);
    assert.match(crl.stdout, new RegExp(`Serial Number: 0*${old.serial}`, 'i'));
    assert.match(crl.stdout, /Superseded/);
    // …signed by the CA.
    const ca = JSON.parse(
      await readFile(join(store, '.cert-renew', 'blobs', 'local-ca', 'local'), 'utf8'),
    ) as {
      certPem: string;
    };
    const caPath = join(tmp.path, 'ca.pem');
    await import('node:fs/promises').then((fs) => fs.writeFile(caPath, ca.certPem));
    const verify = await runCommand('openssl', ['crl', '-in', crlPath, '-noout', '-CAfile', caPath]);
    assert.match(`${verify.stdout}${verify.stderr}`, /verify OK/);

    const s = await runCli(['-m', manifest, 'status', '--check', '--json']);
    assert.equal(s.code, 2, s.stderr);
    const api = json<StatusReport>(s.stdout).certificates.find((c) => c.name === 'api');
    assert.equal(api?.health, 'critical');
    assert.equal(api?.reason, 'revoked');
    assert.equal(normalizeSerial(api?.revocations?.[0]?.serial ?? ''), old.serial);

    const show = await runCli(['-m', manifest, 'show', 'api', '--json']);
    assert.equal(show.code, 0, show.stderr);
    assert.equal((JSON.parse(show.stdout) as { revoked: { reason: string } }).revoked.reason, 'superseded');
    assert.match((await runCli(['-m', manifest, 'show', 'api'])).stdout, /^REVOKED\s+superseded at /m);

    const run = await runCli(['-m', manifest, 'run', '--json']);
    assert.equal(run.code, 0, run.stderr);
    const after = await readStored(store, 'api');
    assert.notEqual(after.serial, old.serial);
    // superseded is not keyCompromise: reuseKey is honoured.
    assert.equal(after.keyPem, old.keyPem);
    const s2 = json<StatusReport>((await runCli(['-m', manifest, 'status', '--json'])).stdout);
    assert.equal(s2.certificates.find((c) => c.name === 'api')?.health, 'valid');
  });

  test('already revoked at the CA but not recorded here (a lost record, another tool): revoke records it and replaces it; recorded, it says so', async () => {
    const first = await runCli([
      '-m',
      manifest,
      'revoke',
      'api',
      '--reason',
      'superseded',
      '--no-renew',
      '--yes',
    ]);
    assert.equal(first.code, 0, first.stderr);
    const revoked = await readStored(store, 'api');
    // The record is lost (the local CA's CRL still lists the serial, so plan sees it; an ACME CA's would
    // not: lifecycle-acme.test.ts).
    await rm(join(store, 'api', 'revocations.json'));

    const again = await runCli([
      '-m',
      manifest,
      'revoke',
      'api',
      '--reason',
      'superseded',
      '--yes',
      '--json',
    ]);
    assert.equal(again.code, 0, again.stderr);
    const report = json<RevokeReport>(again.stdout);
    assert.deepEqual(
      report.certificates.map((c) => [c.name, c.outcome, c.via]),
      [['api', 'revoked', 'already revoked at local']],
    );
    assert.match(again.stderr, /already revoked serial .*; recording it and replacing the certificate/);
    const replaced = await readStored(store, 'api');
    assert.notEqual(replaced.serial, revoked.serial);
    const s = json<StatusReport>((await runCli(['-m', manifest, 'status', '--json'])).stdout);
    assert.equal(s.certificates.find((c) => c.name === 'api')?.health, 'valid');

    // Revoked and recorded: revoking again changes nothing and says where it stands.
    assert.equal(
      (await runCli(['-m', manifest, 'revoke', 'api', '--reason', 'superseded', '--no-renew', '--yes'])).code,
      0,
    );
    const twice = await runCli([
      '-m',
      manifest,
      'revoke',
      'api',
      '--reason',
      'keyCompromise',
      '--no-renew',
      '--yes',
    ]);
    assert.equal(twice.code, 1, twice.stdout);
    assert.match(twice.stderr, /already revoked .*recorded as revoked \(superseded\)/);
    assert.ok(!hasStackTrace(twice.stderr));
    const run = await runCli(['-m', manifest, 'run']);
    assert.equal(run.code, 0, run.stderr);
  });

  test('revocations by several processes at once all reach the CRL (none is lost)', async () => {
    const dir = join(tmp.path, 'concurrent');
    await mkdir(dir);
    const names = Array.from({ length: 6 }, (_, i) => `c${i}`);
    const path = await writeManifest(
      dir,
      localManifest(join(dir, 'certs'), {
        certificates: names.map((name) => ({ name, domains: [`${name}.example.test`] })),
      }),
    );
    const issued = await runCli(['-m', path, 'run']);
    assert.equal(issued.code, 0, issued.stderr);
    const serials = await Promise.all(
      names.map(async (name) => (await readStored(join(dir, 'certs'), name)).serial),
    );
    const results = await Promise.all(
      names.map((name) =>
        runCli(['-m', path, 'revoke', name, '--reason', 'superseded', '--no-renew', '--yes']),
      ),
    );
    for (const r of results) assert.equal(r.code, 0, r.stderr);
    const crl = await runCommand('openssl', [
      'crl',
      '-in',
      join(dir, 'certs', '.cert-renew', 'blobs', 'local-ca-crl', 'local'),
      '-noout',
      '-text',
    ]);
    for (const serial of serials) assert.match(crl.stdout, new RegExp(`Serial Number: 0*${serial}`, 'i'));
    // Revoking one again fails at the CA. The summary neither promises this command's renewal nor says
    // nothing is due: c0 is still revoked, and the next run replaces it (as plan says).
    const again = await runCli(['-m', path, 'revoke', 'c0', '--reason', 'superseded', '--no-renew', '--yes']);
    assert.equal(again.code, 1, again.stderr);
    assert.match(again.stdout, /0 of 1 certificate\(s\) revoked/);
    assert.match(
      again.stdout,
      /nothing was revoked by this command; cert-renew plan says what the next run renews/,
    );
    assert.doesNotMatch(again.stdout, /the next run renews it|nothing is due/);
    const plan = json<Plan>((await runCli(['-m', path, 'plan', '--json'])).stdout);
    const c0 = plan.items.find((c) => c.name === 'c0');
    assert.equal(c0?.action, 'renew', JSON.stringify(c0));
    assert.equal(c0?.reason, 'revoked');
  });

  test('a host still serving a certificate revoked for keyCompromise makes status critical at once', async () => {
    const dir = join(tmp.path, 'fleet-revoked');
    await mkdir(dir);
    const certs = join(dir, 'certs');
    const path = await writeManifest(
      dir,
      localManifest(certs, {
        defaults: {
          issuer: 'local',
          store: 'files',
          hooks: { postRenew: [{ run: ['/bin/sh', '-c', 'true'] }] },
        },
        certificates: [{ name: 'web', domains: ['web.example.test'] }],
      }),
    );
    for (const host of ['host-a', 'host-b']) {
      const r = await runCli(['-m', path, 'run', '--host-id', host]);
      assert.equal(r.code, 0, r.stderr);
    }
    const old = await readStored(certs, 'web');
    const revoked = await runCli(['-m', path, 'revoke', 'web', '--reason', 'keyCompromise', '--yes']);
    assert.equal(revoked.code, 0, revoked.stderr);
    // host-b has not run since: it still serves the revoked certificate, well inside the grace period.
    const s = await runCli(['-m', path, 'status', '--check', '--json']);
    assert.equal(s.code, 2, s.stdout + s.stderr);
    const web = json<StatusReport>(s.stdout).certificates.find((c) => c.name === 'web');
    assert.equal(web?.health, 'critical');
    const hostB = web?.hosts?.find((h) => h.host === 'host-b');
    assert.equal(hostB?.revoked?.reason, 'keyCompromise');
    assert.equal(normalizeSerial(hostB?.serial ?? ''), old.serial);
    const human = await runCli(['-m', path, 'status']);
    assert.match(
      human.stdout,
      /host-b behind since [^,]* \(serves serial [0-9A-F:]+, revoked: keyCompromise\)/i,
    );
    // Once the hosts deploy the new certificate (revoke renewed it under this machine's own host id),
    // nothing is called out.
    for (const host of ['host-a', 'host-b']) {
      const caughtUp = await runCli(['-m', path, 'run', '--host-id', host]);
      assert.equal(caughtUp.code, 0, caughtUp.stderr);
    }
    const after = json<StatusReport>((await runCli(['-m', path, 'status', '--json'])).stdout);
    assert.equal(after.certificates.find((c) => c.name === 'web')?.health, 'valid');
  });

  test('keyCompromise: revoked, renewed at once with a NEW key although reuseKey is true, hooks ran', async () => {
    const old = await readStored(store, 'web');
    const hooksBefore = (await logLines(hookLog)).length;
    const r = await runCli(['-m', manifest, 'revoke', 'web', '--reason', 'keyCompromise', '--yes', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const report = json<RevokeReport>(r.stdout);
    assert.equal(report.certificates[0]?.outcome, 'revoked');
    assert.equal(report.run?.certificates[0]?.outcome, 'renewed');
    assert.equal(report.run?.certificates[0]?.reason, 'revoked');
    const now = await readStored(store, 'web');
    assert.ok(now.keyMatches);
    assert.notEqual(now.serial, old.serial);
    assert.notEqual(now.keyPem, old.keyPem);
    const hooks = await logLines(hookLog);
    assert.equal(hooks.length, hooksBefore + 1);
    assert.match(hooks.at(-1) ?? '', /^post-renew .* web$/);

    const status = json<StatusReport>((await runCli(['-m', manifest, 'status', '--json'])).stdout);
    const web = status.certificates.find((c) => c.name === 'web');
    assert.equal(web?.health, 'valid');
    assert.deepEqual(
      web?.revocations?.map((x) => [normalizeSerial(x.serial), x.reason]),
      [[old.serial, 'keyCompromise']],
    );
    const human = await runCli(['-m', manifest, 'status']);
    assert.match(human.stdout, /revoked \(keyCompromise\)/);
  });
});

describe('a replacement after a revocation is never rolled back to what was revoked', () => {
  let tmp: TempDir;
  let store: string;
  let manifest: string;
  let failFlag: string;
  before(async () => {
    tmp = await tempDir();
    store = join(tmp.path, 'certs');
    failFlag = join(tmp.path, 'fail');
    const hook = await reloadWrapper(tmp.path, join(tmp.path, 'hook.log'), failFlag);
    manifest = await writeManifest(
      tmp.path,
      localManifest(store, {
        defaults: {
          issuer: 'local',
          store: 'files',
          reuseKey: true,
          hooks: { postRenew: [{ run: [hook, 'true'] }], rollbackOnHookFailure: true },
        },
        certificates: [{ name: 'web', domains: ['web.example.test'] }],
      }),
    );
    assert.equal((await runCli(['-m', manifest, 'run'])).code, 0);
    // A second version with the same key (reuseKey): both hold the key about to be compromised.
    assert.equal((await runCli(['-m', manifest, 'run', '--force'])).code, 0);
  });
  after(() => tmp.remove());

  test('keyCompromise, then the post-renew hook fails: the new certificate and key stay', async () => {
    const old = await readStored(store, 'web');
    await writeFile(failFlag, '');
    const r = await runCli(['-m', manifest, 'revoke', 'web', '--reason', 'keyCompromise', '--yes', '--json']);
    assert.equal(r.code, 1, r.stderr);
    assert.ok(!hasStackTrace(r.stderr), r.stderr);
    const report = json<RevokeReport>(r.stdout);
    assert.equal(report.certificates[0]?.outcome, 'revoked');
    assert.equal(report.run?.certificates[0]?.outcome, 'failed');
    assert.match(r.stderr, /no previous certificate valid now to restore/);
    const now = await readStored(store, 'web');
    assert.ok(now.keyMatches);
    assert.notEqual(now.serial, old.serial);
    assert.notEqual(now.keyPem, old.keyPem);

    const status = json<StatusReport>((await runCli(['-m', manifest, 'status', '--json'])).stdout);
    const web = status.certificates.find((c) => c.name === 'web');
    // What is stored is not revoked; the host stays critical until its reload works (it still serves the
    // revoked certificate, as far as cert-renew knows).
    assert.notEqual(web?.reason, 'revoked', JSON.stringify(web));
    assert.deepEqual(
      web?.revocations?.map((x) => normalizeSerial(x.serial)),
      [old.serial],
    );
    assert.equal(web?.hosts?.[0]?.revoked?.reason, 'keyCompromise');
  });
});

/** Every file and link of every certificate directory of a filesystem store. */
async function snapshotAll(store: string, names: string[]): Promise<Record<string, Record<string, string>>> {
  const out: Record<string, Record<string, string>> = {};
  for (const name of names) out[name] = await snapshotStore(store, name);
  return out;
}

describe('orphans and prune (filesystem and Redis)', () => {
  let tmp: TempDir;
  let redis: RedisServer;
  let files: string;
  let manifestPath: string;
  const four = ['a', 'b', 'c', 'd'].map((n) => ({ name: n, domains: [`${n}.example.test`] }));
  const inRedis = ['r1', 'r2', 'r3'].map((n) => ({
    name: n,
    domains: [`${n}.example.test`],
    store: 'redis',
  }));
  const manifest = (certificates: Manifest['certificates']): Manifest =>
    localManifest(files, {
      stores: { files: { type: 'filesystem', path: files }, redis: { type: 'redis', url: redis.url } },
      certificates,
    });
  const redisDump = async (keys: string[]) =>
    Object.fromEntries(
      await Promise.all(keys.map(async (k) => [k, await redis.cli('--no-raw', 'DUMP', k)] as const)),
    );

  before(async () => {
    tmp = await tempDir();
    redis = await startRedis();
    files = join(tmp.path, 'certs');
    manifestPath = await writeManifest(tmp.path, manifest([...four, ...inRedis]));
    const r = await runCli(['-m', manifestPath, 'run']);
    assert.equal(r.code, 0, r.stderr);
    // A second version of r1 so it has a history.
    assert.equal((await runCli(['-m', manifestPath, 'run', '--force', '--only', 'r1'])).code, 0);
    // Remove two filesystem entries and one Redis entry from the manifest.
    await writeManifest(
      tmp.path,
      manifest([four[0], four[2], inRedis[1], inRedis[2]] as Manifest['certificates']),
    );
  });
  after(async () => {
    await redis?.stop();
    await tmp?.remove();
  });

  test('plan and status list the orphans with their expiry; they are not failures', async () => {
    const plan = await runCli(['-m', manifestPath, 'plan', '--json']);
    assert.equal(plan.code, 0, plan.stderr);
    const orphans = json<Plan>(plan.stdout).orphans ?? [];
    assert.deepEqual(
      orphans.map((o) => [o.store, o.name, o.state]),
      [
        ['files', 'b', 'present'],
        ['files', 'd', 'present'],
        ['redis', 'r1', 'present'],
      ],
    );
    for (const o of orphans) assert.ok((o.remainingSeconds ?? 0) > 86400 * 29, JSON.stringify(o));
    // The run that issued them deployed them on this host: prune, one host's decision for the whole store,
    // shows who may still serve them.
    for (const o of orphans) assert.equal(o.deployedOn?.length, 1, JSON.stringify(o));
    const status = await runCli(['-m', manifestPath, 'status', '--check', '--json']);
    assert.equal(status.code, 0, status.stderr);
    assert.equal(json<StatusReport>(status.stdout).orphans?.length, 3);
    const human = await runCli(['-m', manifestPath, 'status']);
    assert.match(human.stdout, /3 orphaned certificate\(s\)/);
    assert.match(human.stdout, /^b\s+files\s+b\.example\.test.*orphaned; deployed on \S+/m);
  });

  test('prune --dry-run changes nothing; prune of a name still in the manifest is a usage error', async () => {
    const beforeFiles = await snapshotAll(files, ['a', 'b', 'c', 'd']);
    const keys = ['cert:{r1}', 'history:{r1}', 'cert:{r2}'];
    const beforeRedis = await redisDump(keys);
    const r = await runCli(['-m', manifestPath, 'prune', '--dry-run', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const report = json<PruneReport>(r.stdout);
    assert.equal(report.dryRun, true);
    assert.deepEqual(
      report.orphans.map((o) => [o.name, o.outcome]),
      [
        ['b', 'would-prune'],
        ['d', 'would-prune'],
        ['r1', 'would-prune'],
      ],
    );
    assert.deepEqual(await snapshotAll(files, ['a', 'b', 'c', 'd']), beforeFiles);
    assert.deepEqual(await redisDump(keys), beforeRedis);
    const still = await runCli(['-m', manifestPath, 'prune', 'a', '--yes']);
    assert.equal(still.code, 2);
    assert.match(still.stderr, /still names a/);
    const noYes = await runCli(['-m', manifestPath, 'prune']);
    assert.equal(noYes.code, 2);
    assert.deepEqual(await snapshotAll(files, ['a', 'b', 'c', 'd']), beforeFiles);
  });

  test('prune --yes removes the orphans and leaves every other certificate byte-identical; restore by hand', async () => {
    const kept = await snapshotAll(files, ['a', 'c']);
    const keptRedis = await redisDump(['cert:{r2}', 'cert:{r3}']);
    const bBefore = await snapshotStore(files, 'b');
    assert.equal(await redis.cli('EXISTS', 'history:{r1}'), '1');
    // The runs that issued them recorded this host's deployment; prune removes those records too.
    assert.equal(await redis.cli('EXISTS', 'deployed:{r1}'), '1');
    await stat(join(files, '.cert-renew', 'deployments', 'b'));
    const r = await runCli(['-m', manifestPath, 'prune', '--yes', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const report = json<PruneReport>(r.stdout);
    assert.deepEqual(
      report.orphans.map((o) => [o.name, o.outcome]),
      [
        ['b', 'pruned'],
        ['d', 'pruned'],
        ['r1', 'pruned'],
      ],
    );
    await assert.rejects(stat(join(files, 'b')));
    await assert.rejects(stat(join(files, 'd')));
    await assert.rejects(stat(join(files, '.cert-renew', 'deployments', 'b')));
    await assert.rejects(stat(join(files, '.cert-renew', 'deployments', 'd')));
    await stat(join(files, '.cert-renew', 'deployments', 'a'));
    for (const k of [
      'cert:{r1}',
      'history:{r1}',
      'attempts:{r1}',
      'lock:{r1}',
      'revocations:{r1}',
      'deployed:{r1}',
    ]) {
      assert.equal(await redis.cli('EXISTS', k), '0', k);
    }
    assert.deepEqual(await snapshotAll(files, ['a', 'c']), kept);
    assert.deepEqual(await redisDump(['cert:{r2}', 'cert:{r3}']), keptRedis);
    const plan = json<Plan>((await runCli(['-m', manifestPath, 'plan', '--json'])).stdout);
    assert.deepEqual(plan.orphans, []);

    // Restore b by hand, as docs/operations.md says: move the archived directory back.
    const archived = report.orphans[0]?.archivedTo ?? '';
    assert.ok(archived.startsWith(join(files, '.cert-renew', 'archive', 'b-')), archived);
    assert.deepEqual(
      (await readdir(join(files, '.cert-renew', 'archive')))
        .map((n) => n.replace(/-\d{8}T\d{6}Z$/, ''))
        .sort(),
      ['b', 'd'],
    );
    await rename(archived, join(files, 'b'));
    assert.deepEqual(await snapshotStore(files, 'b'), bBefore);
    const b = await readStored(files, 'b');
    assert.ok(b.keyMatches);
    const fingerprint = createHash('sha256').update(b.cert.raw).digest('hex');
    assert.equal(
      fingerprint,
      createHash('sha256').update(new X509Certificate(b.cert.toString()).raw).digest('hex'),
    );
    const orphansAgain = json<Plan>((await runCli(['-m', manifestPath, 'plan', '--json'])).stdout).orphans;
    assert.deepEqual(
      orphansAgain?.map((o) => o.name),
      ['b'],
    );
  });

  test('a revocation in a Redis store is recorded in revocations:{name} and makes status critical', async () => {
    const r = await runCli([
      '-m',
      manifestPath,
      'revoke',
      'r3',
      '--reason',
      'affiliationChanged',
      '--no-renew',
      '--yes',
    ]);
    assert.equal(r.code, 0, r.stderr);
    const log = await redis.cli('LRANGE', 'revocations:{r3}', '0', '-1');
    assert.match(log, /"reason":"affiliationChanged"/);
    const status = await runCli(['-m', manifestPath, 'status', '--check', '--json']);
    assert.equal(status.code, 2, status.stdout);
    const r3 = json<StatusReport>(status.stdout).certificates.find((c) => c.name === 'r3');
    assert.deepEqual([r3?.health, r3?.reason], ['critical', 'revoked']);
    const run = await runCli(['-m', manifestPath, 'run', '--only', 'r3', '--json']);
    assert.equal(run.code, 0, run.stderr);
    const again = json<StatusReport>((await runCli(['-m', manifestPath, 'status', '--json'])).stdout);
    assert.equal(again.certificates.find((c) => c.name === 'r3')?.health, 'valid');
  });
});
