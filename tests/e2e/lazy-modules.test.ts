/**
 * What `bin/cert-renew` runs (the esbuild bundle in dist/bundle/ after `npm run build`, dist/src/ after a bare
 * `tsc`) loads the heavy packages only when a run needs them: planning an ACME manifest loads neither
 * acme-client nor @peculiar/x509, a filesystem store never loads ioredis. Checked in the CLI's own process
 * with a module-resolution hook (NODE_OPTIONS) that reports every package it resolves.
 */
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { type TempDir, tempDir } from '../harness/process.js';
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
