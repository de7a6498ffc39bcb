/**
 * What `bin/cert-renew` runs (the CommonJS bundle dist/bundle/cli.cjs after `npm run build`, dist/src/ after
 * a bare `tsc`) loads the heavy packages only when a run needs them: planning an ACME manifest loads neither
 * acme-client nor @peculiar/x509, a filesystem store never loads ioredis. Issuing loads of acme-client only
 * what it uses: no axios (its requests go through cert-renew's transport), no node-forge (the package
 * index's deprecated `forge` export), and neither its crypto module nor the @peculiar/x509 and asn1js it
 * loads (cert-renew writes its CSRs and reads its chains itself). Planning loads no node:child_process, which
 * the bundled commander would load at its top (node's own `process.moduleLoadList`). A nothing-due run whose
 * renewal information is kept loads nothing from node_modules (the ajv helper the manifest validator needs is
 * bundled) and none of the built-ins the bundle loads on first use (scripts/bundle.mjs, LAZY_BUILTINS), nor
 * the public node:module with node's ES module loader.
 *
 * Checked in the CLI's own process with V8's coverage (NODE_V8_COVERAGE), which lists every script the
 * process compiled, ES module or CommonJS, package or ours, however it was loaded (import, require, a
 * vm.Script). Inside the bundle, each of our modules that a run may not need is a function named after its
 * dist/src path (esbuild's lazy module initialiser); coverage counts whether it ran, so a bundled module
 * counts as loaded when its initialiser ran.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { startAriServer } from '../harness/ari.js';
import { startPebble } from '../harness/pebble.js';
import { type TempDir, tempDir } from '../harness/process.js';
import { acmeManifest, pebbleIssuer, readAndVerify, standalone } from './acme-e2e-fixtures.js';
import { REPO, runCli } from './cli.js';
import { ariManifest, filesystemStoreWith } from './e2e-helpers.js';

interface Coverage {
  result: { url: string; functions: { functionName: string; ranges: { count: number }[] }[] }[];
}

/**
 * The modules one CLI run loaded: the file: URL of every script it compiled (ours and packages'), and for
 * the bundle, `<bundle URL>#dist/src/<module>.js` for each bundled module whose initialiser ran.
 */
async function modulesOf(args: string[], cwd: string): Promise<string[]> {
  const coverage = await mkdtemp(join(tmp.path, 'coverage-'));
  const result = await runCli(args, { cwd, env: { NODE_V8_COVERAGE: coverage } });
  assert.equal(result.code, 0, result.stderr);
  const modules: string[] = [];
  for (const file of await readdir(coverage)) {
    const { result: scripts } = JSON.parse(await readFile(join(coverage, file), 'utf8')) as Coverage;
    for (const script of scripts) {
      if (!script.url.startsWith('file:')) continue;
      modules.push(script.url);
      if (!script.url.endsWith('/dist/bundle/cli.cjs')) continue;
      for (const fn of script.functions) {
        if (fn.functionName.startsWith('dist/src/') && (fn.ranges[0]?.count ?? 0) > 0) {
          modules.push(`${script.url}#${fn.functionName}`);
        }
      }
    }
  }
  return modules;
}

/** Whether `modules` holds our module `path` (relative to dist/src/), unbundled or bundled. */
function holds(modules: string[], path: string): boolean {
  return modules.some((url) => url.endsWith(`/dist/src/${path}`) || url.endsWith(`#dist/src/${path}`));
}

let tmp: TempDir;
before(async () => {
  tmp = await tempDir('cert-renew-lazy-');
  const manifest = {
    version: 1,
    defaults: { issuer: 'le', store: 'files' },
    issuers: {
      le: {
        type: 'acme',
        directory: 'https://127.0.0.1:9/directory',
        email: 'ops@example.test',
        challenge: { type: 'http-01', webroot: 'webroot' },
      },
    },
    stores: { files: { type: 'filesystem', path: 'certs' } },
    certificates: [{ name: 'www', domains: ['www.example.test'] }],
  };
  await writeFile(join(tmp.path, 'manifest.json'), JSON.stringify(manifest));
});
after(() => tmp?.remove());

test('planning an ACME manifest on a filesystem store loads no acme-client, @peculiar/x509, ioredis or ajv-formats', async () => {
  const modules = await modulesOf(['-m', 'manifest.json', 'plan', '--json'], tmp.path);
  assert.ok(
    modules.some((url) => /\/dist\/(bundle\/cli\.cjs|src\/cli\.js)$/.test(url)),
    'coverage sees the CLI load',
  );
  // The check sees our lazily loaded modules too: the plan command's, the filesystem store's.
  for (const path of ['commands/plan.js', 'stores/filesystem/index.js']) {
    assert.ok(holds(modules, path), `${path} is seen`);
  }
  // ajv-formats: the manifest's directory URL and email address are plain (src/manifest/schema-formats.cts).
  for (const name of ['acme-client', '@peculiar/x509', 'ioredis', 'ajv-formats']) {
    assert.deepEqual(
      modules.filter((url) => url.includes(`/node_modules/${name}/`)),
      [],
      `${name} is not loaded`,
    );
  }
});

test('planning loads no node:child_process (commander loads it at its top for subcommands cert-renew has none of)', async () => {
  // What ships is the bundle (its commander is built to load node:child_process only when it spawns);
  // bin/cert-renew runs it when it is not older than dist/src/, as after `npm run build`.
  const bundle = await stat(join(REPO, 'dist', 'bundle', 'cli.cjs'));
  const compiled = await stat(join(REPO, 'dist', 'src', 'cli.js'));
  assert.ok(bundle.mtimeMs >= compiled.mtimeMs, 'the bundle is current: run `npm run build`');
  // node's own list of the built-in modules the process loaded, written as it exits.
  const preload = join(tmp.path, 'builtins.cjs');
  const list = join(tmp.path, 'builtins.json');
  await writeFile(
    preload,
    `process.on('exit', () => require('node:fs').writeFileSync(${JSON.stringify(list)}, JSON.stringify(process.moduleLoadList)));`,
  );
  const result = await runCli(['-m', 'manifest.json', 'plan', '--json'], {
    cwd: tmp.path,
    direct: true,
    prefix: [process.execPath, '--require', preload],
  });
  assert.equal(result.code, 0, result.stderr);
  const loaded = JSON.parse(await readFile(list, 'utf8')) as string[];
  assert.ok(loaded.includes('NativeModule fs'), 'the list is the one of this process');
  assert.ok(!loaded.includes('NativeModule child_process'), 'node:child_process is not loaded');
});

test('a nothing-due run with kept renewal information loads nothing from node_modules and no lazy built-in', async () => {
  const bundle = await stat(join(REPO, 'dist', 'bundle', 'cli.cjs'));
  const compiled = await stat(join(REPO, 'dist', 'src', 'cli.js'));
  assert.ok(bundle.mtimeMs >= compiled.mtimeMs, 'the bundle is current: run `npm run build`');
  const dir = await mkdtemp(join(tmp.path, 'kept-'));
  const ari = await startAriServer(dir);
  try {
    const names = ['www', 'api'];
    await filesystemStoreWith(join(dir, 'certs'), names, 'ca');
    await writeFile(join(dir, 'manifest.json'), JSON.stringify(ariManifest(ari, 'files', 'certs', names)));
    const first = await runCli(['-m', 'manifest.json', 'run'], { cwd: dir });
    assert.equal(first.code, 0, first.stderr);
    const asked = { ...ari.counts };
    assert.equal(asked.renewalInfo, names.length, 'the first run asks and keeps the answers');
    // node's list of the built-ins the process loaded and the files in its module cache, written as it exits.
    const preload = join(dir, 'loaded.cjs');
    const list = join(dir, 'loaded.json');
    await writeFile(
      preload,
      `process.on('exit', () => require('node:fs').writeFileSync(${JSON.stringify(list)}, JSON.stringify({ builtins: process.moduleLoadList, files: Object.keys(require.cache) })));`,
    );
    for (const command of ['run', 'plan']) {
      const result = await runCli(['-m', 'manifest.json', command], {
        cwd: dir,
        direct: true,
        prefix: [process.execPath, '--require', preload],
      });
      assert.equal(result.code, 0, result.stderr);
      assert.deepEqual(ari.counts, asked, `${command} decides from the kept answers`);
      const { builtins, files } = JSON.parse(await readFile(list, 'utf8')) as {
        builtins: string[];
        files: string[];
      };
      assert.ok(builtins.includes('NativeModule fs'), 'the list is the one of this process');
      assert.ok(
        files.some((file) => file.endsWith(join('dist', 'bundle', 'cli.cjs'))),
        'the bundle ran',
      );
      assert.deepEqual(
        files.filter((file) => file.includes('/node_modules/')),
        [],
        `${command} loads nothing from node_modules`,
      );
      // The manifest was checked by the first run: its verdict is kept, and the checks are not loaded.
      assert.ok(!files.some((file) => file.endsWith('checks.cjs')), `${command} loads no checks`);
      for (const name of [
        'timers/promises',
        'http',
        'https',
        'dns/promises',
        'module',
        'internal/modules/esm/loader',
        'child_process',
        'process', // commander's require('node:process'): the bundled copy takes the global
        'fs/promises', // a store's reads, listings and stat()s go through node:fs (src/util/fs-async.ts)
        // Nothing is hashed: the code cache's checksum is WebAssembly, the stored metadata is matched to its
        // certificate by serial, dates and key (x509/fast.ts), the ARI point is mix32 (policy/time.ts).
        'crypto',
        'stream',
        // The host name is read from /proc/sys/kernel/hostname (runtime/hostname.ts); the hooks' temporary
        // directory (os.tmpdir()) is asked for only when a hook runs.
        'os',
      ]) {
        assert.ok(!builtins.includes(`NativeModule ${name}`), `${command} does not load node:${name}`);
      }
    }
  } finally {
    await ari.close();
  }
});

test('--version alone loads none of the CLI: bin/cert-renew answers from package.json', async () => {
  const modules = await modulesOf(['--version'], tmp.path);
  assert.ok(
    modules.some((url) => /\/bin\/cert-renew$/.test(url)),
    'coverage sees bin/cert-renew load',
  );
  assert.deepEqual(
    modules.filter((url) => /\/dist\//.test(url)),
    [],
  );
});

test('--version with other options goes through the CLI, and loads no command module, store or issuer', async () => {
  const modules = await modulesOf(['-m', 'manifest.json', '--version'], tmp.path);
  assert.ok(
    modules.some((url) => /\/dist\/(bundle\/cli\.cjs|src\/cli\.js)$/.test(url)),
    'coverage sees the CLI load',
  );
  assert.ok(holds(modules, 'errors.js'), 'coverage sees the modules the CLI itself runs');
  assert.deepEqual(
    modules.filter((url) => /\/dist\/src\/(stores|issuers|commands)\//.test(url)),
    [],
  );
});

test('issuing through ACME loads acme-client without axios, node-forge, its crypto module or @peculiar/x509', async () => {
  const pebble = await startPebble();
  try {
    const manifest = acmeManifest(pebbleIssuer(pebble, standalone(pebble)), 'issued', [
      { name: 'api', domains: ['api.example.test'] },
    ]);
    await writeFile(join(tmp.path, 'issue.json'), JSON.stringify(manifest));
    const modules = await modulesOf(['-m', 'issue.json', 'run'], tmp.path);
    await readAndVerify(join(tmp.path, 'issued'), 'api', await pebble.roots());
    assert.ok(
      modules.some((url) => url.endsWith('/node_modules/acme-client/src/client.js')),
      'acme-client was loaded',
    );
    for (const name of ['axios', 'node-forge', '@peculiar/x509', '@peculiar/asn1-schema', 'asn1js']) {
      assert.deepEqual(
        modules.filter((url) => url.includes(`/node_modules/${name}/`)),
        [],
        `${name} is not loaded`,
      );
    }
    assert.deepEqual(
      modules.filter((url) => url.includes('/node_modules/acme-client/src/crypto/')),
      [],
      "acme-client's crypto module is not loaded (cert-renew's stand-in serves it)",
    );
  } finally {
    await pebble.stop();
  }
});
