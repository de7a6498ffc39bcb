/**
 * The CLI with an rfc2136 dns-01 challenge against a real BIND that Pebble resolves through: `run --dry-run`
 * proves the key without changing a record, `run` issues a wildcard + apex certificate, and the TSIG
 * secret appears in no output, even when it is rejected.
 */
import assert from 'node:assert/strict';
import { chmod, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { AcmeIssuerConfig } from '../../src/manifest/types.js';
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
    // The records never written are not reported as left behind.
    assert.doesNotMatch(run.stderr, /warn: .*deleting/, run.stderr);
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
    assert.match(dry.stdout + dry.stderr, /accepts the key.*checked per certificate/);
    const run = await runCli(['-m', manifest, 'run', '-v'], { env });
    assert.equal(run.code, 0, run.stdout + run.stderr);
    // -v: one line per dns-01 step.
    for (const step of [
      /debug: certificate wild: issuer pebble: dns-01 for \*\.example\.test: wrote TXT record _acme-challenge\.example\.test "[^"]+" in zone example\.test/,
      /debug: certificate wild: issuer pebble: dns-01 propagation round 1: /,
      /debug: certificate wild: issuer pebble: dns-01 propagation round \d+: every nameserver answers every value/,
      /debug: certificate wild: issuer pebble: dns-01 cleanup removed TXT record _acme-challenge\.example\.test "[^"]+" in zone example\.test/,
    ]) {
      assert.match(run.stderr, step);
    }
    for (const r of [dry, run])
      assert.ok(!(r.stdout + r.stderr).includes(bind.secret), 'the secret is printed');
    const stored = await readAndVerify(join(tmp.path, 'good'), 'wild', await pebble.roots());
    assert.ok(stored);
    assert.deepEqual(await bind.txt('_acme-challenge.example.test'), []);
  });

  test('secrets an exec command prints are masked on stderr, in --json, status and attempts.json (kept private)', async () => {
    const token = 'SUPERSECRET-TOKEN-42';
    const refValue = 'referenced-secret-9913';
    const hook = join(tmp.path, 'leaky-dns-hook');
    await writeFile(
      hook,
      [
        '#!/bin/sh',
        'case "$2" in',
        '  *json*) echo "{\\"error\\":\\"bad credentials\\",\\"key\\":\\"$DNS_API_TOKEN\\"}" >&2 ;;',
        '  *ref*) echo "refused: $PDNS_BLOB" >&2 ;;',
        '  *) echo "error: 403 forbidden for token $DNS_API_TOKEN" >&2 ;;',
        'esac',
        'exit 1',
        '',
      ].join('\n'),
    );
    await chmod(hook, 0o755);
    const base = acmeManifest(
      pebbleIssuer(pebble, { type: 'dns-01', exec: hook, nameservers: [bind.address] }),
      join(tmp.path, 'leaky'),
      [
        { name: 'plain', domains: ['plain.example.test'] },
        { name: 'json', domains: ['json.example.test'] },
        { name: 'ref', domains: ['ref.example.test'] },
      ],
    );
    const unused = pebbleIssuer(pebble, {
      type: 'dns-01',
      powerdns: { url: 'http://127.0.0.1:1', apiKey: { env: 'PDNS_BLOB' } },
    });
    // An issuer named like a credential: its name stays in the messages.
    const manifest = await writeManifest(
      tmp.path,
      {
        ...base,
        defaults: { ...base.defaults, issuer: 'secret' },
        issuers: { secret: base.issuers.pebble as AcmeIssuerConfig, other: unused },
      },
      'leaky.json',
    );
    const env = cliEnv({ DNS_API_TOKEN: token, PDNS_BLOB: refValue });
    const run = await runCli(['-m', manifest, 'run', '--json'], { env });
    assert.equal(run.code, 1, run.stdout + run.stderr);
    const status = await runCli(['-m', manifest, 'status', '--json'], { env });
    const human = await runCli(['-m', manifest, 'status'], { env: cliEnv() });
    const attempts = await Promise.all(
      ['plain', 'json', 'ref'].map((n) => join(tmp.path, 'leaky', n, 'attempts.json')),
    );
    const stored = await Promise.all(attempts.map((p) => readFile(p, 'utf8')));
    for (const text of [run.stdout, run.stderr, status.stdout, status.stderr, ...stored]) {
      assert.ok(!text.includes(token) && !text.includes(refValue), text);
    }
    assert.match(run.stdout, /issuer secret: dns-01 command/);
    assert.match(run.stdout, /forbidden for token \*\*\*/);
    assert.match(run.stdout, /\\"key\\":\\"\*\*\*\\"/);
    assert.match(run.stdout, /refused: \*\*\*/);
    // A later run that does not know the secrets shows what was stored: masked when it was stored.
    assert.ok(!(human.stdout + human.stderr).includes(token), human.stdout);
    for (const path of attempts) assert.equal((await stat(path)).mode & 0o777, 0o600, path);
  });
});
