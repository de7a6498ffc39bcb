/**
 * The gateway scenario end to end through the CLI: examples/nginx-step-ca.json pointed at a real step-ca
 * (built and started by the test) and a filesystem store in a temporary directory, with its shell-form
 * `nginx -t && nginx -s reload` hook aimed at a real nginx serving the stored files. First issuance goes
 * through /1.0/sign, renewal inside the window through /1.0/renew (same key, new serial, nginx reloaded),
 * key rotation through /1.0/sign; a wrong root fingerprint or a wrong password fails cleanly and leaves
 * the store as it was.
 */
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Manifest, StepCaIssuerConfig } from '../../src/manifest/types.js';
import type { RunReport } from '../../src/report/model.js';
import { type Nginx, startNginx } from '../harness/nginx.js';
import { runCommand, type TempDir, tempDir } from '../harness/process.js';
import { type StepCa, startStepCa } from '../harness/step-ca.js';
import { hasStackTrace, REPO, runCli } from './cli.js';
import { parseReport, readStored, snapshotStore } from './e2e-helpers.js';
import { writeManifest } from './fixtures.js';

const LIFETIME = '2h';
const LIFETIME_MS = 2 * 3_600_000;
const NAMES = ['gateway', 'portainer'] as const;
const DOMAINS = {
  gateway: ['gateway.internal.example', 'api.internal.example'],
  portainer: ['portainer.internal.example'],
};
/** Never set: a password read from it would fail with "not set", which the tests rule out. */
const UNSET_PASSWORD_ENV = 'CERT_RENEW_E2E_STEP_CA_PASSWORD_NEVER_SET';

function shellQuote(arg: string): string {
  return `'${arg.replaceAll("'", `'\\''`)}'`;
}

/** The example's `nginx -t && nginx -s reload`, aimed at the test's nginx (its own prefix and config). */
function reloadShell(nginx: Nginx): string {
  const reload = nginx.reloadCommand;
  const base = reload.slice(0, reload.indexOf('-s'));
  const line = (args: string[]) => args.map(shellQuote).join(' ');
  return `${line([...base, '-t'])} && ${line(reload)}`;
}

interface Variant {
  hook?: string;
  /** `renewBeforePercent` in defaults (see `due` below). */
  renewBeforePercent?: number;
  reuseKey?: boolean;
  rootFingerprint?: string;
  password?: StepCaIssuerConfig['password'];
}

describe('gateway: step-ca issuer, filesystem store, nginx', () => {
  let ca: StepCa;
  let tmp: TempDir;
  let store: string;
  let example: Manifest;
  let nginx: Nginx | undefined;
  /**
   * step-ca back-dates notBefore by a minute, so a 2h certificate spans 121 minutes: a 99.9% window
   * (about 120.9 minutes) is longer than what it has left, so it is due at once.
   */
  const due = 99.9;
  // The safety floor is 2 × the run interval: 10m keeps it inside a 2h certificate's default window.
  const interval = '10m';

  /** examples/nginx-step-ca.json with the test's CA, store, nginx and lifetime put in. */
  function manifest(variant: Variant = {}): Manifest {
    const m = structuredClone(example);
    delete m.$schema;
    const issuer = m.issuers['internal-ca'];
    const fsStore = m.stores.nfs;
    assert.equal(issuer?.type, 'step-ca', 'the example has the step-ca issuer');
    assert.equal(fsStore?.type, 'filesystem', 'the example has the filesystem store');
    if (issuer?.type !== 'step-ca' || fsStore?.type !== 'filesystem') throw new Error('unreachable');
    issuer.url = ca.url;
    issuer.rootFingerprint = variant.rootFingerprint ?? ca.rootFingerprint;
    issuer.provisioner = ca.provisioner;
    issuer.password = variant.password ?? { file: ca.passwordFile };
    issuer.lifetime = LIFETIME;
    fsStore.path = store;
    // The production group (www-data) need not exist where the tests run.
    delete fsStore.group;
    delete fsStore.owner;
    const defaults = m.defaults ?? {};
    m.defaults = defaults;
    const hook = defaults.hooks?.postRenew?.[0];
    assert.equal(hook?.shell, true, 'the example reloads nginx with a shell-form hook');
    if (variant.hook === undefined) delete defaults.hooks;
    else if (hook) hook.run = variant.hook;
    if (variant.renewBeforePercent !== undefined) defaults.renewBeforePercent = variant.renewBeforePercent;
    if (variant.reuseKey !== undefined) defaults.reuseKey = variant.reuseKey;
    assert.deepEqual(
      m.certificates.map((c) => [c.name, c.domains]),
      NAMES.map((name) => [name, DOMAINS[name]]),
    );
    return m;
  }

  async function run(variant: Variant, ...args: string[]) {
    const path = await writeManifest(tmp.path, manifest(variant), 'gateway.json');
    return runCli(['-m', path, 'run', '--json', '--interval', interval, ...args]);
  }

  function outcomes(report: RunReport): [string, string, string | undefined][] {
    return report.certificates.map((c) => [c.name, c.outcome, c.via]);
  }

  async function snapshots(): Promise<Record<string, Record<string, string>>> {
    return {
      gateway: await snapshotStore(store, 'gateway'),
      portainer: await snapshotStore(store, 'portainer'),
    };
  }

  before(async () => {
    const started = startStepCa({ defaultDuration: '24h', minDuration: '5m', maxDuration: '720h' });
    tmp = await tempDir('cert-renew-e2e-gateway-');
    store = join(tmp.path, 'certs');
    example = JSON.parse(await readFile(join(REPO, 'examples', 'nginx-step-ca.json'), 'utf8')) as Manifest;
    ca = await started;
  });
  after(async () => {
    await nginx?.stop();
    await ca?.stop();
    await tmp?.remove();
  });

  test('the first run issues through /1.0/sign: verifies against the root, names and lifetime as asked', async () => {
    // No hook yet: nginx is set up once the files exist.
    const r = await run({});
    assert.equal(r.code, 0, r.stderr);
    assert.ok(!hasStackTrace(r.stderr), r.stderr);
    const report = parseReport(r.stdout);
    assert.deepEqual(
      outcomes(report),
      [
        ['gateway', 'renewed', 'step-ca sign'],
        ['portainer', 'renewed', 'step-ca sign'],
      ],
      r.stderr,
    );
    const issuedAt = Date.now();
    for (const name of NAMES) {
      const stored = await readStored(store, name);
      assert.ok(stored.keyMatches, `${name}: key matches certificate`);
      // openssl, not the code under test, checks the chain up to the step-ca root.
      await runCommand('openssl', [
        'verify',
        '-CAfile',
        ca.rootPath,
        '-untrusted',
        join(store, name, 'chain.pem'),
        '-purpose',
        'sslserver',
        join(store, name, 'cert.pem'),
      ]);
      const domains = DOMAINS[name];
      assert.match(stored.cert.subject, new RegExp(`CN=${domains[0]?.replaceAll('.', '\\.')}`));
      assert.deepEqual(
        (stored.cert.subjectAltName ?? '').split(', ').sort(),
        domains.map((d) => `DNS:${d}`).sort(),
      );
      const notAfter = new Date(stored.cert.validTo).getTime();
      const notBefore = new Date(stored.cert.validFrom).getTime();
      // Asked for 2h; step-ca back-dates notBefore by a minute.
      assert.ok(notAfter - notBefore >= LIFETIME_MS, `${name}: lifetime ${notAfter - notBefore}ms`);
      assert.ok(
        notAfter - notBefore <= LIFETIME_MS + 2 * 60_000,
        `${name}: lifetime ${notAfter - notBefore}ms`,
      );
      assert.ok(Math.abs(notAfter - issuedAt - LIFETIME_MS) < 5 * 60_000, `${name}: expires in about 2h`);
    }
    // A second run with the default window renews nothing.
    const again = await run({});
    assert.equal(again.code, 0, again.stderr);
    assert.deepEqual(
      parseReport(again.stdout).certificates.map((c) => [c.name, c.outcome]),
      [
        ['gateway', 'ok'],
        ['portainer', 'ok'],
      ],
    );
  });

  test('nginx serves the stored certificate; validate accepts the gateway manifest', async () => {
    nginx = await startNginx({
      certPath: join(store, 'gateway', 'fullchain.pem'),
      keyPath: join(store, 'gateway', 'privkey.pem'),
    });
    assert.equal((await nginx.peerCertificate()).serial, (await readStored(store, 'gateway')).serial);
    const path = await writeManifest(
      tmp.path,
      manifest({ hook: reloadShell(nginx), renewBeforePercent: due }),
      'validate.json',
    );
    const v = await runCli(['validate', '--interval', interval, path]);
    assert.equal(v.code, 0, `${v.stdout}\n${v.stderr}`);
    assert.ok(!hasStackTrace(v.stderr), v.stderr);
  });

  test('inside the window: renewed through /1.0/renew with the same key, nginx reloaded, new serial served', async () => {
    assert.ok(nginx);
    const previous = {
      gateway: await readStored(store, 'gateway'),
      portainer: await readStored(store, 'portainer'),
    };
    const r = await run({ hook: reloadShell(nginx), renewBeforePercent: due });
    assert.equal(r.code, 0, r.stderr);
    assert.ok(!hasStackTrace(r.stderr), r.stderr);
    const report = parseReport(r.stdout);
    assert.deepEqual(outcomes(report), [
      ['gateway', 'renewed', 'step-ca renew'],
      ['portainer', 'renewed', 'step-ca renew'],
    ]);
    for (const name of NAMES) {
      const now = await readStored(store, name);
      assert.equal(now.keyPem, previous[name].keyPem, `${name}: the private key is unchanged`);
      assert.notEqual(now.serial, previous[name].serial, `${name}: a new serial`);
      assert.ok(now.keyMatches, `${name}: key matches certificate`);
      await runCommand('openssl', [
        'verify',
        '-CAfile',
        ca.rootPath,
        '-untrusted',
        join(store, name, 'chain.pem'),
        join(store, name, 'cert.pem'),
      ]);
    }
    // The shared shell hook ran once, for both certificates, and succeeded.
    assert.deepEqual(
      report.hooks.map((h) => [h.name, h.event, h.ok, h.certificates]),
      [['reload nginx', 'post-renew', true, [...NAMES]]],
    );
    await nginx.waitForSerial((await readStored(store, 'gateway')).serial);
  });

  test('with reuseKey false the renewal goes through /1.0/sign with a new key', async () => {
    assert.ok(nginx);
    const previous = {
      gateway: await readStored(store, 'gateway'),
      portainer: await readStored(store, 'portainer'),
    };
    const path = await writeManifest(
      tmp.path,
      (() => {
        const m = manifest({ hook: reloadShell(nginx), renewBeforePercent: due });
        const gateway = m.certificates.find((c) => c.name === 'gateway');
        if (gateway) gateway.reuseKey = false;
        return m;
      })(),
      'rotate.json',
    );
    const r = await runCli(['-m', path, 'run', '--json', '--interval', interval]);
    assert.equal(r.code, 0, r.stderr);
    const report = parseReport(r.stdout);
    assert.deepEqual(outcomes(report), [
      ['gateway', 'renewed', 'step-ca sign'],
      ['portainer', 'renewed', 'step-ca renew'],
    ]);
    const gateway = await readStored(store, 'gateway');
    assert.notEqual(gateway.keyPem, previous.gateway.keyPem, 'gateway: a new key');
    assert.notEqual(gateway.serial, previous.gateway.serial);
    assert.ok(gateway.keyMatches, 'gateway: the new key matches the new certificate');
    const portainer = await readStored(store, 'portainer');
    assert.equal(portainer.keyPem, previous.portainer.keyPem, 'portainer keeps its key');
    await nginx.waitForSerial(gateway.serial);
  });

  test('a wrong root fingerprint fails before any secret is read, naming the certificate; the store is unchanged', async () => {
    assert.ok(nginx);
    const wrong = [...ca.rootFingerprint].reverse().join('');
    assert.notEqual(wrong, ca.rootFingerprint);
    const before = await snapshots();
    const r = await run(
      {
        hook: reloadShell(nginx),
        renewBeforePercent: due,
        rootFingerprint: wrong,
        reuseKey: false,
        password: { env: UNSET_PASSWORD_ENV },
      },
      '--force',
    );
    assert.equal(r.code, 1, r.stderr);
    assert.ok(!hasStackTrace(r.stderr), r.stderr);
    const report = parseReport(r.stdout);
    for (const name of NAMES) {
      const c = report.certificates.find((x) => x.name === name);
      assert.equal(c?.outcome, 'failed', JSON.stringify(c));
      assert.match(c?.error?.message ?? '', /pinned|fingerprint/i);
      const lines = r.stderr
        .split('\n')
        .filter((line) => line.includes(name) && /pinned|fingerprint/i.test(line));
      assert.ok(lines.length >= 1, `a line on stderr names ${name} and the pin:\n${r.stderr}`);
    }
    assert.doesNotMatch(
      r.stderr + r.stdout,
      new RegExp(UNSET_PASSWORD_ENV),
      'the password was never looked up',
    );
    assert.deepEqual(report.hooks, [], 'nothing renewed, no reload');
    assert.deepEqual(await snapshots(), before);
  });

  test('a wrong password fails with a clear error; the store is unchanged', async () => {
    assert.ok(nginx);
    const wrongFile = join(tmp.path, 'wrong-password');
    await writeFile(wrongFile, 'not the provisioner password\n', { mode: 0o600 });
    const before = await snapshots();
    // A new key forces /1.0/sign, the only call that needs the provisioner password.
    const r = await run(
      { hook: reloadShell(nginx), renewBeforePercent: due, reuseKey: false, password: { file: wrongFile } },
      '--force',
    );
    assert.equal(r.code, 1, r.stderr);
    assert.ok(!hasStackTrace(r.stderr), r.stderr);
    const report = parseReport(r.stdout);
    for (const name of NAMES) {
      const c = report.certificates.find((x) => x.name === name);
      assert.equal(c?.outcome, 'failed', JSON.stringify(c));
      assert.match(c?.error?.message ?? '', /wrong provisioner password/);
    }
    assert.match(r.stderr, /wrong provisioner password/);
    assert.doesNotMatch(r.stderr + r.stdout, /not the provisioner password/, 'the secret is never printed');
    assert.deepEqual(report.hooks, []);
    assert.deepEqual(await snapshots(), before);
    // nginx still serves what the store holds.
    await nginx.waitForSerial((await readStored(store, 'gateway')).serial);
  });
});
