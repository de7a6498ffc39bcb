/**
 * `status` never says "valid" about something that is not (issue 16, items 1–4, 7, 8; issue 14 item 11),
 * with the built CLI against real files, a real nginx and a loopback server that never answers. Time
 * travel (an expired or not-yet-valid certificate) is done by issuing in-process with a fixed clock; every
 * check afterwards runs the CLI at the real time.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmod, copyFile, lstat, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import type { Socket } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createServer, type Server } from 'node:tls';
import { main } from '../../src/cli.js';
import type { PlanItem } from '../../src/plan/model.js';
import type { StatusReport } from '../../src/report/status.js';
import { fixedClock } from '../../src/runtime/clock.js';
import { inspectCertificate } from '../../src/x509/index.js';
import { startNginx } from '../harness/nginx.js';
import { type TempDir, tempDir } from '../harness/process.js';
import { createCa, createLeaf, normalizeSerial } from '../harness/tls.js';
import { BIN, type CliResult, cliEnv, hasStackTrace, REPO, runCli, startCli } from './cli.js';
import { parseReport } from './e2e-helpers.js';
import { localManifest, memoryIO, writeManifest } from './fixtures.js';

const DAY = 86_400_000;

/** `cert-renew …` in-process at a chosen time (the local CA signs with that clock). */
async function runAt(at: number, manifest: string, ...args: string[]): Promise<number> {
  const io = memoryIO(fixedClock(at));
  const code = await main(['-m', manifest, ...args], io.env, io);
  assert.ok(code === 0, `${args.join(' ')} at ${new Date(at).toISOString()}: ${io.err}`);
  return code;
}

function statusJson(r: CliResult): StatusReport {
  return JSON.parse(r.stdout) as StatusReport;
}

function planItems(r: CliResult): PlanItem[] {
  return (JSON.parse(r.stdout) as { items: PlanItem[] }).items;
}

function serialOf(pem: string): string {
  return normalizeSerial(inspectCertificate(pem).serial);
}

describe('status judges what a reader of the configured file names gets', () => {
  let tmp: TempDir;
  before(async () => {
    tmp = await tempDir('cert-renew-truth-');
  });
  after(() => tmp.remove());

  test('1: stable links replaced by plain expired files: critical, said so, and run repairs them (real nginx)', async () => {
    const store = join(tmp.path, 'links');
    const manifest = await writeManifest(
      tmp.path,
      localManifest(store, {
        certificates: [{ name: 'web', domains: ['web.example.test'] }],
        // One machine: the in-process runs (memoryIO's host name) and the CLI's record the same host.
        deployment: { hostId: 'test-host' },
      }),
      'links.json',
    );
    // 40 days ago, a 30-day certificate: expired 10 days ago. Keep its bytes aside.
    await runAt(Date.now() - 40 * DAY, manifest, 'run', '--json');
    const web = join(store, 'web');
    const old = join(tmp.path, 'old');
    await mkdir(old);
    await copyFile(join(web, 'fullchain.pem'), join(old, 'fullchain.pem'));
    await copyFile(join(web, 'privkey.pem'), join(old, 'privkey.pem'));
    const oldSerial = serialOf(await readFile(join(old, 'fullchain.pem'), 'utf8'));
    // Now a valid version, then an operator moves the old files over the links.
    let r = await runCli(['-m', manifest, 'run', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const validSerial = serialOf(await readFile(join(web, 'cert.pem'), 'utf8'));
    await rename(join(old, 'fullchain.pem'), join(web, 'fullchain.pem'));
    await rename(join(old, 'privkey.pem'), join(web, 'privkey.pem'));

    const nginx = await startNginx({
      certPath: join(web, 'fullchain.pem'),
      keyPath: join(web, 'privkey.pem'),
    });
    try {
      assert.equal(
        (await nginx.peerCertificate()).serial,
        oldSerial,
        'nginx reads the replaced (expired) file',
      );

      r = await runCli(['-m', manifest, 'status', '--check']);
      assert.equal(r.code, 2, `critical: ${r.stdout}${r.stderr}`);
      r = await runCli(['-m', manifest, 'status', '--json']);
      const [item] = statusJson(r).certificates;
      assert.equal(item?.health, 'critical');
      assert.equal(item?.reason, 'expired');
      assert.match(
        item?.message ?? '',
        /fullchain\.pem, privkey\.pem in web are not the links cert-renew made/,
      );
      r = await runCli(['-m', manifest, 'show', 'web']);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /not the links cert-renew made/);
      assert.ok(!r.stdout.includes(new Date(Date.now() + 29 * DAY).toISOString().slice(0, 10)), r.stdout);

      r = await runCli(['-m', manifest, 'run', '--json']);
      assert.equal(r.code, 0, r.stderr);
      const [renewed] = parseReport(r.stdout).certificates;
      assert.deepEqual([renewed?.outcome, renewed?.reason], ['renewed', 'expired']);
      for (const file of ['cert.pem', 'chain.pem', 'fullchain.pem', 'privkey.pem']) {
        assert.ok((await lstat(join(web, file))).isSymbolicLink(), `${file} is a link again`);
      }
      await nginx.reload();
      const served = serialOf(await readFile(join(web, 'fullchain.pem'), 'utf8'));
      assert.notEqual(served, validSerial);
      await nginx.waitForSerial(served, 60_000);
      r = await runCli(['-m', manifest, 'status', '--check']);
      assert.equal(r.code, 0, r.stdout);
    } finally {
      await nginx.stop();
    }
  });

  test('1b: a replaced link whose file is still valid warns (links-replaced) and run puts the link back', async () => {
    const store = join(tmp.path, 'links-valid');
    const manifest = await writeManifest(
      tmp.path,
      localManifest(store, { certificates: [{ name: 'web', domains: ['web.example.test'] }] }),
      'links-valid.json',
    );
    let r = await runCli(['-m', manifest, 'run', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const path = join(store, 'web', 'cert.pem');
    const bytes = await readFile(path);
    await writeFile(`${path}.copy`, bytes);
    await rename(`${path}.copy`, path);
    r = await runCli(['-m', manifest, 'status', '--check']);
    assert.equal(r.code, 1, r.stdout);
    r = await runCli(['-m', manifest, 'plan', '--json']);
    assert.equal(planItems(r)[0]?.reason, 'links-replaced');
    r = await runCli(['-m', manifest, 'run', '--json']);
    assert.equal(r.code, 0, r.stderr);
    assert.ok((await lstat(path)).isSymbolicLink());
    r = await runCli(['-m', manifest, 'status', '--check']);
    assert.equal(r.code, 0, r.stdout);
  });

  test('2: a certificate not valid for another 48 h is critical (not-yet-valid) and the run renews it', async () => {
    const store = join(tmp.path, 'future');
    const manifest = await writeManifest(
      tmp.path,
      localManifest(store, {
        certificates: [{ name: 'web', domains: ['web.example.test'] }],
        // One machine: the in-process runs (memoryIO's host name) and the CLI's record the same host.
        deployment: { hostId: 'test-host' },
      }),
      'future.json',
    );
    let r = await runCli(['-m', manifest, 'run', '--json']);
    assert.equal(r.code, 0, r.stderr);
    await runAt(Date.now() + 2 * DAY, manifest, 'run', '--force', '--json');
    r = await runCli(['-m', manifest, 'status', '--check']);
    assert.equal(r.code, 2, r.stdout);
    r = await runCli(['-m', manifest, 'status', '--json']);
    const [item] = statusJson(r).certificates;
    assert.deepEqual([item?.health, item?.reason], ['critical', 'not-yet-valid']);
    assert.match(item?.message ?? '', /not valid yet: valid from /);
    r = await runCli(['-m', manifest, 'run', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const [renewed] = parseReport(r.stdout).certificates;
    assert.deepEqual([renewed?.outcome, renewed?.reason], ['renewed', 'not-yet-valid']);
    r = await runCli(['-m', manifest, 'status', '--check']);
    assert.equal(r.code, 0, r.stdout);
  });
});

/**
 * `pem` with its notAfter's UTCTime (the validity's second) set to `text` (`YYMMDDHHMMSSZ`, same length): the
 * signature no longer matches, which no plan checks, so the date is all that changed.
 */
function withNotAfter(pem: string, text: string): string {
  const der = Buffer.from(pem.replace(/-----[^-]+-----|\s/g, ''), 'base64');
  const times: number[] = [];
  for (let i = 0; i + 14 < der.length; i++)
    if (der[i] === 0x17 && der[i + 1] === 13 && der[i + 14] === 0x5a) times.push(i);
  const at = times[1];
  assert.ok(at !== undefined, 'the certificate has two UTCTimes');
  der.write(text, at + 2, 'latin1');
  return `-----BEGIN CERTIFICATE-----\n${der.toString('base64').replace(/.{64}/g, '$&\n')}\n-----END CERTIFICATE-----\n`;
}

describe('a stored certificate with a date that does not exist', () => {
  let tmp: TempDir;
  before(async () => {
    tmp = await tempDir('cert-renew-baddate-');
  });
  after(() => tmp.remove());

  test('is unreadable and renewed, alone: the other certificates are planned, show says why', async () => {
    const store = join(tmp.path, 'store');
    const manifest = await writeManifest(
      tmp.path,
      localManifest(store, {
        certificates: [
          { name: 'odd', domains: ['odd.example.test'] },
          { name: 'fine', domains: ['fine.example.test'] },
        ],
      }),
      'baddate.json',
    );
    let r = await runCli(['-m', manifest, 'run', '--json']);
    assert.equal(r.code, 0, r.stderr);
    // 31 April, as OpenSSL prints it "Bad time value"; the metadata once with its own date, once with the
    // date that reading would roll over to (1 May), which an earlier reader matched and trusted.
    const version = join(store, 'odd', 'current');
    const meta = JSON.parse(await readFile(join(version, 'meta.json'), 'utf8')) as { notAfter: string };
    const year = meta.notAfter.slice(2, 4);
    for (const notAfter of [meta.notAfter, `20${year}-05-01T12:00:00.000Z`]) {
      const cert = withNotAfter(await readFile(join(version, 'cert.pem'), 'utf8'), `${year}0431120000Z`);
      const chain = await readFile(join(version, 'chain.pem'), 'utf8');
      await writeFile(join(version, 'cert.pem'), cert);
      await writeFile(join(version, 'fullchain.pem'), cert + chain);
      await writeFile(join(version, 'meta.json'), JSON.stringify({ ...meta, notAfter }));
      r = await runCli(['-m', manifest, 'plan', '--json']);
      assert.equal(r.code, 0, r.stderr);
      const items = new Map(planItems(r).map((item) => [item.name, item]));
      assert.deepEqual(
        [items.get('odd')?.action, items.get('odd')?.reason],
        ['renew', 'unreadable'],
        notAfter,
      );
      assert.deepEqual([items.get('fine')?.action, items.get('fine')?.reason], ['keep', 'ok'], notAfter);
      r = await runCli(['-m', manifest, 'status', '--check']);
      assert.equal(r.code, 2, r.stdout);
      r = await runCli(['-m', manifest, 'show', 'odd']);
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, /odd: the stored certificate is unreadable: .*validity dates do not exist/);
      assert.ok(!hasStackTrace(r.stderr) && !/internal error/.test(r.stderr), r.stderr);
    }
    r = await runCli(['-m', manifest, 'run', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const outcomes = new Map(parseReport(r.stdout).certificates.map((c) => [c.name, c.outcome]));
    assert.deepEqual([outcomes.get('odd'), outcomes.get('fine')], ['renewed', 'ok']);
    r = await runCli(['-m', manifest, 'status', '--check']);
    assert.equal(r.code, 0, r.stdout);
  });
});

/** The CLI as an unprivileged user: as root, `nobody` through setpriv; otherwise the current user. */
function runUnprivileged(args: string[]): Promise<CliResult> {
  const root = process.getuid?.() === 0;
  const argv = root
    ? ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, BIN, ...args]
    : [process.execPath, BIN, ...args];
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0] as string, argv.slice(1), { cwd: REPO, env: cliEnv() });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    const guard = setTimeout(() => child.kill('SIGKILL'), 300_000);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(guard);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

describe('every failed attempt is visible', () => {
  let tmp: TempDir;
  before(async () => {
    tmp = await tempDir('cert-renew-truth-');
    await chmod(tmp.path, 0o777);
  });
  after(() => tmp.remove());

  test('3: a group that cannot be set: the error says it is the group, status --check warns', async () => {
    const store = join(tmp.path, 'grouped');
    await mkdir(store, { mode: 0o777 });
    await chmod(store, 0o777);
    // As root the CLI runs as nobody, who is no member of root's group 0; a non-root user neither.
    const group = process.getuid?.() === 0 ? 'www-data' : '0';
    const certificates = [{ name: 'web', domains: ['web.example.test'] }];
    const plain = await writeManifest(tmp.path, localManifest(store, { certificates }), 'plain.json');
    const manifest = await writeManifest(
      tmp.path,
      localManifest(store, {
        stores: { files: { type: 'filesystem', path: store, group } },
        certificates,
      }),
      'grouped.json',
    );
    await chmod(manifest, 0o644);
    await chmod(plain, 0o644);
    // A certificate in service, then every renewal fails on the group.
    let r = await runUnprivileged(['-m', plain, 'run', '--json']);
    assert.equal(r.code, 0, r.stderr);
    r = await runUnprivileged(['-m', manifest, 'run', '--force', '--json']);
    assert.equal(r.code, 1, r.stderr);
    assert.ok(!hasStackTrace(r.stderr), r.stderr);
    const [failed] = parseReport(r.stdout).certificates;
    assert.equal(failed?.error?.code, 'STORE_WRITE_FAILED');
    assert.match(failed?.error?.message ?? '', /cannot set its group to gid \d+/);
    assert.match(failed?.error?.message ?? '', /the store's "group" cannot be set by this user/);
    assert.equal(failed?.attemptNotRecorded, undefined, 'the failure is recorded in the store');

    r = await runUnprivileged(['-m', manifest, 'status', '--check']);
    assert.equal(r.code, 1, `status --check warns while every run fails: ${r.stdout}`);
    r = await runUnprivileged(['-m', manifest, 'status', '--json']);
    const [item] = statusJson(r).certificates;
    assert.equal(item?.failures?.count, 1);
    assert.match(item?.failures?.lastError ?? '', /group/);
  });

  test('3b: a failure the store cannot record is said by the run and carried by the metrics', async () => {
    const store = join(tmp.path, 'readonly');
    await mkdir(join(store, 'web'), { recursive: true, mode: 0o755 });
    await chmod(store, 0o777);
    // The certificate directory is not writable: neither the version nor attempts.json can be written.
    await chmod(join(store, 'web'), 0o555);
    const metrics = join(tmp.path, 'metrics.prom');
    const manifest = await writeManifest(
      tmp.path,
      localManifest(store, { certificates: [{ name: 'web', domains: ['web.example.test'] }] }),
      'readonly.json',
    );
    await chmod(manifest, 0o644);
    await writeFile(metrics, '');
    await chmod(metrics, 0o666);
    await chmod(tmp.path, 0o777);
    const r = await runUnprivileged(['-m', manifest, 'run', '--json', '--metrics-file', metrics]);
    assert.equal(r.code, 1, r.stderr);
    const [failed] = parseReport(r.stdout).certificates;
    assert.equal(failed?.outcome, 'failed');
    assert.ok(failed?.attemptNotRecorded, JSON.stringify(failed));
    assert.match(
      r.stderr,
      /the failed attempt could not be recorded in store 'files' \(status will not show it\)/,
    );
    assert.match(await readFile(metrics, 'utf8'), /^cert_renew_last_run_unrecorded_failures 1$/m);
  });

  test('3c: show by a user who may not read the key says so, not that the next run replaces it', async () => {
    const store = join(tmp.path, 'keyed');
    const manifest = await writeManifest(
      tmp.path,
      localManifest(store, { certificates: [{ name: 'web', domains: ['web.example.test'] }] }),
      'keyed.json',
    );
    await chmod(manifest, 0o644);
    const issued = await runCli(['-m', manifest, 'run']);
    assert.equal(issued.code, 0, issued.stderr);
    // As root the CLI runs as nobody, to whom the 0600 key is closed; a non-root owner needs it closed.
    if (process.getuid?.() !== 0) await chmod(join(store, 'web', 'privkey.pem'), 0o000);
    const r = await runUnprivileged(['-m', manifest, 'show', 'web']);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.ok(!hasStackTrace(r.stderr), r.stderr);
    assert.match(r.stderr, /cannot read privkey\.pem in web\/versions\/\S+ \(EACCES\)/);
    assert.match(r.stderr, /this user may not read the stored files/);
    assert.doesNotMatch(r.stderr, /the next cert-renew run replaces it/);
  });
});

describe('an interrupted run is not a failed one', () => {
  let tmp: TempDir;
  let server: Server;
  const sockets = new Set<Socket>();
  let connected: Promise<void>;
  let caBundle: string;
  before(async () => {
    tmp = await tempDir('cert-renew-truth-');
    const ca = await createCa(tmp.path);
    caBundle = ca.certPath;
    const leaf = await createLeaf(ca, tmp.path, { names: ['127.0.0.1', 'localhost'] });
    let seen: () => void = () => {};
    connected = new Promise((resolve) => {
      seen = resolve;
    });
    // An ACME directory that accepts connections and never answers: the run is mid-way for as long as
    // the test wants.
    server = createServer({ cert: leaf.certPem, key: leaf.keyPem }, (socket) => {
      sockets.add(socket);
      socket.on('error', () => {});
      seen();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  });
  after(async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise((resolve) => server.close(resolve));
    await tmp.remove();
  });

  test('4: SIGTERM mid-run, then the next run does not answer BACKOFF', async () => {
    const address = server.address();
    assert.ok(address && typeof address === 'object');
    const store = join(tmp.path, 'certs');
    const manifest = await writeManifest(tmp.path, {
      version: 1,
      defaults: { issuer: 'hanging', store: 'files' },
      issuers: {
        hanging: {
          type: 'acme',
          directory: `https://127.0.0.1:${address.port}/directory`,
          caBundle,
          email: 'ops@example.test',
          challenge: { type: 'http-01', webroot: join(tmp.path, 'webroot') },
        },
      },
      stores: { files: { type: 'filesystem', path: store } },
      certificates: [{ name: 'web', domains: ['web.example.test'] }],
    } as never);
    const { child, done } = startCli(['-m', manifest, 'run', '--json', '--timeout', '10m']);
    await connected;
    child.kill('SIGTERM');
    const r = await done;
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /next run/i);
    const plan = await runCli(['-m', manifest, 'plan', '--json']);
    assert.equal(plan.code, 0, plan.stderr);
    const [item] = planItems(plan);
    assert.equal(item?.action, 'renew', JSON.stringify(item));
    assert.equal(item?.failures, undefined);
  });
});

describe('what is issued and restored is judged against the present', () => {
  let tmp: TempDir;
  before(async () => {
    tmp = await tempDir('cert-renew-truth-');
  });
  after(() => tmp.remove());

  test('7: a local CA with a 4-minute lifetime issues certificates that are accepted', async () => {
    const store = join(tmp.path, 'short');
    const manifest = await writeManifest(
      tmp.path,
      localManifest(store, {
        issuers: { local: { type: 'local-ca', lifetime: '4m' } },
        certificates: [{ name: 'web', domains: ['web.example.test'] }],
      }),
      'short.json',
    );
    const r = await runCli(['-m', manifest, 'run', '--json', '--interval', '1m']);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.equal(parseReport(r.stdout).certificates[0]?.outcome, 'renewed');
  });

  test('8: the local CA chain.pem holds the CA certificate; nginx -t with ssl_trusted_certificate passes', async () => {
    const store = join(tmp.path, 'chain');
    const manifest = await writeManifest(
      tmp.path,
      localManifest(store, { certificates: [{ name: 'web', domains: ['web.example.test'] }] }),
      'chain.json',
    );
    const r = await runCli(['-m', manifest, 'run', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const web = join(store, 'web');
    const chain = await readFile(join(web, 'chain.pem'), 'utf8');
    const ca = inspectCertificate(chain);
    assert.equal(ca.isCA, true);
    assert.equal(inspectCertificate(await readFile(join(web, 'cert.pem'), 'utf8')).issuer, ca.subject);
    const nginx = await startNginx({
      certPath: join(web, 'fullchain.pem'),
      keyPath: join(web, 'privkey.pem'),
      tlsDirectives: [`ssl_trusted_certificate ${join(web, 'chain.pem')};`],
    });
    try {
      const output = await nginx.configTest();
      assert.match(output, /test is successful/);
    } finally {
      await nginx.stop();
    }
  });

  test('14.11: a failed hook never rolls back to an expired version, and the failure backs off', async () => {
    const store = join(tmp.path, 'rollback');
    const fail = join(tmp.path, 'fail.sh');
    await writeFile(fail, '#!/bin/sh\necho reload failed >&2\nexit 1\n', { mode: 0o755 });
    const manifest = await writeManifest(
      tmp.path,
      localManifest(store, {
        certificates: [
          {
            name: 'web',
            domains: ['web.example.test'],
            hooks: { postRenew: [{ run: [fail], name: 'reload' }], rollbackOnHookFailure: true },
          },
        ],
      }),
      'rollback.json',
    );
    // An expired version first (issued 40 days ago; its own hook failure there is not the point).
    const io = memoryIO(fixedClock(Date.now() - 40 * DAY));
    await main(['-m', manifest, 'run', '--json'], io.env, io);
    let r = await runCli(['-m', manifest, 'run', '--json']);
    assert.equal(r.code, 1, r.stderr);
    const [line] = parseReport(r.stdout).certificates;
    assert.equal(line?.outcome, 'failed', JSON.stringify(line));
    assert.match(r.stderr, /no previous certificate valid now to restore/);
    r = await runCli(['-m', manifest, 'status', '--json']);
    const [item] = statusJson(r).certificates;
    assert.equal(item?.reason, 'ok', 'the new certificate stays in place');
    assert.ok(item?.hooksPending);
  });
});
