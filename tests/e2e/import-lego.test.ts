/**
 * `cert-renew import lego` against a real lego (Debian package) that issued two certificates from Pebble
 * by webroot into a temporary `--path`. lego keeps no renewal settings, so the import is given the flags
 * the operator gives lego (--server, --http.webroot, --renew-hook). Made while Pebble is down; the next
 * `run` says `ok`; with Pebble back, `run --force` renews both through the document root and runs the hook
 * with lego's variables pointing at the store.
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

describe('cert-renew import lego (real lego and Pebble)', () => {
  let pebble: Pebble;
  let tmp: TempDir;
  let legoPath: string;
  let docroot: string;

  before(async () => {
    tmp = await tempDir('cert-renew-import-lego-');
    pebble = await startPebble();
    legoPath = join(tmp.path, 'lego');
    docroot = join(tmp.path, 'www');
    await mkdir(docroot);
    const server = await serveDocumentRoot(docroot, pebble.httpPort);
    try {
      for (const domains of [['lego.example.test', 'www.lego.example.test'], ['api.example.test']]) {
        await runCommand(
          'lego',
          [
            '--path',
            legoPath,
            '--server',
            pebble.directoryUrl,
            '--email',
            'ops@example.test',
            '--accept-tos',
            '--http',
            '--http.webroot',
            docroot,
            ...domains.flatMap((d) => ['-d', d]),
            'run',
          ],
          { env: { ...process.env, LEGO_CA_CERTIFICATES: pebble.caBundlePath }, timeoutMs: 120_000 },
        );
      }
    } finally {
      await closeServer(server);
    }
  });
  after(async () => {
    await pebble?.stop();
    await tmp?.remove();
  });

  test('import with lego flags adopts both without the CA, run says ok, --force renews by webroot', async () => {
    const manifestPath = await emptyManifest(tmp.path);
    const store = join(tmp.path, 'store');
    const hookLog = join(tmp.path, 'hook.log');
    const hook = await envHook(tmp.path, 'renew-hook.sh', hookLog, ['LEGO_CERT_DOMAIN', 'LEGO_CERT_PATH']);

    // Without --server the import cannot tell the directory (lego records only the host): usage error.
    const missing = await runCli(['-m', manifestPath, 'import', 'lego', legoPath, '--json']);
    assert.equal(missing.code, 2, missing.stderr);
    assert.match(missing.stderr, /--server/);

    await pebble.kill();
    const args = [
      '-m',
      manifestPath,
      'import',
      'lego',
      legoPath,
      '--server',
      pebble.directoryUrl,
      '--http.webroot',
      docroot,
      '--renew-hook',
      hook,
      '--ca-bundle',
      pebble.caBundlePath,
      '--write',
      '--json',
    ];
    const r = await runCli(args);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(!hasStackTrace(r.stderr), r.stderr);
    const report = parseImport(r.stdout);
    assert.deepEqual(actions(report), [
      ['api.example.test', 'adopted'],
      ['lego.example.test', 'adopted'],
    ]);
    assert.deepEqual(report.untranslated, []);
    const manifest = JSON.parse(await readFile(manifestPath, 'utf8')) as Manifest;
    const issuer = Object.values(manifest.issuers)[0];
    assert.ok(issuer?.type === 'acme');
    assert.equal(issuer.email, 'ops@example.test');
    assert.deepEqual(issuer.challenge, { type: 'http-01', webroot: docroot });
    const lego = manifest.certificates.find((c) => c.name === 'lego.example.test');
    assert.deepEqual(lego?.domains, ['lego.example.test', 'www.lego.example.test']);
    assert.deepEqual(lego?.hooks?.postRenew, [
      {
        run: [hook],
        env: {
          LEGO_CERT_DOMAIN: 'lego.example.test',
          LEGO_CERT_PATH: join(store, 'lego.example.test', 'fullchain.pem'),
          LEGO_CERT_KEY_PATH: join(store, 'lego.example.test', 'privkey.pem'),
        },
      },
    ]);
    assert.equal((await runCli(['validate', manifestPath])).code, 0);

    const written = await readFile(manifestPath, 'utf8');
    const again = await runCli(args);
    assert.equal(again.code, 0, again.stderr);
    assert.equal(parseImport(again.stdout).written, false);
    assert.equal(await readFile(manifestPath, 'utf8'), written);

    const run = await runCli(['-m', manifestPath, 'run', '--json']);
    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual(
      parseReport(run.stdout).certificates.map((c) => [c.name, c.outcome]),
      [
        ['api.example.test', 'ok'],
        ['lego.example.test', 'ok'],
      ],
    );

    await pebble.restart();
    const server = await serveDocumentRoot(docroot, pebble.httpPort);
    try {
      const forced = await runCli(['-m', manifestPath, 'run', '--force', '--json']);
      assert.equal(forced.code, 0, forced.stderr);
      assert.deepEqual(
        parseReport(forced.stdout).certificates.map((c) => [c.name, c.outcome]),
        [
          ['api.example.test', 'renewed'],
          ['lego.example.test', 'renewed'],
        ],
      );
    } finally {
      await closeServer(server);
    }
    const root = await pebble.roots();
    for (const name of ['api.example.test', 'lego.example.test']) {
      assert.ok((await readAndVerify(store, name, root)).keyMatches, name);
    }
    assert.deepEqual((await logLines(hookLog)).sort(), [
      `renew-hook.sh api.example.test ${join(store, 'api.example.test', 'fullchain.pem')}`,
      `renew-hook.sh lego.example.test ${join(store, 'lego.example.test', 'fullchain.pem')}`,
    ]);
  });

  test("a relative --renew-hook is the program lego ran from the import's directory; a bare --exec-path stays on PATH", async () => {
    const dir = join(tmp.path, 'relative');
    const opsCwd = join(dir, 'ops');
    const manifestDir = join(dir, 'etc');
    await mkdir(join(opsCwd, 'bin'), { recursive: true });
    await mkdir(manifestDir);
    const manifestPath = await emptyManifest(manifestDir);
    const hookLog = join(dir, 'hook.log');
    const hook = await envHook(join(opsCwd, 'bin'), 'reload.sh', hookLog, ['LEGO_CERT_DOMAIN']);
    const r = await runCli(
      [
        '-m',
        manifestPath,
        'import',
        'lego',
        legoPath,
        '--server',
        pebble.directoryUrl,
        '--http.webroot',
        docroot,
        '--renew-hook',
        './bin/reload.sh',
        '--ca-bundle',
        pebble.caBundlePath,
        '--write',
        '--json',
      ],
      { cwd: opsCwd },
    );
    assert.equal(r.code, 0, r.stderr);
    const manifest = JSON.parse(await readFile(manifestPath, 'utf8')) as Manifest;
    const api = manifest.certificates.find((c) => c.name === 'api.example.test');
    assert.deepEqual(api?.hooks?.postRenew?.[0]?.run, [hook]);

    // The run (started elsewhere, as cron does) finds and runs it.
    const server = await serveDocumentRoot(docroot, pebble.httpPort);
    try {
      const forced = await runCli(
        ['-m', manifestPath, 'run', '--force', '--only', 'api.example.test', '--json'],
        { cwd: '/' },
      );
      assert.equal(forced.code, 0, forced.stderr);
      assert.ok(!hasStackTrace(forced.stderr), forced.stderr);
      assert.equal(parseReport(forced.stdout).certificates[0]?.outcome, 'renewed');
    } finally {
      await closeServer(server);
    }
    assert.deepEqual(await logLines(hookLog), ['reload.sh api.example.test']);

    // lego looks a bare EXEC_PATH up on PATH; so does cert-renew: it is not made a path under the cwd.
    const otherDir = join(dir, 'exec');
    await mkdir(otherDir);
    const dry = await runCli(
      [
        '-m',
        await emptyManifest(otherDir),
        'import',
        'lego',
        legoPath,
        '--server',
        pebble.directoryUrl,
        '--dns',
        'exec',
        '--exec-path',
        'lego-dns-hook',
        '--dry-run',
        '--json',
      ],
      { cwd: opsCwd },
    );
    assert.equal(dry.code, 0, dry.stderr);
    const issuers = Object.values(parseImport(dry.stdout).entries.issuers);
    assert.deepEqual(
      issuers.map((i) => (i.type === 'acme' ? i.challenge : undefined)),
      [{ type: 'dns-01', exec: 'lego-dns-hook' }],
    );
  });

  test("a --renew-hook that reads lego's --pem file variable is named: the import cannot set it", async () => {
    const dir = join(tmp.path, 'pem-hook');
    await mkdir(dir);
    const hook = await envHook(dir, 'haproxy.sh', join(dir, 'hook.log'), ['LEGO_CERT_PEM_PATH']);
    const r = await runCli([
      '-m',
      await emptyManifest(dir),
      'import',
      'lego',
      legoPath,
      '--server',
      pebble.directoryUrl,
      '--http.webroot',
      docroot,
      '--renew-hook',
      hook,
      '--dry-run',
      '--json',
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(!hasStackTrace(r.stderr), r.stderr);
    const notes = parseImport(r.stdout).untranslated.map((u) => u.message);
    assert.equal(notes.filter((m) => m.includes('LEGO_CERT_PEM_PATH')).length, 1, notes.join('\n'));
    assert.match(r.stderr, /not translated: --renew-hook .*haproxy\.sh reads LEGO_CERT_PEM_PATH/);
  });
});
