/**
 * What a store's life does to the certificates in it (operator trial 15, faults 11–13 and 16), with the
 * built CLI against a filesystem store in a temporary directory and a real redis-server: a rollback whose
 * hooks fail, a local CA that disappeared, and `prune` of a store another manifest shares.
 */
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { chmod, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Manifest, StoreConfig } from '../../src/manifest/types.js';
import type { RunReport } from '../../src/report/model.js';
import type { StatusReport } from '../../src/report/status.js';
import { type TempDir, tempDir } from '../harness/process.js';
import { type RedisServer, startRedis } from '../harness/redis.js';
import { createCa } from '../harness/tls.js';
import { type CliResult, hasStackTrace, runCli } from './cli.js';
import { filesystemStoreWith, logLines } from './e2e-helpers.js';
import { writeManifest } from './fixtures.js';

function json<T>(r: CliResult): T {
  try {
    return JSON.parse(r.stdout) as T;
  } catch {
    assert.fail(`no JSON (exit ${r.code}):\n${r.stdout}\n${r.stderr}`);
  }
}

function manifestWith(
  store: StoreConfig,
  certificates: Manifest['certificates'],
  extra: Partial<Manifest> = {},
) {
  return {
    version: 1,
    defaults: { issuer: 'local', store: 'shared' },
    issuers: { local: { type: 'local-ca', commonName: 'trial CA', lifetime: '30d' } },
    stores: { shared: store },
    certificates,
    ...extra,
  } as Manifest;
}

describe('store lifecycle, filesystem and Redis', () => {
  let tmp: TempDir;
  let redis: RedisServer;
  let prefixes = 0;
  before(async () => {
    tmp = await tempDir('cert-renew-store-life-');
    redis = await startRedis();
  });
  after(async () => {
    await redis?.stop();
    await tmp?.remove();
  });

  /** A fresh store of each kind (a new directory, a new keyPrefix). */
  const kinds: { kind: string; store: (dir: string) => StoreConfig }[] = [
    { kind: 'filesystem', store: (dir) => ({ type: 'filesystem', path: join(dir, 'store') }) },
    {
      kind: 'redis',
      store: () => {
        prefixes += 1;
        return { type: 'redis', url: redis.url, keyPrefix: `life${prefixes}:` };
      },
    },
  ];

  for (const { kind, store } of kinds) {
    test(`${kind}: a rollback whose hooks fail leaves the host failed, and the next run runs the hooks again`, async () => {
      const dir = join(tmp.path, `rollback-${kind}`);
      await rm(dir, { recursive: true, force: true });
      await mkdir(dir, { recursive: true });
      const log = join(dir, 'hook.log');
      const failFlag = join(dir, 'FAIL');
      const hook = join(dir, 'reload.sh');
      await writeFile(
        hook,
        `#!/bin/sh\necho "$CERT_RENEW_EVENT $CERT_RENEW_SERIAL" >> '${log}'\ntest ! -e '${failFlag}'\n`,
      );
      await chmod(hook, 0o755);
      const manifest = await writeManifest(
        dir,
        manifestWith(store(dir), [
          {
            name: 'c1',
            domains: ['c1.example.test'],
            hooks: { postRenew: [{ run: [hook], name: 'reload' }], rollbackOnHookFailure: true },
          },
        ]),
      );
      const run = (...args: string[]) => runCli(['-m', manifest, 'run', '--host-id', 'a', '--json', ...args]);
      const status = async () => {
        const r = await runCli(['-m', manifest, 'status', '--json']);
        return json<StatusReport>(r).certificates[0];
      };

      let r = await run();
      assert.equal(r.code, 0, r.stderr);
      const first = json<RunReport>(r).certificates[0];
      assert.equal((await status())?.hosts?.[0]?.state, 'current');

      // The renewal's hook fails, the rollback restores the first version, and its hook fails too.
      await writeFile(failFlag, '');
      r = await run('--force');
      assert.equal(r.code, 1, r.stderr);
      assert.ok(!hasStackTrace(r.stderr), r.stderr);
      const rolled = json<RunReport>(r).certificates[0];
      assert.equal(rolled?.outcome, 'rolled-back');
      assert.equal(rolled?.serial, first?.serial);
      assert.match(
        rolled?.message ?? '',
        /the rollback's hooks failed too: .*the next run runs the hooks again/,
      );
      const failed = await status();
      assert.equal(failed?.hosts?.[0]?.host, 'a');
      assert.equal(failed?.hosts?.[0]?.state, 'failed', JSON.stringify(failed?.hosts));
      assert.equal(failed?.hosts?.[0]?.overdue, true);
      assert.match(failed?.hosts?.[0]?.error ?? '', /HOOK_FAILED: .*after the rollback/);
      r = await runCli(['-m', manifest, 'status', '--check']);
      assert.equal(r.code, 1, r.stdout);
      assert.match(r.stdout, /a failed/);

      // The next run (nothing to renew) runs the hooks again for the restored version.
      await rm(failFlag);
      const before = (await logLines(log)).length;
      r = await run();
      assert.equal(r.code, 0, r.stderr);
      const again = (await logLines(log)).slice(before);
      assert.deepEqual(again, [`post-renew ${first?.serial}`]);
      assert.equal((await status())?.hosts?.[0]?.state, 'current');
      r = await runCli(['-m', manifest, 'status', '--check']);
      assert.equal(r.code, 0, r.stdout);
      // And a run after that has nothing left to do.
      r = await run();
      assert.equal(r.code, 0, r.stderr);
      assert.equal((await logLines(log)).length, before + 1);
      assert.match(await readFile(log, 'utf8'), /^post-renew .*\npost-renew .*\nrollback .*\npost-renew /);
    });

    test(`${kind}: a local CA that is gone while certificates it issued are stored is not recreated without --new-local-ca`, async () => {
      const dir = join(tmp.path, `ca-${kind}`);
      await rm(dir, { recursive: true, force: true });
      await mkdir(dir, { recursive: true });
      const config = store(dir);
      const manifest = await writeManifest(
        dir,
        manifestWith(config, [
          { name: 'web', domains: ['web.example.test'] },
          { name: 'api', domains: ['api.example.test'] },
        ]),
      );
      let r = await runCli(['-m', manifest, 'run', '--json']);
      assert.equal(r.code, 0, r.stderr);
      const show = async () =>
        json<{ fingerprint: string; issuedBy: string }>(
          await runCli(['-m', manifest, 'show', 'api', '--json']),
        );
      const first = await show();
      // The CA is lost (deleted, or evicted by Redis).
      if (config.type === 'filesystem')
        await rm(join(config.path, '.cert-renew', 'blobs', 'local-ca', 'local'));
      else assert.equal(await redis.cli('DEL', `${config.keyPrefix}local-ca:local`), '1');

      // Monitoring hears of it now, not when a certificate falls due and its renewal is refused.
      const watched = await runCli(['-m', manifest, 'status', '--check', '--json']);
      assert.equal(watched.code, 1, watched.stdout);
      for (const c of json<StatusReport>(watched).certificates) {
        assert.equal(c.health, 'warning', JSON.stringify(c));
        assert.match(
          c.issuerProblem ?? '',
          /^local CA 'local' is gone from store 'shared': renewing the certificates it issued will be refused \(restore blob 'local-ca\/local'/,
        );
      }
      const table = await runCli(['-m', manifest, 'status']);
      assert.match(table.stdout, /local CA 'local' is gone from store 'shared'/);
      const gone =
        /local CA 'local' is gone from store 'shared', but certificate (web|api) in store 'shared' was issued by it.*--new-local-ca/;
      r = await runCli(['-m', manifest, 'run', '--dry-run', '--force', '--only', 'api']);
      assert.equal(r.code, 1, r.stdout);
      assert.match(r.stdout, gone);
      // The hint says where the blob to restore is, in the store's own terms.
      assert.ok(
        r.stdout.includes(
          config.type === 'filesystem'
            ? `(the file ${join(config.path, '.cert-renew', 'blobs', 'local-ca', 'local')}) from a backup`
            : `(the Redis key ${config.keyPrefix}local-ca:local) from a backup`,
        ),
        r.stdout,
      );
      r = await runCli(['-m', manifest, 'run', '--force', '--only', 'api', '--json']);
      assert.equal(r.code, 1, r.stderr);
      assert.ok(!hasStackTrace(r.stderr), r.stderr);
      const refused = json<RunReport>(r).certificates[0];
      assert.equal(refused?.outcome, 'failed');
      assert.equal(refused?.error?.code, 'STORE_CORRUPT');
      assert.match(refused?.error?.message ?? '', gone);
      assert.doesNotMatch(r.stderr, /created local CA/);
      // Nothing changed: api is still the certificate of the old CA.
      assert.equal((await show()).fingerprint, first.fingerprint);

      // The explicit way: a new CA, said loudly, and the certificate issued by it.
      r = await runCli(['-m', manifest, 'run', '--force', '--only', 'api', '--new-local-ca', '--json']);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stderr, /local CA 'local' was gone from store 'shared'.*--new-local-ca/);
      assert.equal(json<RunReport>(r).certificates[0]?.outcome, 'renewed');
      const renewed = await show();
      assert.notEqual(renewed.fingerprint, first.fingerprint);
      assert.equal(renewed.issuedBy, first.issuedBy);
      // From then on the new CA is there: no flag needed.
      r = await runCli(['-m', manifest, 'run', '--force', '--only', 'web', '--json']);
      assert.equal(r.code, 0, r.stderr);

      // A CA that cannot be read (a directory in its file's place; a Redis key of another type) is said by
      // status too, not only by the renewal that fails on it.
      if (config.type === 'filesystem') {
        const blob = join(config.path, '.cert-renew', 'blobs', 'local-ca', 'local');
        await rm(blob);
        await mkdir(blob);
      } else {
        await redis.cli('DEL', `${config.keyPrefix}local-ca:local`);
        await redis.cli('HSET', `${config.keyPrefix}local-ca:local`, 'a', 'b');
      }
      const unreadable = await runCli(['-m', manifest, 'status', '--check', '--json']);
      assert.equal(unreadable.code, 1, unreadable.stdout);
      for (const c of json<StatusReport>(unreadable).certificates) {
        assert.match(
          c.issuerProblem ?? '',
          /^local CA 'local' in store 'shared' cannot be read, so renewing the certificates it issued will fail: /,
          JSON.stringify(c),
        );
      }
    });
  }
});

test('certificates adopted under a local-ca issuer from another CA do not stop its first CA', async () => {
  const tmp = await tempDir('cert-renew-adopted-');
  try {
    const path = join(tmp.path, 'store');
    await filesystemStoreWith(path, ['web'], 'local');
    const manifest = await writeManifest(
      tmp.path,
      manifestWith({ type: 'filesystem', path }, [{ name: 'web', domains: ['web.example.test'] }]),
    );
    const r = await runCli(['-m', manifest, 'run', '--force', '--json']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /created local CA 'local' in store 'shared'/);
    assert.doesNotMatch(r.stderr, /gone/);
  } finally {
    await tmp.remove();
  }
});

test('a local CA replaced by another of the same name is not renewed from: status warns, the run refuses, --new-local-ca overrides', async () => {
  // What a restore from the wrong backup, or another host's CA copied in, does: same name, another key.
  const tmp = await tempDir('cert-renew-other-ca-');
  try {
    const path = join(tmp.path, 'store');
    const manifest = await writeManifest(
      tmp.path,
      manifestWith({ type: 'filesystem', path }, [{ name: 'web', domains: ['web.example.test'] }]),
    );
    assert.equal((await runCli(['-m', manifest, 'run'])).code, 0);
    const blob = join(path, '.cert-renew', 'blobs', 'local-ca', 'local');
    const original = JSON.parse(await readFile(blob, 'utf8')) as { certPem: string };
    const commonName = new X509Certificate(original.certPem).subject.replace(/^CN=/, '');
    const other = await createCa(tmp.path, { name: 'other', commonName });
    await writeFile(
      blob,
      JSON.stringify({ certPem: other.certPem, keyPem: await readFile(other.keyPath, 'utf8') }),
    );
    const storedBefore = await readFile(join(path, 'web', 'cert.pem'), 'utf8');
    const otherCa = /local CA 'local' in store 'shared' is not the CA that issued web's stored certificate/;
    // A blob that stands in for some CA on purpose (another store's --new-local-ca) does not stand in for
    // the one that issued what is stored here.
    const elsewhere = { keyId: 'de'.repeat(20), at: '2026-01-01T00:00:00.000Z' };
    await writeFile(
      blob,
      JSON.stringify({
        certPem: other.certPem,
        keyPem: await readFile(other.keyPath, 'utf8'),
        replaces: [elsewhere],
      }),
    );

    const status = await runCli(['-m', manifest, 'status', '--check', '--json']);
    assert.equal(status.code, 1, status.stdout);
    assert.match(json<StatusReport>(status).certificates[0]?.issuerProblem ?? '', otherCa);
    const dry = await runCli(['-m', manifest, 'run', '--dry-run', '--force']);
    assert.equal(dry.code, 1, dry.stdout);
    assert.match(dry.stdout, otherCa);
    const refused = await runCli(['-m', manifest, 'run', '--force', '--json']);
    assert.equal(refused.code, 1, refused.stderr);
    assert.ok(!hasStackTrace(refused.stderr), refused.stderr);
    assert.equal(json<RunReport>(refused).certificates[0]?.error?.code, 'STORE_CORRUPT');
    assert.match(json<RunReport>(refused).certificates[0]?.error?.message ?? '', otherCa);
    assert.equal(await readFile(join(path, 'web', 'cert.pem'), 'utf8'), storedBefore, 'nothing renewed');

    const renewed = await runCli(['-m', manifest, 'run', '--force', '--new-local-ca', '--json']);
    assert.equal(renewed.code, 0, renewed.stderr);
    assert.match(renewed.stderr, /renewing from it as --new-local-ca asks/);
    const leaf = new X509Certificate(await readFile(join(path, 'web', 'cert.pem'), 'utf8'));
    assert.ok(leaf.verify(new X509Certificate(other.certPem).publicKey), 'issued by the CA now in the store');
    assert.equal((await runCli(['-m', manifest, 'status', '--check'])).code, 0);
    // Said once: the CA in the store now stands in for the one it replaced (its blob records which).
    const replaces = (JSON.parse(await readFile(blob, 'utf8')) as { replaces: { keyId: string }[] }).replaces;
    assert.deepEqual(replaces.map((r) => r.keyId).length, 2, JSON.stringify(replaces));
    const later = await runCli(['-m', manifest, 'run', '--force']);
    assert.equal(later.code, 0, later.stderr);
  } finally {
    await tmp.remove();
  }
});

describe('prune', () => {
  let tmp: TempDir;
  let redis: RedisServer;
  before(async () => {
    tmp = await tempDir('cert-renew-prune-shared-');
    redis = await startRedis();
  });
  after(async () => {
    await redis?.stop();
    await tmp?.remove();
  });

  const stores: { kind: string; store: () => StoreConfig }[] = [
    { kind: 'filesystem', store: () => ({ type: 'filesystem', path: join(tmp.path, 'shared-store') }) },
    { kind: 'redis', store: () => ({ type: 'redis', url: redis.url, keyPrefix: 't6:' }) },
  ];
  for (const { kind, store } of stores) {
    test(`${kind}: two manifests sharing a store: prune of one refuses the other's deployed certificates without --force`, async () => {
      const dir = join(tmp.path, kind);
      await mkdir(dir, { recursive: true });
      const a = await writeManifest(
        dir,
        manifestWith(store(), [
          { name: 'web', domains: ['web.example.test'] },
          { name: 'api', domains: ['api.example.test'] },
        ]),
        'a.json',
      );
      const b = await writeManifest(
        dir,
        manifestWith(store(), [
          { name: 'api', domains: ['api.example.test'] },
          { name: 'mail', domains: ['mail.example.test'] },
        ]),
        'b.json',
      );
      for (const host of ['a', 'b']) {
        const r = await runCli(['-m', a, 'run', '--host-id', host]);
        assert.equal(r.code, 0, r.stderr);
      }
      let r = await runCli(['-m', b, 'run', '--host-id', 'c']);
      assert.equal(r.code, 0, r.stderr);

      const refused =
        /not pruned: other hosts than this one \(c\) have deployed web \(store 'shared'\) on a, b; another manifest sharing the store may still use it.*prune --force/;
      r = await runCli(['-m', b, 'prune', '--yes', '--host-id', 'c']);
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, refused);
      assert.ok(!hasStackTrace(r.stderr), r.stderr);
      r = await runCli(['-m', b, 'prune', '--dry-run', '--host-id', 'c']);
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, refused);
      r = await runCli(['-m', a, 'status', '--check']);
      assert.equal(r.code, 0, r.stdout);

      // Said on purpose: removed.
      r = await runCli(['-m', b, 'prune', '--yes', '--force', '--host-id', 'c', '--json']);
      assert.equal(r.code, 0, r.stderr);
      const lines = json<{ orphans: { name: string; outcome: string }[] }>(r).orphans;
      assert.deepEqual(
        lines.map((l) => [l.name, l.outcome]),
        [['web', 'pruned']],
      );
    });
  }

  test('a Redis that cannot be reached: prune never says "no orphaned certificates" first', async () => {
    const dir = join(tmp.path, 'down');
    await mkdir(dir, { recursive: true });
    const down = await startRedis();
    const url = down.url;
    await down.stop();
    const manifest = await writeManifest(
      dir,
      manifestWith({ type: 'redis', url, keyPrefix: 'down:' }, [
        { name: 'web', domains: ['web.example.test'] },
      ]),
    );
    const r = await runCli(['-m', manifest, 'prune', '--yes']);
    assert.equal(r.code, 1, r.stderr);
    const out = r.stdout.split('\n').filter(Boolean);
    assert.match(out[0] ?? '', /^store 'shared' could not be listed .*its orphans are unknown$/);
    assert.equal(out[1], 'no orphaned certificates in the stores that could be listed');
    assert.doesNotMatch(r.stdout, /^no orphaned certificates$/m);
  });

  test('keep 0: a failed hook with rollback says no previous version is kept', async () => {
    const dir = join(tmp.path, 'keep0');
    await mkdir(dir, { recursive: true });
    const manifest = await writeManifest(
      dir,
      manifestWith({ type: 'filesystem', path: join(dir, 'store'), keep: 0 }, [
        {
          name: 'web',
          domains: ['web.example.test'],
          hooks: { postRenew: [{ run: ['false'] }], rollbackOnHookFailure: true },
        },
      ]),
    );
    const r = await runCli(['-m', manifest, 'run', '--force']);
    assert.equal(r.code, 1, r.stderr);
    assert.match(
      r.stderr,
      /web: nothing to restore: store 'shared' has keep 0, so no previous version is kept/,
    );
    assert.doesNotMatch(r.stderr, /no previous certificate valid now/);
  });
});

describe('a Redis whose maxmemory-policy evicts keys without a TTL', () => {
  let tmp: TempDir;
  let redis: RedisServer;
  before(async () => {
    tmp = await tempDir('cert-renew-eviction-');
    redis = await startRedis({ args: ['--maxmemory', '64mb', '--maxmemory-policy', 'allkeys-lru'] });
  });
  after(async () => {
    await redis?.stop();
    await tmp?.remove();
  });

  test('run --dry-run warns in its store check; volatile-lru does not', async () => {
    const manifest = await writeManifest(
      tmp.path,
      manifestWith({ type: 'redis', url: redis.url, keyPrefix: 'ev:' }, [
        { name: 'web', domains: ['web.example.test'] },
      ]),
    );
    let r = await runCli(['-m', manifest, 'run', '--dry-run']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(
      r.stdout,
      /reachable and writable; warning: .*maxmemory-policy allkeys-lru.*evicts certificates and the local CA/,
    );
    assert.match(r.stderr, /maxmemory-policy allkeys-lru/);
    await redis.cli('CONFIG', 'SET', 'maxmemory-policy', 'volatile-lru');
    r = await runCli(['-m', manifest, 'run', '--dry-run']);
    assert.equal(r.code, 0, r.stderr);
    assert.doesNotMatch(r.stdout + r.stderr, /maxmemory-policy/);
  });
});
