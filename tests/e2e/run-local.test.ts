/**
 * The engine end to end with the local CA and the filesystem store: the built CLI in a child process
 * (exit codes, stdout, stderr), and in-process runs with a fixed clock where time has to pass.
 */
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { copyFile, mkdir, readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { main } from '../../src/cli.js';
import { topIssuerCommonName } from '../../src/issuers/acme/chain.js';
import type { RunReport } from '../../src/report/model.js';
import { fixedClock } from '../../src/runtime/clock.js';
import { keyMatchesCertificate } from '../../src/x509/index.js';
import { type TempDir, tempDir } from '../harness/process.js';
import { hasStackTrace, REPO, runCli } from './cli.js';
import { localManifest, memoryIO, writeManifest } from './fixtures.js';

function parseReport(stdout: string): RunReport {
  return JSON.parse(stdout) as RunReport;
}

async function assertConsistent(storePath: string, name: string): Promise<void> {
  const dir = join(storePath, name);
  const key = await readFile(join(dir, 'privkey.pem'), 'utf8');
  const cert = await readFile(join(dir, 'cert.pem'), 'utf8');
  assert.ok(keyMatchesCertificate(key, cert), `${name}: key matches certificate`);
  const mode = (await stat(join(dir, 'privkey.pem'))).mode & 0o777;
  assert.equal(mode, 0o600, `${name}: private key is 0600`);
}

describe('quickstart cycle (local CA, filesystem store)', () => {
  let tmp: TempDir;
  let manifest: string;
  let store: string;
  before(async () => {
    tmp = await tempDir();
    store = join(tmp.path, 'certs');
    manifest = await writeManifest(tmp.path, localManifest(store));
  });
  after(() => tmp.remove());

  test('first run issues both certificates', async () => {
    const r = await runCli(['-m', manifest, 'run', '--json']);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(!hasStackTrace(r.stderr));
    const report = parseReport(r.stdout);
    assert.equal(report.version, 1);
    assert.deepEqual(
      report.certificates.map((c) => [c.name, c.outcome, c.reason]),
      [
        ['web', 'renewed', 'missing'],
        ['api', 'renewed', 'missing'],
      ],
    );
    await assertConsistent(store, 'web');
    await assertConsistent(store, 'api');
    const fullchain = await readFile(join(store, 'api', 'fullchain.pem'), 'utf8');
    assert.match(fullchain, /BEGIN CERTIFICATE/);
  });

  test('second run renews nothing and says why', async () => {
    const r = await runCli(['-m', manifest, 'run']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /web\s+ok\s+ok/);
    assert.match(r.stdout, /0 renewed/);
    const j = await runCli(['-m', manifest, 'run', '--json']);
    for (const c of parseReport(j.stdout).certificates) {
      assert.equal(c.outcome, 'ok');
      assert.equal(c.reason, 'ok');
      assert.match(c.message, /left/);
    }
  });

  test('--force renews both; status --check is 0; show prints details', async () => {
    const before = parseReport((await runCli(['-m', manifest, 'plan', '--json'])).stdout);
    const r = await runCli(['-m', manifest, 'run', '--force', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const report = parseReport(r.stdout);
    assert.deepEqual(
      report.certificates.map((c) => [c.outcome, c.reason]),
      [
        ['renewed', 'forced'],
        ['renewed', 'forced'],
      ],
    );
    void before;
    const status = await runCli(['-m', manifest, 'status', '--check']);
    assert.equal(status.code, 0, status.stdout + status.stderr);
    assert.match(status.stdout, /2 valid/);
    const show = await runCli(['-m', manifest, 'show', 'api', '--json']);
    assert.equal(show.code, 0, show.stderr);
    const details = JSON.parse(show.stdout) as { domains: string[]; keyType: string };
    assert.deepEqual(details.domains.sort(), ['api.example.test', 'api2.example.test']);
    assert.equal(details.keyType, 'rsa-2048');
    const pem = await runCli(['-m', manifest, 'show', 'api', '--pem']);
    assert.doesNotMatch(pem.stdout, /PRIVATE KEY/);
    const withKey = await runCli(['-m', manifest, 'show', 'api', '--pem', '--include-key']);
    assert.match(withKey.stdout, /PRIVATE KEY/);
    // previous versions are kept
    const versions = await readdir(join(store, 'web', 'versions'));
    assert.ok(versions.length >= 2, `versions kept: ${versions.join(',')}`);
  });

  test('plan --json is the plan object and changes nothing', async () => {
    const r = await runCli(['-m', manifest, 'plan', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const plan = JSON.parse(r.stdout) as { version: number; items: { name: string; action: string }[] };
    assert.equal(plan.version, 1);
    assert.deepEqual(
      plan.items.map((i) => i.action),
      ['keep', 'keep'],
    );
  });
});

describe('time passes (in-process, fixed clock)', () => {
  test('renews inside the window, status --check walks 0 → 1 → 2', async () => {
    const tmp = await tempDir();
    try {
      const store = join(tmp.path, 'certs');
      const manifest = await writeManifest(
        tmp.path,
        localManifest(store, { certificates: [{ name: 'web', domains: ['web.example.test'] }] }),
      );
      const clock = fixedClock(Date.now());
      const run = async (...args: string[]) => {
        const io = memoryIO(clock);
        const code = await main(['-m', manifest, ...args], io.env, io);
        return { code, out: io.out, err: io.err };
      };
      let r = await run('run', '--json');
      assert.equal(r.code, 0, r.err);
      assert.equal((await run('status', '--check')).code, 0);
      // 30-day certificate: due when a third (10 days) remains.
      clock.advance(19 * 86_400_000);
      assert.equal((await run('status', '--check')).code, 0);
      assert.equal(JSON.parse((await run('plan', '--json')).out).items[0].action, 'keep');
      clock.advance(1.5 * 86_400_000);
      assert.equal((await run('status', '--check')).code, 1);
      const plan = JSON.parse((await run('plan', '--json')).out);
      assert.equal(plan.items[0].reason, 'within-renew-window');
      clock.advance(20 * 86_400_000);
      r = await run('status', '--check');
      assert.equal(r.code, 2);
      assert.match(r.out, /critical/);
      r = await run('run', '--json');
      assert.equal(r.code, 0, r.err);
      const report = JSON.parse(r.out) as RunReport;
      assert.equal(report.certificates[0]?.reason, 'expired');
      assert.equal(report.certificates[0]?.outcome, 'renewed');
      assert.equal((await run('status', '--check')).code, 0);
    } finally {
      await tmp.remove();
    }
  });
});

describe('the bundled quickstart manifest', () => {
  test('runs as the README says: issues both, then renews nothing; status --check 0', async () => {
    const tmp = await tempDir();
    try {
      // examples/quickstart.json keeps its store at ../certs, relative to the manifest.
      await mkdir(join(tmp.path, 'examples'));
      const manifest = join(tmp.path, 'examples', 'quickstart.json');
      await copyFile(join(REPO, 'examples', 'quickstart.json'), manifest);
      const first = await runCli(['-m', manifest, 'run', '--json']);
      assert.equal(first.code, 0, first.stderr);
      const names = (JSON.parse(first.stdout) as RunReport).certificates.map((c) => [c.name, c.outcome]);
      assert.equal(names.length, 2);
      for (const [, outcome] of names) assert.equal(outcome, 'renewed');
      for (const [name] of names) await assertConsistent(join(tmp.path, 'certs'), name as string);
      const second = await runCli(['-m', manifest, 'run', '--json']);
      assert.equal(second.code, 0, second.stderr);
      for (const c of (JSON.parse(second.stdout) as RunReport).certificates) assert.equal(c.outcome, 'ok');
      assert.equal((await runCli(['-m', manifest, 'status', '--check'])).code, 0);
    } finally {
      await tmp.remove();
    }
  });
});

describe("the local CA's commonName", () => {
  test('quotes, a backslash or a leading # are written as given, not parsed as RFC 4514 text', async () => {
    const tmp = await tempDir();
    try {
      for (const [i, commonName] of ['#1 Internal CA', 'Example "Internal" CA', 'back\\slash CA'].entries()) {
        const store = join(tmp.path, `certs${i}`);
        const manifest = await writeManifest(
          tmp.path,
          localManifest(store, { issuers: { local: { type: 'local-ca', lifetime: '30d', commonName } } }),
        );
        const r = await runCli(['-m', manifest, 'run', '--json']);
        assert.equal(r.code, 0, `${commonName}: ${r.stdout}${r.stderr}`);
        const leaf = new X509Certificate(await readFile(join(store, 'web', 'cert.pem')));
        assert.equal(topIssuerCommonName(leaf.toString()), commonName);
        const ca = new X509Certificate(await readFile(join(store, 'web', 'chain.pem')));
        assert.ok(leaf.checkIssued(ca), `${commonName}: the leaf names its CA`);
        assert.ok(leaf.verify(ca.publicKey));
      }
    } finally {
      await tmp.remove();
    }
  });
});
