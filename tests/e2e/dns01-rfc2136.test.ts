/**
 * The CLI with an rfc2136 dns-01 challenge against a real BIND that Pebble resolves through: `run --dry-run`
 * proves the key without changing a record, `run` issues a wildcard + apex certificate, and the TSIG
 * secret appears in no output, even when it is rejected.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { type BindServer, startBind } from '../harness/bind.js';
import { type Pebble, startPebble } from '../harness/pebble.js';
import { type TempDir, tempDir } from '../harness/process.js';
import { acmeManifest, pebbleIssuer, readAndVerify } from './acme-e2e-fixtures.js';
import { cliEnv, hasStackTrace, runCli } from './cli.js';
import { writeManifest } from './fixtures.js';

describe('cert-renew run with dns-01 rfc2136 into BIND', () => {
  let bind: BindServer;
  let pebble: Pebble;
  let tmp: TempDir;
  const wrongSecret = Buffer.alloc(32, 9).toString('base64');

  before(async () => {
    tmp = await tempDir('cert-renew-e2e-rfc2136-');
    bind = await startBind({ zones: [{ name: 'example.test' }] });
    pebble = await startPebble({ dnsServer: bind.address });
  });
  after(async () => {
    await pebble?.stop();
    await bind?.stop();
    await tmp?.remove();
  });

  const manifestFor = (file: string) =>
    writeManifest(
      tmp.path,
      acmeManifest(
        pebbleIssuer(pebble, {
          type: 'dns-01',
          rfc2136: { server: bind.address, keyName: bind.keyName, secret: { env: 'TSIG_SECRET' } },
          nameservers: [bind.address],
        }),
        join(tmp.path, file.replace(/\.json$/, '')),
        [{ name: 'wild', domains: ['example.test', '*.example.test'] }],
      ),
      file,
    );

  test('a wrong secret: dry run and run fail with one line each, and the secret is never printed', async () => {
    const manifest = await manifestFor('wrong.json');
    const env = cliEnv({ TSIG_SECRET: wrongSecret });
    const dry = await runCli(['-m', manifest, 'run', '--dry-run'], { env });
    assert.equal(dry.code, 1, dry.stdout + dry.stderr);
    assert.match(dry.stdout + dry.stderr, /BADSIG/);
    const run = await runCli(['-m', manifest, 'run'], { env });
    assert.equal(run.code, 1, run.stdout + run.stderr);
    assert.match(
      run.stdout + run.stderr,
      /wild.*rfc2136 adding TXT _acme-challenge\.example\.test .*NOTAUTH\(BADSIG\)/,
    );
    for (const r of [dry, run]) {
      assert.ok(!hasStackTrace(r.stderr), r.stderr);
      assert.ok(!(r.stdout + r.stderr).includes(wrongSecret), 'the secret is printed');
    }
    assert.deepEqual(await bind.txt('_acme-challenge.example.test'), []);
  });

  test('dry run proves the key without a change; run issues the wildcard and its apex', async () => {
    const manifest = await manifestFor('good.json');
    const env = cliEnv({ TSIG_SECRET: bind.secret });
    const dry = await runCli(['-m', manifest, 'run', '--dry-run'], { env });
    assert.equal(dry.code, 0, dry.stdout + dry.stderr);
    assert.match(dry.stdout + dry.stderr, /accepts the key/);
    const run = await runCli(['-m', manifest, 'run'], { env });
    assert.equal(run.code, 0, run.stdout + run.stderr);
    for (const r of [dry, run])
      assert.ok(!(r.stdout + r.stderr).includes(bind.secret), 'the secret is printed');
    const stored = await readAndVerify(join(tmp.path, 'good'), 'wild', await pebble.roots());
    assert.ok(stored);
    assert.deepEqual(await bind.txt('_acme-challenge.example.test'), []);
  });
});
