/**
 * Redis going away: an unreachable Redis is one clear line within seconds (and the process exits), and
 * a Redis killed in the middle of a save leaves the previous value whole; the store reconnects after a
 * restart.
 */
import * as assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { RedisStoreConfig } from '../../src/manifest/types.js';
import type { RedisStore } from '../../src/stores/redis/index.js';
import { freePort } from '../harness/process.js';
import { type RedisServer, startRedis } from '../harness/redis.js';
import { keyMatches, makeCertificates, openStore } from './redis-fixtures.js';

const servers: RedisServer[] = [];
const stores: RedisStore[] = [];

after(async () => {
  await Promise.allSettled(stores.map((s) => s.close()));
  await Promise.allSettled(servers.map((s) => s.stop()));
});

/** Runs open + load + close in a separate node process, like the CLI would, and returns what it printed. */
async function loadInChild(
  config: RedisStoreConfig,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const module = fileURLToPath(new URL('../../src/stores/redis/index.js', import.meta.url));
  const script = `
    const { RedisStore } = await import(${JSON.stringify(module)});
    const logger = { debug() {}, info() {}, warn() {}, error() {} };
    const context = { clock: { now: () => new Date() }, logger, env: {}, baseDir: '.', hostname: 'h', pid: process.pid,
      readSecret: () => Promise.reject(new Error('none')), getStore: () => Promise.reject(new Error('none')) };
    const store = await RedisStore.open('shared', ${JSON.stringify(config)}, context);
    try {
      await store.load('web');
      console.log('loaded');
    } catch (error) {
      console.log(JSON.stringify({ code: error.code, message: error.oneLine }));
    } finally {
      await store.close();
    }
  `;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => {
    stdout += c.toString();
  });
  child.stderr.on('data', (c: Buffer) => {
    stderr += c.toString();
  });
  // A hang is a failure: the child must exit by itself (no reconnect timers left behind).
  const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  clearTimeout(timer);
  return { code, stdout, stderr };
}

test('an unreachable Redis (url, sentinel, cluster) is one STORE_UNAVAILABLE line and the process exits', async () => {
  const [p1, p2] = [await freePort(), await freePort()];
  const cases: [RedisStoreConfig, RegExp][] = [
    [
      { type: 'redis', url: `redis://user:secret@127.0.0.1:${p1}/2` },
      new RegExp(`^redis store "shared" at redis://127\\.0\\.0\\.1:${p1}/2 is unreachable: .*ECONNREFUSED`),
    ],
    [
      { type: 'redis', sentinel: { sentinels: [{ host: '127.0.0.1', port: p1 }], name: 'mymaster' } },
      /^redis store "shared" at sentinel master "mymaster" via 127\.0\.0\.1:\d+ is unreachable: no sentinel answered/,
    ],
    [
      { type: 'redis', cluster: { nodes: [{ host: '127.0.0.1', port: p2 }] } },
      /^redis store "shared" at cluster 127\.0\.0\.1:\d+ is unreachable: no cluster node answered/,
    ],
  ];
  for (const [config, pattern] of cases) {
    const { code, stdout, stderr } = await loadInChild(config);
    assert.equal(code, 0, `exits by itself: ${stderr}`);
    assert.equal(stderr, '', 'no unhandled error event, no warnings');
    const lines = stdout.trim().split('\n');
    assert.equal(lines.length, 1, stdout);
    const result = JSON.parse(lines[0]!);
    assert.equal(result.code, 'STORE_UNAVAILABLE');
    assert.match(result.message, pattern);
    assert.ok(!result.message.includes('secret'), 'no credentials in the message');
    console.log(`unreachable ${Object.keys(config)[1]}: ${result.message}`);
  }
});

test('Redis killed in the middle of a save: STORE_UNAVAILABLE, the old value is whole, the next save works', async () => {
  // Persistence on, so what Redis held before the kill is there after the restart.
  const redis = await startRedis({ args: ['--appendonly', 'yes', '--appendfsync', 'always'] });
  servers.push(redis);
  const [a, b] = await makeCertificates(2);
  const store = await openStore({ url: redis.url });
  stores.push(store);
  await store.save('web', a!.bundle, a!.meta('web'));
  const before = await redis.cli('GET', 'cert:{web}');

  // Writes are held back (for longer than any test: Redis dies first): the save reads the old value,
  // queues its MULTI/EXEC, and Redis dies.
  await redis.cli('CLIENT', 'PAUSE', '600000', 'WRITE');
  const saving = store.save('web', b!.bundle, b!.meta('web'));
  const outcome = saving.then(
    () => undefined,
    (error: unknown) => error,
  );
  // Killed once Redis holds the save's EXEC back (a blocked client), not after a guess at how long it takes.
  for (let i = 0; ; i++) {
    assert.ok(i < 600, 'the save never reached its EXEC (hang guard)');
    if (/^blocked_clients:[1-9]/m.test(await redis.cli('INFO', 'clients'))) break;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  await redis.kill();
  const error = (await outcome) as { code?: string; message?: string } | undefined;
  assert.ok(error, 'the save failed');
  assert.equal(error.code, 'STORE_UNAVAILABLE');
  assert.match(error.message ?? '', /cannot save certificate "web": connection lost/);
  await assert.rejects(store.load('web'), { code: 'STORE_UNAVAILABLE' });

  await redis.restart();
  assert.equal(await redis.cli('GET', 'cert:{web}'), before, 'the previous value, whole');
  assert.equal(await redis.cli('EXISTS', 'history:{web}'), '0');
  // The same store reconnects by itself. Right after a lost connection it fails fast for a while (the
  // circuit breaker in RedisStore): wait until it answers again, bounded, then the next save completes.
  for (let i = 0; i < 100; i++) {
    const ok = await store.load('web').then(
      () => true,
      () => false,
    );
    if (ok) break;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  await store.save('web', b!.bundle, b!.meta('web'));
  const loaded = await store.load('web');
  assert.equal(loaded.state, 'present');
  if (loaded.state !== 'present') return;
  assert.equal(loaded.cert.meta?.serial, b!.meta('web').serial);
  assert.ok(keyMatches(loaded.cert.certPem, loaded.cert.keyPem));
});
