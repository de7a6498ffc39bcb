/**
 * Distributed locks against a real redis-server: exclusive across stores (hosts), released only by the
 * owner, extended while held, taken over after a killed holder's lock expires.
 */
import * as assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { RedisStore } from '../../src/stores/redis/index.js';
import { type RedisServer, startRedis } from '../harness/redis.js';
import { openStore, testContext } from './redis-fixtures.js';

let redis: RedisServer;
const stores: RedisStore[] = [];

async function host(name: string, lockTimeout = '2m'): Promise<RedisStore> {
  const store = await openStore(
    { url: redis.url, keyPrefix: 'lk:', lockTimeout },
    testContext({ hostname: name }),
  );
  stores.push(store);
  return store;
}

before(async () => {
  redis = await startRedis();
});

after(async () => {
  await Promise.allSettled(stores.map((s) => s.close()));
  await redis?.stop();
});

test('a lock is exclusive across two stores and passes to a waiter when released', async () => {
  const [a, b] = [await host('host-a'), await host('host-b')];
  const lock = await a.locker().acquire('web', { waitMs: 0 });
  assert.ok(lock);
  assert.match(await redis.cli('GET', 'lk:lock:{web}'), /^host-a:\d+:[0-9a-f]{16}$/);
  assert.ok(Number(await redis.cli('PTTL', 'lk:lock:{web}')) > 60_000);
  assert.equal(await b.locker().acquire('web', { waitMs: 300 }), undefined);
  const waiting = b.locker().acquire('web', { waitMs: 10_000 });
  setTimeout(() => void lock.release(), 200);
  const next = await waiting;
  assert.ok(next, 'the waiter gets the lock once it is released');
  assert.match(await redis.cli('GET', 'lk:lock:{web}'), /^host-b:/);
  await next.release();
  assert.equal(await redis.cli('EXISTS', 'lk:lock:{web}'), '0');
});

test('release deletes only our own token', async () => {
  const a = await host('host-a');
  const lock = await a.locker().acquire('api', { waitMs: 0 });
  assert.ok(lock);
  // Someone else holds it now (ours expired and was taken over).
  await redis.cli('SET', 'lk:lock:{api}', 'host-z:1:other', 'PX', '60000');
  await lock.release();
  assert.equal(await redis.cli('GET', 'lk:lock:{api}'), 'host-z:1:other');
  await redis.cli('DEL', 'lk:lock:{api}');
});

test('the holder extends its lock; another host cannot take it while the holder lives', async () => {
  const [a, b] = [await host('host-a', '12s'), await host('host-b', '12s')];
  const lock = await a.locker().acquire('long', { waitMs: 0 });
  assert.ok(lock);
  // Cut its remaining life by hand, as a stalled holder would have let it run down: the holder's timer
  // (every 3 s) extends it back to the full lifetime, whenever exactly that happens.
  await redis.cli('PEXPIRE', 'lk:lock:{long}', '6000');
  for (let i = 0; ; i++) {
    assert.ok(i < 600, 'the holder never extended its lock (hang guard)');
    if (Number(await redis.cli('PTTL', 'lk:lock:{long}')) > 6000) break;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  assert.equal(await b.locker().acquire('long', { waitMs: 0 }), undefined);
  assert.match(await redis.cli('GET', 'lk:lock:{long}'), /^host-a:/);
  // A refresh at a phase boundary extends it at once.
  await redis.cli('PEXPIRE', 'lk:lock:{long}', '6000');
  await lock.refresh?.();
  assert.ok(Number(await redis.cli('PTTL', 'lk:lock:{long}')) > 6000, 'extended by refresh()');
  await lock.release();
  const taken = await b.locker().acquire('long', { waitMs: 0 });
  assert.ok(taken);
  await taken.release();
});

test('a lock without an expiry (not set by cert-renew) is given lockTimeout, then taken over', async () => {
  const a = await host('host-a', '10s');
  await redis.cli('SET', 'lk:lock:{immortal}', 'old-tool:1:forever');
  assert.equal(await a.locker().acquire('immortal', { waitMs: 0 }), undefined, 'held: not taken at once');
  const pttl = Number(await redis.cli('PTTL', 'lk:lock:{immortal}'));
  assert.ok(pttl > 0 && pttl <= 10_000, `it now expires (PTTL ${pttl})`);
  // A lock with an expiry keeps its own, however long: only a key without one is given one.
  await redis.cli('SET', 'lk:lock:{mortal}', 'other-host:1:long', 'PX', '600000');
  assert.equal(await a.locker().acquire('mortal', { waitMs: 0 }), undefined);
  assert.ok(
    Number(await redis.cli('PTTL', 'lk:lock:{mortal}')) > 10_000,
    'a lock with an expiry is left alone',
  );
  await redis.cli('DEL', 'lk:lock:{mortal}');
  // A hang guard, not a timing assertion: the formerly immortal lock expires and the waiter gets it.
  const next = await a.locker().acquire('immortal', { waitMs: 120_000 });
  assert.ok(next, 'taken over after it expired');
  assert.match(await redis.cli('GET', 'lk:lock:{immortal}'), /^host-a:/);
  await next.release();
});

test('a lockTimeout shorter than 10s is refused', async () => {
  await assert.rejects(host('host-a', '2s'), /lockTimeout "2s" is shorter than 10s/);
});

test('a lock left by a killed process is taken over after it expires', async () => {
  const module = fileURLToPath(new URL('../../src/stores/redis/index.js', import.meta.url));
  const script = `
    const { RedisStore } = await import(${JSON.stringify(module)});
    const { readSecret } = await import(${JSON.stringify(fileURLToPath(new URL('../../src/manifest/secrets.js', import.meta.url)))});
    const logger = { debug() {}, info() {}, warn() {}, error() {} };
    const context = { clock: { now: () => new Date() }, logger, env: {}, baseDir: '.', hostname: 'doomed', pid: process.pid,
      readSecret: (r) => readSecret(r, {}, '.'), getStore: () => Promise.reject(new Error('none')) };
    const store = await RedisStore.open('shared', { type: 'redis', url: ${JSON.stringify(redis.url)}, keyPrefix: 'lk:', lockTimeout: '10m' }, context);
    await store.locker().acquire('orphan', { waitMs: 0 });
    console.log('locked');
    setInterval(() => {}, 1000);
  `;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  try {
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (chunk: Buffer) => {
        if (chunk.toString().includes('locked')) resolve();
      });
      child.once('exit', (code) => reject(new Error(`lock holder exited early (${code})`)));
    });
  } finally {
    child.kill('SIGKILL');
    await exited;
  }
  assert.match(await redis.cli('GET', 'lk:lock:{orphan}'), /^doomed:/);
  const b = await host('host-b');
  assert.equal(await b.locker().acquire('orphan', { waitMs: 0 }), undefined, 'alive for 10 minutes');
  // Its lifetime runs out (made to, rather than waited for): then the next host takes it.
  await redis.cli('PEXPIRE', 'lk:lock:{orphan}', '1');
  const lock = await b.locker().acquire('orphan', { waitMs: 10_000 });
  assert.ok(lock, 'taken over after the expiry');
  assert.match(await redis.cli('GET', 'lk:lock:{orphan}'), /^host-b:/);
  await lock.release();
});
