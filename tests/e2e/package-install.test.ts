/**
 * cert-renew installs like a real package: from a copy of the sources without any build output, `npm pack`
 * builds and bundles (prepack) and packs only what runs (the one-file bundle dist/bundle/cli.cjs, not
 * dist/src/; no tests, benchmarks, source maps or code cache); the tarball installs globally into a temporary
 * prefix (`npm install -g --prefix`, from the npm cache when it can); and the installed `cert-renew` runs the
 * quickstart exactly as the README's install section shows, and issues through ACME against Pebble (the ACME
 * client is loaded from the installed package's own dependencies). The first run that loads the bundle writes
 * its V8 code cache beside it, in the installed package.
 */
import assert from 'node:assert/strict';
import { cp, mkdir, readdir, stat, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startPebble } from '../harness/pebble.js';
import { runCommand, type TempDir, tempDir } from '../harness/process.js';
import { acmeManifest, pebbleIssuer, readAndVerify, standalone } from './acme-e2e-fixtures.js';
import { REPO } from './cli.js';
import { parseReport } from './e2e-helpers.js';

/** What a fresh clone holds that packing needs (build output and node_modules are not among them). */
const SOURCES = [
  'package.json',
  'package-lock.json',
  'tsconfig.json',
  'README.md',
  'bin',
  'src',
  'tests',
  'bench',
  'schemas',
  'examples',
  'docs',
  'scripts',
];

/** npm and the CLI without the variables of an npm script that may be running the tests. */
function env(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const clean: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (!/^npm_(config_(prefix|global|dry_run)|lifecycle_|package_)/i.test(key)) clean[key] = value;
  }
  return { ...clean, NO_COLOR: '1', ...extra };
}

describe('npm pack, install the tarball globally, run the quickstart', () => {
  let tmp: TempDir;
  let tarball: string;
  let prefix: string;
  let bin: string;
  let packedFiles: string[] = [];

  before(async () => {
    tmp = await tempDir('cert-renew-package-');
    const source = join(tmp.path, 'source');
    await mkdir(source);
    for (const entry of SOURCES) await cp(join(REPO, entry), join(source, entry), { recursive: true });
    // The dev dependencies (TypeScript) that prepack's build needs.
    await symlink(join(REPO, 'node_modules'), join(source, 'node_modules'), 'dir');
    const packed = await runCommand(
      'npm',
      ['pack', '--json', '--pack-destination', tmp.path, '--no-audit', '--no-fund'],
      { cwd: source, env: env(), timeoutMs: 600_000 },
    );
    const [info] = JSON.parse(packed.stdout.slice(packed.stdout.indexOf('['))) as {
      filename: string;
      files: { path: string }[];
    }[];
    assert.ok(info, packed.stdout);
    tarball = join(tmp.path, info.filename);
    prefix = join(tmp.path, 'prefix');
    bin = join(prefix, 'bin', 'cert-renew');
    packedFiles = info.files.map((f) => f.path);
  });
  after(() => tmp?.remove());

  test('the package holds only what runs: the bundle (built by prepack), bin, schemas, examples, docs', () => {
    assert.ok(packedFiles.includes('dist/bundle/cli.cjs'), 'prepack built and bundled dist/');
    assert.ok(packedFiles.includes('dist/bundle/checks.cjs'), "the manifest's checks, beside the bundle");
    assert.ok(packedFiles.includes('bin/cert-renew'));
    // bin/cert-renew is CommonJS in a package of ES modules: bin/package.json says so, or it cannot start.
    assert.ok(packedFiles.includes('bin/package.json'));
    assert.ok(packedFiles.includes('schemas/certificate-manifest.schema.json'));
    assert.ok(packedFiles.includes('examples/quickstart.json'));
    assert.ok(packedFiles.includes('docs/manifest.md'));
    // The schema validator compiled at build time (ajv standalone code) is inside the checks' file.
    const stray = packedFiles.filter(
      (path) =>
        !/^(dist\/bundle\/(cli|checks)\.cjs$|bin\/|schemas\/|examples\/|docs\/|package\.json$|README\.md$)/.test(
          path,
        ),
    );
    assert.deepEqual(
      stray,
      [],
      'nothing else (no dist/src modules, code cache, tests, benchmarks, source maps or TypeScript sources)',
    );
  });

  test('installs globally into a prefix and runs the quickstart with the installed cert-renew', async () => {
    await runCommand(
      'npm',
      ['install', '-g', '--prefix', prefix, '--prefer-offline', '--no-audit', '--no-fund', tarball],
      { env: env(), timeoutMs: 600_000 },
    );
    const version = await runCommand(bin, ['--version'], { env: env() });
    assert.match(version.stdout, /^0\.\d+\.\d+/);
    // No code cache yet (the package holds none, and `--version` alone does not load the bundle).
    const bundle = join(prefix, 'lib', 'node_modules', 'cert-renew', 'dist', 'bundle');
    assert.deepEqual(await readdir(bundle), ['checks.cjs', 'cli.cjs']);

    // The README: copy the examples next to you; the quickstart's store is ./certs beside them.
    const work = join(tmp.path, 'work');
    await mkdir(work);
    await cp(join(prefix, 'lib', 'node_modules', 'cert-renew', 'examples'), join(work, 'examples'), {
      recursive: true,
    });
    const manifest = join('examples', 'quickstart.json');
    await runCommand(bin, ['validate', manifest], { cwd: work, env: env() });
    assert.deepEqual(
      await readdir(bundle),
      ['checks.cjs', 'cli.cjs'],
      'validate writes no code cache (not a daily command) and keeps no verdict',
    );
    const first = await runCommand(bin, ['--manifest', manifest, 'run', '--json'], {
      cwd: work,
      env: env(),
      timeoutMs: 120_000,
    });
    assert.deepEqual(
      parseReport(first.stdout).certificates.map((c) => [c.name, c.outcome]),
      [
        ['app', 'renewed'],
        ['www', 'renewed'],
      ],
    );
    assert.deepEqual((await readdir(join(work, 'certs'))).filter((f) => !f.startsWith('.')).sort(), [
      'app',
      'www',
    ]);
    assert.ok((await stat(join(bundle, 'cli.cjs.cache'))).size > 0, 'the first run wrote the code cache');
    assert.equal(
      (await readdir(bundle)).filter((name) => name.startsWith('cli.cjs.verdict.')).length,
      1,
      "and kept the manifest's verdict",
    );
    const second = await runCommand(bin, ['--manifest', manifest, 'run', '--json'], {
      cwd: work,
      env: env(),
      timeoutMs: 120_000,
    });
    assert.deepEqual(
      parseReport(second.stdout).certificates.map((c) => c.outcome),
      ['ok', 'ok'],
    );
  });

  test('the installed cert-renew issues through ACME: acme-client loads from its own dependencies', async () => {
    // After the install above (node:test runs a describe's tests in order).
    const pebble = await startPebble();
    try {
      const work = join(tmp.path, 'acme');
      await mkdir(work);
      const manifest = acmeManifest(pebbleIssuer(pebble, standalone(pebble)), 'certs', [
        { name: 'api', domains: ['api.example.test'] },
      ]);
      await writeFile(join(work, 'manifest.json'), JSON.stringify(manifest));
      const run = await runCommand(bin, ['-m', 'manifest.json', 'run', '--json'], {
        cwd: work,
        env: env(),
        timeoutMs: 120_000,
      });
      assert.deepEqual(
        parseReport(run.stdout).certificates.map((c) => [c.name, c.outcome]),
        [['api', 'renewed']],
      );
      await readAndVerify(join(work, 'certs'), 'api', await pebble.roots());
    } finally {
      await pebble.stop();
    }
  });
});
