/**
 * NGINX end to end (local CA, filesystem store): a real nginx serves TLS from the store's stable paths;
 * `cert-renew run` renews the certificates inside their window, reloads nginx once for all the
 * certificates that share the reload hook, and a TLS client then receives the new serial. A failing hook
 * makes the run exit 1 and names the hook; with rollbackOnHookFailure nginx serves the previous
 * certificate again.
 */
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { HookSpec, Hooks, Manifest } from '../../src/manifest/types.js';
import { type Nginx, startNginx } from '../harness/nginx.js';
import { type TempDir, tempDir } from '../harness/process.js';
import { normalizeSerial } from '../harness/tls.js';
import { hasStackTrace, runCli } from './cli.js';
import { logLines, parseReport, readStored, reloadWrapper } from './e2e-helpers.js';
import { writeManifest } from './fixtures.js';

/** The certificates nginx's reload hook is shared by; `admin` has no hook and is never due here. */
const SHARED = ['web', 'api'] as const;

/**
 * The local CA back-dates notBefore by a minute, so a 1h certificate has 61 minutes of lifetime: with
 * `renewBeforePercent: 99` its window (60.4 minutes) is longer than what it has left, so it is due at once.
 * `admin` keeps the default window (half of a short lifetime) and is not due.
 */
function gatewayManifest(store: string, shared: { hooks?: Hooks; due?: boolean } = {}): Manifest {
  const own = {
    ...(shared.hooks ? { hooks: shared.hooks } : {}),
    ...(shared.due ? { renewBeforePercent: 99 } : {}),
  };
  return {
    version: 1,
    defaults: { issuer: 'local', store: 'files' },
    issuers: { local: { type: 'local-ca', lifetime: '1h' } },
    stores: { files: { type: 'filesystem', path: store } },
    certificates: [
      // Each certificate lists its own copy of the hook: identical hooks run once per run.
      { name: 'web', domains: ['web.example.test', 'www.example.test'], ...structuredClone(own) },
      { name: 'api', domains: ['api.example.test'], keyType: 'rsa-2048', ...structuredClone(own) },
      { name: 'admin', domains: ['admin.example.test'] },
    ],
  };
}

describe('nginx end to end with the local CA', () => {
  let tmp: TempDir;
  let store: string;
  let nginx: Nginx | undefined;
  let reload: HookSpec;
  let hookLog: string;
  let failFlag: string;
  // The safety floor is 2 × the run interval: 5m keeps it well inside a 1h certificate's default window.
  const run = (manifest: string, ...args: string[]) =>
    runCli(['-m', manifest, 'run', '--json', '--interval', '5m', ...args]);

  before(async () => {
    tmp = await tempDir('cert-renew-e2e-nginx-');
    store = join(tmp.path, 'certs');
    hookLog = join(tmp.path, 'reload.log');
    failFlag = join(tmp.path, 'fail-health-check');
  });
  after(async () => {
    await nginx?.stop();
    await tmp.remove();
  });

  test('the first run issues every certificate', async () => {
    // No hook yet: nginx is configured only once the files exist.
    const manifest = await writeManifest(tmp.path, gatewayManifest(store), 'first.json');
    const r = await run(manifest);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(!hasStackTrace(r.stderr), r.stderr);
    const report = parseReport(r.stdout);
    assert.deepEqual(
      report.certificates.map((c) => [c.name, c.outcome]),
      [
        ['web', 'renewed'],
        ['api', 'renewed'],
        ['admin', 'renewed'],
      ],
    );
    for (const name of ['web', 'api', 'admin']) {
      assert.ok((await readStored(store, name)).keyMatches, `${name}: key matches certificate`);
    }
  });

  test("nginx serves the store's stable paths", async () => {
    nginx = await startNginx({
      certPath: join(store, 'web', 'fullchain.pem'),
      keyPath: join(store, 'web', 'privkey.pem'),
    });
    // The argv form, no shell: a wrapper that logs each invocation, then execs nginx -s reload.
    reload = {
      name: 'reload nginx',
      run: [await reloadWrapper(tmp.path, hookLog, failFlag), ...nginx.reloadCommand],
      timeout: '30s',
    };
    const stored = await readStored(store, 'web');
    assert.equal((await nginx.peerCertificate()).serial, stored.serial);
  });

  test('certificates inside their window are renewed, nginx reloads once, a client sees the new serial', async () => {
    assert.ok(nginx);
    const before = {
      web: await readStored(store, 'web'),
      api: await readStored(store, 'api'),
      admin: await readStored(store, 'admin'),
    };
    const manifest = await writeManifest(
      tmp.path,
      gatewayManifest(store, { hooks: { postRenew: [reload] }, due: true }),
      'renew.json',
    );
    const r = await run(manifest);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(!hasStackTrace(r.stderr), r.stderr);
    const report = parseReport(r.stdout);
    assert.deepEqual(
      report.certificates.map((c) => [c.name, c.outcome]),
      [
        ['web', 'renewed'],
        ['api', 'renewed'],
        ['admin', 'ok'],
      ],
    );
    // One reload for both certificates that share it.
    assert.equal(report.hooks.length, 1, JSON.stringify(report.hooks));
    assert.equal(report.hooks[0]?.ok, true, JSON.stringify(report.hooks[0]));
    assert.deepEqual(report.hooks[0]?.certificates, [...SHARED]);
    const web = await readStored(store, 'web');
    const calls = (await logLines(hookLog)).map((line) => line.split(' '));
    assert.equal(calls.length, 1, 'one reload');
    assert.deepEqual(calls[0]?.[0], 'post-renew');
    assert.equal(normalizeSerial(calls[0]?.[1] ?? ''), web.serial);
    assert.deepEqual(calls[0]?.slice(2), [...SHARED]);

    for (const name of SHARED) {
      const now = await readStored(store, name);
      assert.notEqual(now.serial, before[name].serial, `${name}: new serial`);
      assert.ok(now.keyMatches, `${name}: key matches certificate`);
      const reported = report.certificates.find((c) => c.name === name)?.serial ?? '';
      assert.equal(normalizeSerial(reported), now.serial, `${name}: the report names the stored serial`);
    }
    assert.equal((await readStored(store, 'admin')).serial, before.admin.serial, 'admin untouched');
    await nginx.waitForSerial(web.serial);
  });

  test('a failing hook makes the run exit 1 and names the hook', async () => {
    assert.ok(nginx);
    const healthCheck: HookSpec = { name: 'gateway health check', run: ['/bin/sh', '-c', 'exit 3'] };
    const manifest = await writeManifest(
      tmp.path,
      gatewayManifest(store, { hooks: { postRenew: [reload, healthCheck] }, due: true }),
      'failing-hook.json',
    );
    const logged = (await logLines(hookLog)).length;
    const r = await run(manifest);
    assert.equal(r.code, 1, r.stderr);
    assert.ok(!hasStackTrace(r.stderr), r.stderr);
    assert.match(r.stderr, /gateway health check/);
    const report = parseReport(r.stdout);
    assert.equal(report.exitCode, 1);
    for (const name of SHARED) {
      const c = report.certificates.find((x) => x.name === name);
      assert.equal(c?.outcome, 'failed', JSON.stringify(c));
      assert.equal(c?.error?.code, 'HOOK_FAILED');
      assert.match(c?.error?.message ?? '', /gateway health check/);
    }
    assert.deepEqual(
      report.hooks.map((h) => [h.name, h.ok]),
      [
        ['reload nginx', true],
        ['gateway health check', false],
      ],
    );
    // The reload itself ran, once, and nginx serves what was stored (no rollback was asked for).
    assert.equal((await logLines(hookLog)).length, logged + 1);
    await nginx.waitForSerial((await readStored(store, 'web')).serial);
  });

  test('with rollbackOnHookFailure nginx serves the previous certificate again', async () => {
    assert.ok(nginx);
    const previous = await readStored(store, 'web');
    const previousApi = await readStored(store, 'api');
    await nginx.waitForSerial(previous.serial);
    const manifest = await writeManifest(
      tmp.path,
      gatewayManifest(store, {
        hooks: { postRenew: [reload], rollbackOnHookFailure: true },
        due: true,
      }),
      'rollback.json',
    );
    await writeFile(failFlag, '');
    const logged = (await logLines(hookLog)).length;
    // The previous test's failed hook is recorded, so these certificates back off: --force retries now.
    const r = await run(manifest, '--force');
    assert.equal(r.code, 1, r.stderr);
    assert.ok(!hasStackTrace(r.stderr), r.stderr);
    assert.match(r.stderr, /reload nginx/);
    const report = parseReport(r.stdout);
    for (const name of SHARED) {
      const c = report.certificates.find((x) => x.name === name);
      assert.equal(c?.outcome, 'rolled-back', JSON.stringify(c));
    }
    assert.deepEqual(
      report.hooks.map((h) => [h.event, h.ok]),
      [
        ['post-renew', false],
        ['rollback', true],
      ],
    );
    // The failing post-renew reload put the new certificate in front of clients, the rollback the old one.
    const calls = (await logLines(hookLog)).slice(logged);
    assert.equal(calls.length, 2, calls.join('\n'));
    const [renewCall, rollbackCall] = calls.map((line) => line.split(' '));
    assert.equal(renewCall?.[0], 'post-renew');
    assert.notEqual(normalizeSerial(renewCall?.[1] ?? ''), previous.serial, 'the hook saw a new certificate');
    assert.deepEqual(rollbackCall?.[0], 'rollback');

    const restored = await readStored(store, 'web');
    assert.equal(restored.serial, previous.serial, 'the store holds the previous certificate');
    assert.ok(restored.keyMatches, 'and its key');
    const api = await readStored(store, 'api');
    assert.equal(api.serial, previousApi.serial, 'api is rolled back too');
    assert.ok(api.keyMatches, 'with its key');
    await nginx.waitForSerial(previous.serial);
  });
});
