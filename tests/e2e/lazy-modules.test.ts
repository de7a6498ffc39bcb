/**
 * What `bin/cert-renew` runs (the esbuild bundle in dist/bundle/ after `npm run build`, dist/src/ after a bare
 * `tsc`) loads the heavy packages only when a run needs them: planning an ACME manifest loads neither
 * acme-client nor @peculiar/x509, a filesystem store never loads ioredis. Checked in the CLI's own process
 * with a module-resolution hook (NODE_OPTIONS) that reports every package it resolves. Issuing loads of
 * acme-client only what it uses: no axios (its requests go through cert-renew's transport) and no
 * node-forge (the package index's deprecated `forge` export); CommonJS loads are read from require.cache.
 */
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { startPebble } from '../harness/pebble.js';
import { type TempDir, tempDir } from '../harness/process.js';
import { acmeManifest, pebbleIssuer, readAndVerify, standalone } from './acme-e2e-fixtures.js';
import { runCli } from './cli.js';

const hooks = `export async function resolve(specifier, context, next) {
  const resolved = await next(specifier, context);
  process.stderr.write('resolved ' + resolved.url + '\\n');
  return resolved;
}`;
const register = `import { register } from 'node:module';
register(${JSON.stringify(`data:text/javascript,${encodeURIComponent(hooks)}`)});`;
const NODE_OPTIONS = `--import=data:text/javascript,${encodeURIComponent(register)}`;

/** The module URLs one CLI run resolved (file: URLs of our modules and of packages). */
async function modulesOf(args: string[], cwd: string): Promise<string[]> {
  const result = await runCli(args, { cwd, env: { NODE_OPTIONS } });
  assert.equal(result.code, 0, result.stderr);
  return result.stderr
    .split('\n')
    .filter((line) => line.startsWith('resolved '))
    .map((line) => line.slice('resolved '.length));
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

test('planning an ACME manifest on a filesystem store loads no acme-client, @peculiar/x509 or ioredis', async () => {
  const modules = await modulesOf(['-m', 'manifest.json', 'plan', '--json'], tmp.path);
  assert.ok(
    modules.some((url) => /\/dist\/(bundle|src)\/cli\.js$/.test(url)),
    'the hook sees the CLI load',
  );
  for (const name of ['acme-client', '@peculiar/x509', 'ioredis']) {
    assert.deepEqual(
      modules.filter((url) => url.includes(`/node_modules/${name}/`)),
      [],
      `${name} is not loaded`,
    );
  }
});

test('--version alone loads none of the CLI: bin/cert-renew answers from package.json', async () => {
  const modules = await modulesOf(['--version'], tmp.path);
  assert.ok(
    modules.some((url) => /\/bin\/cert-renew$/.test(url)),
    'the hook sees bin/cert-renew load',
  );
  assert.deepEqual(
    modules.filter((url) => /\/dist\//.test(url)),
    [],
  );
});

test('--version with other options goes through the CLI, and loads no command module, store or issuer', async () => {
  const modules = await modulesOf(['-m', 'manifest.json', '--version'], tmp.path);
  assert.ok(
    modules.some((url) => /\/dist\/(bundle|src)\/cli\.js$/.test(url)),
    'the hook sees the CLI load',
  );
  assert.deepEqual(
    modules.filter((url) =>
      /\/(stores|issuers|commands)\/|\/(filesystem|issuer|plan)-[A-Z0-9]+\.js$/.test(url),
    ),
    [],
  );
});

test('issuing through ACME loads acme-client without axios or node-forge', async () => {
  const pebble = await startPebble();
  try {
    const manifest = acmeManifest(pebbleIssuer(pebble, standalone(pebble)), 'issued', [
      { name: 'api', domains: ['api.example.test'] },
    ]);
    await writeFile(join(tmp.path, 'issue.json'), JSON.stringify(manifest));
    // CommonJS packages are loaded by require(), which the resolve hook above does not see.
    const preload = join(tmp.path, 'cjs-modules.cjs');
    await writeFile(
      preload,
      `process.on('exit', () => { for (const path of Object.keys(require.cache)) process.stderr.write('required ' + path + '\\n'); });\n`,
    );
    const result = await runCli(['-m', 'issue.json', 'run'], {
      cwd: tmp.path,
      env: { NODE_OPTIONS: `--require=${preload}` },
    });
    assert.equal(result.code, 0, result.stderr);
    await readAndVerify(join(tmp.path, 'issued'), 'api', await pebble.roots());
    const required = result.stderr.split('\n').filter((line) => line.startsWith('required '));
    assert.ok(
      required.some((line) => line.includes('/node_modules/acme-client/src/client.js')),
      'acme-client was loaded',
    );
    for (const name of ['axios', 'node-forge']) {
      assert.deepEqual(
        required.filter((line) => line.includes(`/node_modules/${name}/`)),
        [],
        `${name} is not loaded`,
      );
    }
  } finally {
    await pebble.stop();
  }
});
