/**
 * Deployment state with the Redis store: two "hosts" (separate processes, `--host-id`), each with its own
 * nginx. Their post-renew hook does what a Redis fleet does: writes the stored certificate and key out of
 * the store (`cert-renew show --pem --include-key`) into the file its nginx serves, then reloads it.
 * Whichever host renews, both nginx serve the new serial after each host's next run; a host whose reload
 * fails is reported failed by `status` (table and JSON) and `status --check` warns; `deployed:{name}`
 * holds one field per host.
 */
import assert from 'node:assert/strict';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { StatusReport } from '../../src/report/status.js';
import { type Nginx, startNginx } from '../harness/nginx.js';
import { type TempDir, tempDir } from '../harness/process.js';
import { type RedisServer, startRedis } from '../harness/redis.js';
import { normalizeSerial } from '../harness/tls.js';
import { BIN, runCli } from './cli.js';
import { writeManifest } from './fixtures.js';
import { readCertValue, redisManifest, runReport } from './redis-fixtures.js';

const HOSTS = ['red-a', 'red-b'] as const;
type Host = (typeof HOSTS)[number];

/** Writes `gw` out of Redis into `$HOST_DIR/bundle.pem` (atomically), then `$HOST_RELOAD`. */
const EXPORT_AND_RELOAD =
  '"$CLI_NODE" "$CLI_BIN" -m "$MANIFEST" show "$CERT_RENEW_NAME" --pem --include-key > "$HOST_DIR/bundle.tmp" && mv "$HOST_DIR/bundle.tmp" "$HOST_DIR/bundle.pem" && eval "$HOST_RELOAD"';

const quote = (args: string[]) => args.map((a) => `'${a.replaceAll("'", `'\\''`)}'`).join(' ');

describe('deployment state across hosts sharing a Redis store', () => {
  let tmp: TempDir;
  let redis: RedisServer;
  let manifest: string;
  const nginx = new Map<Host, Nginx>();
  const broken = new Set<Host>();

  const env = (host: Host): Record<string, string> => ({
    CLI_NODE: process.execPath,
    CLI_BIN: BIN,
    MANIFEST: manifest,
    HOST_DIR: join(tmp.path, host),
    HOST_RELOAD: broken.has(host) ? 'exit 1' : quote(nginx.get(host)?.reloadCommand ?? ['true']),
  });
  const run = (host: Host, ...args: string[]) =>
    runCli(['-m', manifest, 'run', '--json', '--host-id', host, ...args], { env: env(host) });
  const servedSerial = async (host: Host) => (await (nginx.get(host) as Nginx).peerCertificate()).serial;
  const storedSerial = async () => normalizeSerial((await readCertValue(redis.cli, 'gw'))?.serial ?? '');

  before(async () => {
    tmp = await tempDir('cert-renew-e2e-deploy-redis-');
    redis = await startRedis();
    manifest = await writeManifest(
      tmp.path,
      redisManifest({ url: redis.url }, ['gw'], {
        defaults: {
          issuer: 'local',
          store: 'shared',
          hooks: { postRenew: [{ name: 'export and reload', run: ['/bin/sh', '-c', EXPORT_AND_RELOAD] }] },
        },
      }),
    );
    for (const host of HOSTS) await mkdir(join(tmp.path, host));
    // Host A's first run issues the certificate and writes its bundle (no nginx yet: reload is `true`).
    const first = await run('red-a');
    assert.equal(first.code, 0, first.stderr);
    // Host B's first run deploys it: its hook writes B's bundle.
    assert.equal((await run('red-b')).code, 0);
    for (const host of HOSTS) {
      const bundle = join(tmp.path, host, 'bundle.pem');
      nginx.set(host, await startNginx({ certPath: bundle, keyPath: bundle }));
    }
  });
  after(async () => {
    for (const n of nginx.values()) await n.stop();
    await redis?.stop();
    await tmp?.remove();
  });

  test('whichever host renews, both nginx serve the new serial after each host runs', async () => {
    for (const renewer of HOSTS) {
      const r = await run(renewer, '--force');
      assert.equal(r.code, 0, r.stderr);
      assert.equal(runReport(r).certificates[0]?.outcome, 'renewed');
      const now = await storedSerial();
      const other = HOSTS.find((h) => h !== renewer) as Host;
      assert.notEqual(await servedSerial(other), now, 'the other host has not deployed it yet');
      const next = await run(other);
      assert.equal(next.code, 0, next.stderr);
      assert.match(runReport(next).certificates[0]?.message ?? '', /deploying serial/);
      for (const host of HOSTS) await nginx.get(host)?.waitForSerial(now);
    }
    const fields = (await redis.cli('HKEYS', 'deployed:{gw}')).split('\n').sort();
    assert.deepEqual(fields, ['red-a', 'red-b']);
  });

  test('a host whose reload fails is reported by status and status --check', async () => {
    broken.add('red-b');
    assert.equal((await run('red-a', '--force')).code, 0);
    const failed = await run('red-b');
    assert.equal(failed.code, 1);
    const st = await runCli(['-m', manifest, 'status', '--json', '--check']);
    assert.equal(st.code, 1, st.stdout);
    const hosts = (JSON.parse(st.stdout) as StatusReport).certificates[0]?.hosts ?? [];
    assert.deepEqual(
      hosts.map((h) => [h.host, h.state]),
      [
        ['red-a', 'current'],
        ['red-b', 'failed'],
      ],
    );
    broken.delete('red-b');
    assert.equal((await run('red-b')).code, 0);
    await nginx.get('red-b')?.waitForSerial(await storedSerial());
    assert.equal((await runCli(['-m', manifest, 'status', '--check'])).code, 0);
  });

  test("a host's own run textfile tells what its run did: a failed deployment, then its recovery", async () => {
    const prom = (host: Host) => join(tmp.path, host, 'run.prom');
    const metric = async (host: Host, line: string) =>
      assert.match(await readFile(prom(host), 'utf8'), new RegExp(`^${line.replace(/[{}]/g, '\\$&')}$`, 'm'));

    // Both hosts serve the stored version.
    for (const host of HOSTS) assert.equal((await run(host)).code, 0);
    // red-a renews and its own reload fails: stored, so no longer due; red-a failed to deploy it.
    broken.add('red-a');
    const renewed = await run('red-a', '--force', '--metrics-file', prom('red-a'));
    assert.equal(renewed.code, 1, renewed.stderr);
    assert.equal(runReport(renewed).certificates[0]?.error?.code, 'HOOK_FAILED');
    await metric(
      'red-a',
      'cert_renew_certificate_renewal_due{name="gw",issuer="local",store="shared",reason="ok"} 0',
    );
    await metric('red-a', 'cert_renew_host_deploy_failed{name="gw",store="shared",host="red-a"} 1');
    await metric('red-a', 'cert_renew_host_deployed{name="gw",store="shared",host="red-a"} 0');
    // red-b served the version this run replaced: behind it now, not current.
    await metric('red-a', 'cert_renew_host_deployed{name="gw",store="shared",host="red-b"} 0');
    broken.delete('red-a');

    // red-b deploys it but its reload fails twice: its own textfile says failed, as status does.
    broken.add('red-b');
    for (const count of [1, 2]) {
      const failed = await run('red-b', '--metrics-file', prom('red-b'));
      assert.equal(failed.code, 1, failed.stderr);
      await metric('red-b', 'cert_renew_host_deploy_failed{name="gw",store="shared",host="red-b"} 1');
      await metric('red-b', 'cert_renew_host_deployed{name="gw",store="shared",host="red-b"} 0');
      await metric(
        'red-b',
        `cert_renew_certificate_failed_attempts{name="gw",issuer="local",store="shared"} ${count + 1}`,
      );
    }
    // red-a's own run meanwhile: its textfile tells only its own deployment's failure (red-b's is told by
    // red-b's file, which red-b's next run clears; red-a's would keep a day-old view of it), while the
    // fleet as status sees it now still says red-b failed.
    assert.equal((await run('red-a', '--metrics-file', prom('red-a'))).code, 0);
    await metric('red-a', 'cert_renew_host_deploy_failed{name="gw",store="shared",host="red-a"} 0');
    assert.doesNotMatch(
      await readFile(prom('red-a'), 'utf8'),
      /cert_renew_host_deploy_failed\{[^}]*host="red-b"/,
    );
    await metric('red-a', 'cert_renew_host_deployed{name="gw",store="shared",host="red-b"} 0');
    const fleetProm = join(tmp.path, 'fleet.prom');
    assert.equal((await runCli(['-m', manifest, 'status', '--metrics-file', fleetProm])).code, 0);
    assert.match(
      await readFile(fleetProm, 'utf8'),
      /^cert_renew_host_deploy_failed\{name="gw",store="shared",host="red-b"\} 1$/m,
    );

    // Fixed: both hosts deploy; the failure record is cleared, and their textfiles no longer count it.
    broken.delete('red-b');
    for (const host of HOSTS) {
      const r = await run(host, '--metrics-file', prom(host));
      assert.equal(r.code, 0, r.stderr);
      await metric(host, `cert_renew_host_deployed{name="gw",store="shared",host="${host}"} 1`);
      await metric(host, `cert_renew_host_deploy_failed{name="gw",store="shared",host="${host}"} 0`);
      await metric(host, 'cert_renew_certificate_failed_attempts{name="gw",issuer="local",store="shared"} 0');
    }
    const st = await runCli(['-m', manifest, 'status', '--json', '--check']);
    assert.equal(st.code, 0, st.stdout);
  });

  test('revoke --host-id records the replacement deployed under that id, as run --host-id does', async () => {
    const bad = await runCli([
      '-m',
      manifest,
      'revoke',
      'gw',
      '--reason',
      'superseded',
      '--yes',
      '--host-id',
      'a b',
    ]);
    assert.equal(bad.code, 2, bad.stderr);
    assert.equal(await redis.cli('LLEN', 'revocations:{gw}'), '0', 'nothing revoked for a bad id');
    const r = await runCli(
      ['-m', manifest, 'revoke', 'gw', '--reason', 'superseded', '--yes', '--host-id', 'red-a'],
      {
        env: env('red-a'),
      },
    );
    assert.equal(r.code, 0, r.stderr);
    const fields = (await redis.cli('HKEYS', 'deployed:{gw}')).split('\n').sort();
    assert.deepEqual(fields, ['red-a', 'red-b'], "no entry under the machine's hostname");
    await nginx.get('red-a')?.waitForSerial(await storedSerial());
    assert.equal((await run('red-b')).code, 0);
  });

  test("prune --host removes a retired host's field of deployed:{name} and nothing else", async () => {
    // A host that deployed once and is gone: its field stays in the hash until it is forgotten.
    await redis.cli('HSET', 'deployed:{gw}', 'red-old', '{"fingerprint":"00","serial":"01"}');
    const r = await runCli(['-m', manifest, 'prune', '--host', 'red-old', '--yes']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /1 of 1 deployment record\(s\) of host red-old removed/);
    assert.equal(await redis.cli('HEXISTS', 'deployed:{gw}', 'red-old'), '0');
    assert.equal(await redis.cli('HEXISTS', 'deployed:{gw}', 'red-a'), '1');
  });

  test('a deployment record that is not JSON still names its host: status shows it behind, prune --host removes it', async () => {
    await redis.cli('HSET', 'deployed:{gw}', 'red-garbled', 'not json');
    const st = await runCli(['-m', manifest, 'status', '--json']);
    const hosts = (JSON.parse(st.stdout) as StatusReport).certificates[0]?.hosts ?? [];
    assert.deepEqual(
      hosts.filter((h) => h.host === 'red-garbled').map((h) => [h.state, h.serial]),
      [['behind', undefined]],
    );
    const r = await runCli(['-m', manifest, 'prune', '--host', 'red-garbled', '--yes']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /1 of 1 deployment record\(s\) of host red-garbled removed/);
    assert.equal(await redis.cli('HEXISTS', 'deployed:{gw}', 'red-garbled'), '0');
  });
});
