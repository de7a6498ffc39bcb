/**
 * The store registry imports each store only when a manifest uses it: a filesystem store never loads
 * ioredis (start-up time of `validate`, `plan` and cron runs on hosts without Redis), a Redis store does.
 * Checked in a fresh node process with a module-resolution hook that reports every ioredis import.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const registry = fileURLToPath(new URL('../../src/stores/registry.js', import.meta.url));

const hooks = `export async function resolve(specifier, context, next) {
  const resolved = await next(specifier, context);
  if (resolved.url.includes('/node_modules/ioredis/')) process.stderr.write('ioredis loaded\\n');
  return resolved;
}`;
const register = `import { register } from 'node:module';
register(${JSON.stringify(`data:text/javascript,${encodeURIComponent(hooks)}`)});`;

async function openInChild(config: object): Promise<string> {
  const script = `
    const { createStore } = await import(${JSON.stringify(registry)});
    const logger = { debug() {}, info() {}, warn() {}, error() {} };
    const context = { clock: { now: () => new Date() }, logger, env: {}, baseDir: '.', hostname: 'h', pid: process.pid,
      readSecret: () => Promise.reject(new Error('none')), getStore: () => Promise.reject(new Error('none')) };
    const store = await createStore('s', ${JSON.stringify(config)}, context);
    await store.close();
  `;
  const child = spawn(
    process.execPath,
    ['--import', `data:text/javascript,${encodeURIComponent(register)}`, '--input-type=module', '-e', script],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const code = await new Promise<number | null>((done) => child.on('exit', done));
  assert.equal(code, 0, stderr);
  return stderr;
}

test('opening a filesystem store does not load ioredis', async () => {
  const stderr = await openInChild({ type: 'filesystem', path: 'certs' });
  assert.doesNotMatch(stderr, /ioredis loaded/);
});

test('opening a Redis store loads ioredis (the check above can see it)', async () => {
  const stderr = await openInChild({ type: 'redis', url: 'redis://127.0.0.1:1' });
  assert.match(stderr, /ioredis loaded/);
});
