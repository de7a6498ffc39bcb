/**
 * Deployment state (issue 10) with real processes: three "hosts" (separate `cert-renew` processes with
 * their own `--host-id`), each with its own nginx on its own port serving the one shared filesystem
 * store's files, run the same manifest. Whichever host renews, every nginx serves the new serial after
 * each host's next run; a host whose reload fails is reported behind by `status` on every host and by
 * `status --check`; then `verify` (the served leaf must be the stored one) and `status --probe`.
 */
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Manifest } from '../../src/manifest/types.js';
import type { ForgetHostReport } from '../../src/report/lifecycle.js';
import type { StatusReport } from '../../src/report/status.js';
import { type Nginx, startNginx } from '../harness/nginx.js';
import { type TempDir, tempDir } from '../harness/process.js';
import { normalizeSerial } from '../harness/tls.js';
import { hasStackTrace, runCli } from './cli.js';
import { parseReport, readStored } from './e2e-helpers.js';
import { writeManifest } from './fixtures.js';

const HOSTS = ['host-a', 'host-b', 'host-c'] as const;
type Host = (typeof HOSTS)[number];

/**
 * One manifest for every host. The reload hook runs `$HOST_RELOAD`, which each host's environment sets to
 * its own nginx's reload command (in a fleet that is simply `nginx -s reload` on each machine).
 */
function fleetManifest(store: string, extra: Partial<Manifest['certificates'][number]> = {}): Manifest {
  return {
    version: 1,
    defaults: {
      issuer: 'local',
      store: 'shared',
      hooks: { postRenew: [{ name: 'reload nginx', run: ['/bin/sh', '-c', 'eval "$HOST_RELOAD"'] }] },
    },
    issuers: { local: { type: 'local-ca', lifetime: '1h' } },
    stores: { shared: { type: 'filesystem', path: store } },
    certificates: [{ name: 'gw', domains: ['gw.example.test'], ...extra }],
  };
}

const quote = (args: string[]) => args.map((a) => `'${a.replaceAll("'", `'\\''`)}'`).join(' ');

describe('deployment state across hosts sharing a filesystem store', () => {
  let tmp: TempDir;
  let store: string;
  let manifest: string;
  const nginx = new Map<Host, Nginx>();
  /** Hosts whose reload is broken (the command fails). */
  const broken = new Set<Host>();

  const env = (host: Host) => ({
    HOST_RELOAD: broken.has(host)
      ? 'echo "reload failed" >&2; exit 1'
      : quote(nginx.get(host)?.reloadCommand ?? ['false']),
  });
  const run = (host: Host, ...args: string[]) =>
    runCli(['-m', manifest, 'run', '--json', '--interval', '5m', '--host-id', host, ...args], {
      env: env(host),
    });
  const status = async (host: Host, ...args: string[]) => {
    const r = await runCli(['-m', manifest, 'status', '--json', '--interval', '5m', ...args], {
      env: env(host),
    });
    assert.ok(!hasStackTrace(r.stderr), r.stderr);
    return { code: r.code, report: JSON.parse(r.stdout) as StatusReport, stderr: r.stderr };
  };
  const stored = async () => (await readStored(store, 'gw')).serial;
  const served = async (host: Host) => (await (nginx.get(host) as Nginx).peerCertificate()).serial;
  const hostsOf = (report: StatusReport) =>
    Object.fromEntries((report.certificates[0]?.hosts ?? []).map((h) => [h.host, h.state]));

  before(async () => {
    tmp = await tempDir('cert-renew-e2e-deploy-');
    store = join(tmp.path, 'shared');
    manifest = await writeManifest(tmp.path, fleetManifest(store));
    // The first certificate, before any nginx exists (no hook can reload anything yet).
    const first = await runCli(['-m', manifest, 'run', '--json', '--host-id', 'bootstrap'], {
      env: { HOST_RELOAD: 'true' },
    });
    assert.equal(first.code, 0, first.stderr);
    for (const host of HOSTS) {
      nginx.set(
        host,
        await startNginx({
          certPath: join(store, 'gw', 'fullchain.pem'),
          keyPath: join(store, 'gw', 'privkey.pem'),
        }),
      );
    }
  });
  after(async () => {
    for (const n of nginx.values()) await n.stop();
    await tmp?.remove();
  });

  test('a host that has not deployed the stored version runs its hooks, whoever stored it', async () => {
    // None of the three has deployed anything yet: each run deploys (reloads its own nginx) once.
    for (const host of HOSTS) {
      const r = await run(host);
      assert.equal(r.code, 0, r.stderr);
      const report = parseReport(r.stdout);
      assert.equal(report.certificates[0]?.outcome, 'ok');
      assert.deepEqual(
        report.hooks.map((h) => [h.name, h.ok]),
        [['reload nginx', true]],
      );
    }
    // A second round changes nothing: every host is current.
    const again = parseReport((await run('host-b')).stdout);
    assert.deepEqual(again.hooks, []);
    const { report, code } = await status('host-a', '--check');
    assert.equal(code, 0, JSON.stringify(report));
    assert.deepEqual(hostsOf(report), {
      bootstrap: 'current',
      'host-a': 'current',
      'host-b': 'current',
      'host-c': 'current',
    });
  });

  test('host A renews; B and C deploy it on their next run; every nginx serves the new serial', async () => {
    const before = await stored();
    const r = await run('host-a', '--force');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(parseReport(r.stdout).certificates[0]?.outcome, 'renewed');
    const now = await stored();
    assert.notEqual(now, before);
    await nginx.get('host-a')?.waitForSerial(now);
    // B and C still serve the old one: nothing told them.
    assert.equal(await served('host-b'), before);
    assert.equal(await served('host-c'), before);
    const behind = await status('host-b');
    assert.equal(hostsOf(behind.report)['host-b'], 'behind');
    assert.equal(hostsOf(behind.report)['host-a'], 'current');
    // Within the grace period (two intervals) that is not a warning; past it (--grace 1ms) it is.
    assert.equal((await status('host-c', '--check')).code, 0);
    const late = await status('host-c', '--check', '--grace', '1ms');
    assert.equal(late.code, 1, JSON.stringify(late.report));
    assert.equal(late.report.certificates[0]?.health, 'warning');

    for (const host of ['host-b', 'host-c'] as const) {
      const next = await run(host);
      assert.equal(next.code, 0, next.stderr);
      const report = parseReport(next.stdout);
      assert.equal(report.certificates[0]?.outcome, 'ok');
      assert.match(report.certificates[0]?.message ?? '', /deploying serial/);
      await nginx.get(host)?.waitForSerial(now);
    }
    // Every host that serves it is current; only the retired bootstrap host is still behind.
    const after = await status('host-a', '--grace', '1ms');
    assert.deepEqual(hostsOf(after.report), {
      bootstrap: 'behind',
      'host-a': 'current',
      'host-b': 'current',
      'host-c': 'current',
    });
  });

  test('a host whose reload fails is reported behind by status on every host, and --check warns', async () => {
    broken.add('host-c');
    const r = await run('host-b', '--force');
    assert.equal(r.code, 0, r.stderr);
    const now = await stored();
    await nginx.get('host-b')?.waitForSerial(now);
    assert.equal((await run('host-a')).code, 0);
    // `nginx -s reload` returns before the new workers serve: wait for host A's as for the others (the
    // last check of this test read host A while a loaded machine was still reloading it).
    await nginx.get('host-a')?.waitForSerial(now);
    const failed = await run('host-c');
    assert.equal(failed.code, 1, failed.stderr);
    const report = parseReport(failed.stdout);
    assert.equal(report.certificates[0]?.error?.code, 'HOOK_FAILED');
    assert.notEqual(await served('host-c'), now);
    for (const host of HOSTS) {
      const seen = await status(host, '--check');
      assert.equal(seen.code, 1, JSON.stringify(seen.report));
      const c = seen.report.certificates[0]?.hosts?.find((h) => h.host === 'host-c');
      assert.equal(c?.state, 'failed', JSON.stringify(c));
      assert.equal(c?.overdue, true);
      assert.match(c?.error ?? '', /HOOK_FAILED/);
    }
    const table = await runCli(['-m', manifest, 'status', '--interval', '5m']);
    assert.match(table.stdout, /host-c failed since/);
    // The metrics say it too, per host: failed 1 for host-c only.
    const metricsFile = join(tmp.path, 'fleet.prom');
    const withMetrics = await runCli([
      '-m',
      manifest,
      'status',
      '--interval',
      '5m',
      '--metrics-file',
      metricsFile,
    ]);
    assert.equal(withMetrics.code, 0, withMetrics.stderr);
    const metrics = await readFile(metricsFile, 'utf8');
    assert.match(metrics, /^cert_renew_host_deploy_failed\{name="gw",store="shared",host="host-c"\} 1$/m);
    assert.match(metrics, /^cert_renew_host_deploy_failed\{name="gw",store="shared",host="host-a"\} 0$/m);
    // Fixed: the next run on C deploys it, and every host is current again.
    broken.delete('host-c');
    const fixed = await run('host-c');
    assert.equal(fixed.code, 0, fixed.stderr);
    await nginx.get('host-c')?.waitForSerial(now);
    const all = await status('host-a', '--check');
    assert.equal(all.code, 0, JSON.stringify(all.report));
    // Each host in turn: right after a reload nginx's old workers may still take a connection or two, so one
    // answer with the new serial (waitForSerial above) does not make the next one certain (a CI run read the old
    // serial here once, right after host C's reload).
    for (const host of HOSTS) await nginx.get(host)?.waitForSerial(now);
  });

  test('a hook that cannot even start stays pending and status --check warns', async () => {
    const missing = await writeManifest(
      tmp.path,
      {
        ...fleetManifest(store),
        defaults: {
          issuer: 'local',
          store: 'shared',
          hooks: { postRenew: [{ name: 'gone', run: [join(tmp.path, 'no-such-reload')] }] },
        },
      },
      'missing-hook.json',
    );
    const r = await runCli(['-m', missing, 'run', '--json', '--force', '--host-id', 'host-d']);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /not found/);
    const check = await runCli(['-m', missing, 'status', '--json', '--check']);
    assert.equal(check.code, 1, check.stdout);
    const d = (JSON.parse(check.stdout) as StatusReport).certificates[0]?.hosts?.find(
      (h) => h.host === 'host-d',
    );
    assert.equal(d?.state, 'failed', JSON.stringify(d));
    // Still pending: the next run on that host runs the hook again.
    const again = await runCli(['-m', missing, 'run', '--json', '--host-id', 'host-d']);
    assert.equal(again.code, 1);
    assert.deepEqual(
      parseReport(again.stdout).hooks.map((h) => h.name),
      ['gone'],
    );
  });

  test('prune --host forgets a retired host: status stops reporting it, the certificate stays', async () => {
    // host-d (above) is failed on the stored version, and --check warns about it.
    const before = await readStored(store, 'gw');
    const prune = (...args: string[]) => runCli(['-m', manifest, 'prune', ...args]);
    const dry = await prune('--host', 'host-d', '--dry-run', '--json');
    assert.equal(dry.code, 0, dry.stderr);
    assert.deepEqual((JSON.parse(dry.stdout) as ForgetHostReport).forgotten, [
      { name: 'gw', store: 'shared', outcome: 'would-forget' },
    ]);
    assert.ok(hostsOf((await status('host-a')).report)['host-d'], 'a dry run changes nothing');
    const noYes = await prune('--host', 'host-d');
    assert.equal(noYes.code, 2, 'no terminal and no --yes: a usage error, nothing removed');
    const done = await prune('--host', 'host-d', '--yes', '--json');
    assert.equal(done.code, 0, done.stderr);
    assert.deepEqual(
      (JSON.parse(done.stdout) as ForgetHostReport).forgotten.map((f) => f.outcome),
      ['forgotten'],
    );
    const after = await status('host-a');
    assert.equal(hostsOf(after.report)['host-d'], undefined);
    assert.ok(hostsOf(after.report)['host-a'], 'the other hosts stay');
    assert.equal((await readStored(store, 'gw')).serial, before.serial, 'the certificate is untouched');
    const again = await prune('--host', 'host-d', '--yes');
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /no deployment records of host host-d/);
    for (const bad of [
      ['--host', 'host-a', 'gw'],
      ['--host', 'not a host', '--yes'],
      ['--host', 'host-a', '--revoke'],
    ]) {
      const r = await prune(...bad);
      assert.equal(r.code, 2, `${bad.join(' ')}: ${r.stderr}`);
      assert.ok(!hasStackTrace(r.stderr), r.stderr);
    }
  });
  test('a host behind whose deployed certificate has expired is critical at once, and its notAfter is recorded', async () => {
    for (const host of ['host-a', 'host-b'] as const) assert.equal((await run(host)).code, 0);
    const recordOf = async (host: Host) =>
      JSON.parse(await readFile(join(store, '.cert-renew', 'deployments', 'gw', `${host}.json`), 'utf8')) as {
        serial?: string;
        notAfter?: string;
      };
    const deployed = await readStored(store, 'gw');
    assert.equal(Date.parse((await recordOf('host-b')).notAfter ?? ''), Date.parse(deployed.cert.validTo));
    // host-a renews; host-b has not run since: behind, within the grace period, so only a warning.
    assert.equal((await run('host-a', '--force')).code, 0);
    assert.equal((await status('host-a')).report.certificates[0]?.health, 'valid');
    // Time passes on host-b (its certificate lasted an hour): what it still serves has expired.
    const path = join(store, '.cert-renew', 'deployments', 'gw', 'host-b.json');
    const expiredAt = new Date(Date.now() - 60_000).toISOString();
    await writeFile(path, JSON.stringify({ ...(await recordOf('host-b')), notAfter: expiredAt }));
    const check = await status('host-a', '--check');
    assert.equal(check.code, 2, JSON.stringify(check.report));
    const item = check.report.certificates[0];
    assert.equal(item?.health, 'critical');
    const b = item?.hosts?.find((h) => h.host === 'host-b');
    assert.deepEqual([b?.state, b?.overdue, b?.expired?.notAfter], ['behind', true, expiredAt]);
    const table = await runCli(['-m', manifest, 'status', '--interval', '5m']);
    assert.match(table.stdout, /host-b behind since .* \(serves serial [0-9A-F]+, expired /);
    // host-b runs: it deploys the stored version, and the fleet is fine again.
    assert.equal((await run('host-b')).code, 0);
    assert.equal((await status('host-a', '--check')).code, 0);
  });
});

/** A store holding `gw` (stored by a first run of host `h`, which reloaded nothing) and an nginx serving it. */
async function servedStore(prefix: string): Promise<{ tmp: TempDir; store: string; nginx: Nginx }> {
  const tmp = await tempDir(prefix);
  const store = join(tmp.path, 'certs');
  const first = await writeManifest(tmp.path, fleetManifest(store), 'first.json');
  assert.equal(
    (await runCli(['-m', first, 'run', '--host-id', 'h'], { env: { HOST_RELOAD: 'true' } })).code,
    0,
  );
  const nginx = await startNginx({
    certPath: join(store, 'gw', 'fullchain.pem'),
    keyPath: join(store, 'gw', 'privkey.pem'),
  });
  return { tmp, store, nginx };
}

describe('verify: the served leaf must be the stored certificate', () => {
  let tmp: TempDir;
  let store: string;
  let nginx: Nginx;

  before(async () => {
    ({ tmp, store, nginx } = await servedStore('cert-renew-e2e-verify-'));
  });
  after(async () => {
    await nginx?.stop();
    await tmp?.remove();
  });

  const manifestWith = (reload: boolean, log: string) =>
    writeManifest(
      tmp.path,
      {
        ...fleetManifest(store, {
          // nginx applies a reload asynchronously: with the reload, verify gets the most attempts (one
          // second apart, it stops at the first match) so that a busy machine's slow reload still passes;
          // without it, the old certificate stays whatever the count.
          verify: { endpoints: [`127.0.0.1:${nginx.tlsPort}`], timeout: '5s', retries: reload ? 20 : 1 },
          hooks: {
            postRenew: [
              {
                name: reload ? 'reload nginx' : 'forgetful hook',
                run: reload ? nginx.reloadCommand : ['true'],
              },
            ],
            onFailure: [
              { name: 'alert', run: ['/bin/sh', '-c', `cat "$CERT_RENEW_FAILURES_FILE" >> '${log}'`] },
            ],
          },
        }),
      },
      reload ? 'reload.json' : 'forgetful.json',
    );

  test('a hook that forgets to reload fails the run with SERVED_MISMATCH; --probe shows it; with the reload it passes', async () => {
    const log = join(tmp.path, 'alerts.log');
    const forgetful = await manifestWith(false, log);
    const old = (await nginx.peerCertificate()).serial;
    const r = await runCli([
      '-m',
      forgetful,
      'run',
      '--interval',
      '5m',
      '--json',
      '--force',
      '--host-id',
      'h',
    ]);
    assert.equal(r.code, 1, r.stderr);
    assert.ok(!hasStackTrace(r.stderr), r.stderr);
    const c = parseReport(r.stdout).certificates[0];
    assert.equal(c?.error?.code, 'SERVED_MISMATCH', JSON.stringify(c));
    assert.equal(c?.served?.[0]?.ok, false);
    assert.equal(normalizeSerial(c?.served?.[0]?.serial ?? ''), old);
    const storedSerial = (await readStored(store, 'gw')).serial;
    assert.notEqual(storedSerial, old);
    assert.equal((await nginx.peerCertificate()).serial, old, 'nginx still serves the old certificate');
    const { readFile } = await import('node:fs/promises');
    assert.match(await readFile(log, 'utf8'), /^gw: SERVED_MISMATCH: /m);

    const probe = await runCli(['-m', forgetful, 'status', '--interval', '5m', '--json', '--probe']);
    const probed = (JSON.parse(probe.stdout) as StatusReport).certificates[0];
    assert.equal(probed?.served?.[0]?.ok, false, probe.stdout);
    assert.equal(probed?.health, 'warning');

    // With the reload: the host is behind, so the next run deploys (reloads) and verify passes.
    const good = await manifestWith(true, log);
    const fixed = await runCli(['-m', good, 'run', '--interval', '5m', '--json', '--host-id', 'h']);
    assert.equal(fixed.code, 0, fixed.stderr);
    assert.equal(parseReport(fixed.stdout).certificates[0]?.served?.[0]?.ok, true);
    await nginx.waitForSerial(storedSerial);
    const probe2 = await runCli(['-m', good, 'status', '--interval', '5m', '--json', '--probe', '--check']);
    assert.equal(probe2.code, 0, probe2.stdout);
    assert.equal((JSON.parse(probe2.stdout) as StatusReport).certificates[0]?.served?.[0]?.ok, true);
  });
});

describe('a stored version without metadata naming it is deployed and reported like any other', () => {
  // What another tool writes (a Redis value with only fullchain_pem and private_key_pem, docs/stores.md), or
  // a version whose files were replaced by hand: the certificate is read, but no metadata names it. The
  // hosts serve something else than the store holds; the run deploys it and status says who is behind.
  let tmp: TempDir;
  let store: string;
  let nginx: Nginx;
  let manifest: string;

  before(async () => {
    ({ tmp, store, nginx } = await servedStore('cert-renew-e2e-unnamed-'));
    manifest = await writeManifest(tmp.path, {
      ...fleetManifest(store, {
        verify: { endpoints: [`127.0.0.1:${nginx.tlsPort}`], timeout: '5s', retries: 20 },
        hooks: { postRenew: [{ name: 'reload nginx', run: nginx.reloadCommand }] },
      }),
    });
  });
  after(async () => {
    await nginx?.stop();
    await tmp?.remove();
  });

  const status = async (...args: string[]) => {
    const r = await runCli(['-m', manifest, 'status', '--interval', '5m', '--json', ...args]);
    assert.ok(!hasStackTrace(r.stderr), r.stderr);
    return { code: r.code, c: (JSON.parse(r.stdout) as StatusReport).certificates[0] };
  };

  test('the earlier version put back by hand: status shows the host behind and not serving it; the run reloads', async () => {
    const { readdir, readlink, copyFile } = await import('node:fs/promises');
    const renewed = await runCli(['-m', manifest, 'run', '--interval', '5m', '--force', '--host-id', 'h']);
    assert.equal(renewed.code, 0, renewed.stderr);
    const newer = (await readStored(store, 'gw')).serial;
    await nginx.waitForSerial(newer);
    // The earlier version's files copied over the current version's: its meta.json names the newer one.
    const versions = join(store, 'gw', 'versions');
    const current = (await readlink(join(store, 'gw', 'current'))).split('/').pop() as string;
    const earlier = (await readdir(versions)).find((id) => id !== current) as string;
    for (const file of ['cert.pem', 'chain.pem', 'fullchain.pem', 'privkey.pem'])
      await copyFile(join(versions, earlier, file), join(versions, current, file));
    const older = (await readStored(store, 'gw')).serial;
    assert.notEqual(older, newer);

    const before = await status('--probe', '--check', '--grace', '1ms');
    assert.equal(before.code, 1, JSON.stringify(before.c));
    assert.deepEqual(
      before.c?.hosts?.map((h) => [h.host, h.state, h.overdue]),
      [['h', 'behind', true]],
    );
    assert.equal(before.c?.served?.[0]?.ok, false, JSON.stringify(before.c));

    const r = await runCli(['-m', manifest, 'run', '--interval', '5m', '--json', '--host-id', 'h']);
    assert.equal(r.code, 0, r.stderr);
    const line = parseReport(r.stdout).certificates[0];
    assert.match(line?.message ?? '', /deploying serial/);
    assert.equal(normalizeSerial(line?.serial ?? ''), older);
    assert.equal(line?.served?.[0]?.ok, true, JSON.stringify(line));
    await nginx.waitForSerial(older);

    const after = await status('--probe', '--check', '--grace', '1ms');
    assert.equal(after.code, 0, JSON.stringify(after.c));
    assert.deepEqual(
      after.c?.hosts?.map((h) => [h.host, h.state]),
      [['h', 'current']],
    );
    assert.equal(after.c?.served?.[0]?.ok, true);
  });
});
