/**
 * `cert-renew import certbot` against a real certbot (Debian package) that issued three certificates from
 * Pebble into a temporary configuration directory: by webroot, by its standalone listener, and one with a
 * --deploy-hook. The import is made while Pebble is down (adoption never contacts the CA); the manifest
 * validates, the next `run` reports all three `ok`, and with Pebble back `run --force` renews each through
 * the translated challenge and runs the translated hook with certbot's variables pointing at the store.
 */
import assert from 'node:assert/strict';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Manifest } from '../../src/manifest/types.js';
import { type Pebble, startPebble } from '../harness/pebble.js';
import { runCommand, type TempDir, tempDir } from '../harness/process.js';
import { readAndVerify } from './acme-e2e-fixtures.js';
import { hasStackTrace, runCli } from './cli.js';
import { logLines, parseReport } from './e2e-helpers.js';
import {
  actions,
  closeServer,
  emptyManifest,
  envHook,
  parseImport,
  serveDocumentRoot,
} from './import-fixtures.js';

describe('cert-renew import certbot (real certbot and Pebble)', () => {
  let pebble: Pebble;
  let tmp: TempDir;
  let configDir: string;
  let docroot: string;
  let hookLog: string;

  const certbot = async (args: string[]): Promise<void> => {
    await runCommand(
      'certbot',
      [
        'certonly',
        '--non-interactive',
        '--agree-tos',
        '--register-unsafely-without-email',
        '--config-dir',
        configDir,
        '--work-dir',
        join(tmp.path, 'certbot-work'),
        '--logs-dir',
        join(tmp.path, 'certbot-logs'),
        '--server',
        pebble.directoryUrl,
        ...args,
      ],
      { env: { ...process.env, REQUESTS_CA_BUNDLE: pebble.caBundlePath }, timeoutMs: 120_000 },
    );
  };

  before(async () => {
    tmp = await tempDir('cert-renew-import-certbot-');
    pebble = await startPebble();
    configDir = join(tmp.path, 'letsencrypt');
    docroot = join(tmp.path, 'www');
    hookLog = join(tmp.path, 'hook.log');
    await mkdir(docroot);
    const server = await serveDocumentRoot(docroot, pebble.httpPort);
    try {
      await certbot(['--webroot', '-w', docroot, '-d', 'web.example.test', '-d', 'www.web.example.test']);
    } finally {
      await closeServer(server);
    }
    const standalone = [
      '--standalone',
      '--http-01-port',
      String(pebble.httpPort),
      '--http-01-address',
      '127.0.0.1',
    ];
    await certbot([...standalone, '-d', 'alone.example.test']);
    const hook = await envHook(tmp.path, 'deploy-hook.sh', hookLog, ['RENEWED_LINEAGE', 'RENEWED_DOMAINS']);
    await certbot([...standalone, '--deploy-hook', hook, '-d', 'hooked.example.test']);
  });
  after(async () => {
    await pebble?.stop();
    await tmp?.remove();
  });

  test('import adopts all three without the CA, run says ok, --force renews through the translated challenges', async () => {
    const manifestPath = await emptyManifest(tmp.path);
    const store = join(tmp.path, 'store');
    const before = await readFile(manifestPath, 'utf8');
    const importArgs = [
      '-m',
      manifestPath,
      'import',
      'certbot',
      configDir,
      '--ca-bundle',
      pebble.caBundlePath,
    ];

    // --dry-run: says what it would do, writes nothing.
    const dry = await runCli([...importArgs, '--write', '--dry-run', '--json']);
    assert.equal(dry.code, 0, dry.stderr);
    assert.deepEqual(actions(parseImport(dry.stdout)), [
      ['alone.example.test', 'would-adopt'],
      ['hooked.example.test', 'would-adopt'],
      ['web.example.test', 'would-adopt'],
    ]);
    assert.equal(await readFile(manifestPath, 'utf8'), before);
    await assert.rejects(readFile(join(store, 'web.example.test', 'cert.pem')));

    // The CA is down: adoption must not need it.
    await pebble.kill();
    const r = await runCli([...importArgs, '--write', '--json']);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(!hasStackTrace(r.stderr), r.stderr);
    const report = parseImport(r.stdout);
    assert.equal(report.written, true);
    assert.deepEqual(actions(report), [
      ['alone.example.test', 'adopted'],
      ['hooked.example.test', 'adopted'],
      ['web.example.test', 'adopted'],
    ]);
    // Only the account is left untranslated (never copied).
    assert.deepEqual(
      report.untranslated.map((u) => u.message.split(' ').slice(0, 3).join(' ')),
      ['ACME accounts are'],
    );

    const manifest = JSON.parse(await readFile(manifestPath, 'utf8')) as Manifest;
    assert.deepEqual(Object.keys(manifest.issuers).length, 1);
    const [issuerName, issuer] = Object.entries(manifest.issuers)[0] ?? [];
    assert.equal(issuer?.type, 'acme');
    assert.ok(issuer?.type === 'acme' && issuer.directory === pebble.directoryUrl);
    assert.ok(issuer?.type === 'acme' && issuer.caBundle === pebble.caBundlePath);
    assert.ok(!JSON.stringify(manifest).includes('account'), 'no account in the manifest');
    const byName = Object.fromEntries(manifest.certificates.map((c) => [c.name, c]));
    const challengeOf = (name: string) =>
      byName[name]?.challenge ?? (issuer?.type === 'acme' ? issuer.challenge : undefined);
    assert.deepEqual(challengeOf('web.example.test'), { type: 'http-01', webroot: docroot });
    assert.deepEqual(challengeOf('alone.example.test'), {
      type: 'http-01',
      standalone: `127.0.0.1:${pebble.httpPort}`,
    });
    assert.deepEqual(byName['web.example.test']?.domains, ['web.example.test', 'www.web.example.test']);
    assert.equal(byName['web.example.test']?.issuer, issuerName);
    assert.deepEqual(byName['hooked.example.test']?.hooks?.postRenew, [
      {
        run: [join(tmp.path, 'deploy-hook.sh')],
        env: { RENEWED_LINEAGE: join(store, 'hooked.example.test'), RENEWED_DOMAINS: 'hooked.example.test' },
      },
    ]);

    const validate = await runCli(['validate', manifestPath]);
    assert.equal(validate.code, 0, validate.stdout + validate.stderr);

    // A second import changes nothing.
    const written = await readFile(manifestPath, 'utf8');
    const again = await runCli([...importArgs, '--write', '--json']);
    assert.equal(again.code, 0, again.stderr);
    assert.equal(parseImport(again.stdout).written, false);
    assert.deepEqual(
      actions(parseImport(again.stdout)).map(([, action]) => action),
      ['unchanged', 'unchanged', 'unchanged'],
    );
    assert.equal(await readFile(manifestPath, 'utf8'), written);

    // The next run (CA still down) has nothing to do.
    const run = await runCli(['-m', manifestPath, 'run', '--json']);
    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual(
      parseReport(run.stdout).certificates.map((c) => [c.name, c.outcome, c.reason]),
      [
        ['alone.example.test', 'ok', 'ok'],
        ['hooked.example.test', 'ok', 'ok'],
        ['web.example.test', 'ok', 'ok'],
      ],
    );
    const adopted = await readFile(join(store, 'web.example.test', 'cert.pem'), 'utf8');
    assert.equal(adopted, await readFile(join(configDir, 'live', 'web.example.test', 'cert.pem'), 'utf8'));

    // With the CA back, --force renews each through its translated challenge.
    await pebble.restart();
    const server = await serveDocumentRoot(docroot, pebble.httpPort);
    try {
      const web = await runCli([
        '-m',
        manifestPath,
        'run',
        '--force',
        '--only',
        'web.example.test',
        '--json',
      ]);
      assert.equal(web.code, 0, web.stderr);
      assert.equal(parseReport(web.stdout).certificates[0]?.outcome, 'renewed');
    } finally {
      await closeServer(server);
    }
    const hookLinesBefore = (await logLines(hookLog)).length;
    const rest = await runCli([
      '-m',
      manifestPath,
      'run',
      '--force',
      '--concurrency',
      '1',
      '--only',
      'alone.example.test',
      'hooked.example.test',
      '--json',
    ]);
    assert.equal(rest.code, 0, rest.stderr);
    assert.deepEqual(
      parseReport(rest.stdout).certificates.map((c) => [c.name, c.outcome]),
      [
        ['alone.example.test', 'renewed'],
        ['hooked.example.test', 'renewed'],
      ],
    );
    const root = await pebble.roots();
    for (const name of ['web.example.test', 'alone.example.test', 'hooked.example.test']) {
      assert.ok((await readAndVerify(store, name, root)).keyMatches, name);
    }
    const lines = await logLines(hookLog);
    assert.equal(lines.length, hookLinesBefore + 1, lines.join('\n'));
    assert.equal(lines.at(-1), `deploy-hook.sh ${join(store, 'hooked.example.test')} hooked.example.test`);
  });

  test('--ca-bundle on a second import: the issuer the first one added without it is named, not silently kept', async () => {
    const dir = join(tmp.path, 'no-ca-bundle-first');
    await mkdir(dir);
    const manifestPath = await emptyManifest(dir);
    const first = await runCli(['-m', manifestPath, 'import', 'certbot', configDir, '--write', '--json']);
    assert.equal(first.code, 0, first.stderr);
    const issuers = (JSON.parse(await readFile(manifestPath, 'utf8')) as Manifest).issuers;
    const [issuerName, issuer] = Object.entries(issuers)[0] ?? [];
    assert.ok(issuer?.type === 'acme' && issuer.caBundle === undefined);

    const written = await readFile(manifestPath, 'utf8');
    const second = await runCli([
      '-m',
      manifestPath,
      'import',
      'certbot',
      configDir,
      '--ca-bundle',
      pebble.caBundlePath,
      '--write',
      '--json',
    ]);
    assert.equal(second.code, 0, second.stderr);
    assert.ok(!hasStackTrace(second.stderr), second.stderr);
    assert.equal(await readFile(manifestPath, 'utf8'), written, 'an existing issuer is not changed');
    const notes = parseImport(second.stdout).untranslated.map((u) => u.message);
    assert.ok(
      notes.includes(
        `issuer '${issuerName}' (the manifest's) has no "caBundle"; --ca-bundle ${pebble.caBundlePath} was not applied (set "caBundle" on the issuer if it should trust it)`,
      ),
      notes.join('\n'),
    );
    assert.match(second.stderr, /not translated: issuer .* has no "caBundle"; --ca-bundle/);
  });
});
