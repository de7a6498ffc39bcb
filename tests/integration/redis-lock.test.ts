/**
 * Distributed locks against a real redis-server: exclusive across stores (hosts), released only by the
 * owner, extended while held, taken over after a killed holder's lock expires — at once when the killed
 * holder was a process of this very host.
 */
import * as assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { processIdentity } from '../../src/runtime/identity.js';
import type { Logger } from '../../src/runtime/logger.js';
import type { RedisStore } from '../../src/stores/redis/index.js';
import { type RedisServer, startRedis } from '../harness/redis.js';
import { memoryLogger, openStore, testContext } from './redis-fixtures.js';

let redis: RedisServer;
const stores: RedisStore[] = [];

async function host(name: string, lockTimeout = '2m', logger?: Logger): Promise<RedisStore> {
  const store = await openStore(
    { url: redis.url, keyPrefix: 'lk:', lockTimeout },
    testContext({ hostname: name, ...(logger ? { logger } : {}) }),
  );
  stores.push(store);
  return store;
}

/** A pid that belonged to a process of this host that has exited. */
function deadPid(): number {
  const result = spawnSync(process.execPath, ['-e', '0']);
  assert.ok(result.pid);
  return result.pid;
}

/** This process's boot id and PID namespace, as a lock token carries them. */
const { bootId, pidNamespace } = processIdentity();

/**
 * Starts a process that takes the lock of `name` as `hostname` (a lifetime of 10 minutes), kills it with
 * SIGKILL once it holds it, and resolves with its pid and the token it left.
 */
async function killedHolder(name: string, hostname: string): Promise<{ pid: number; token: string }> {
  const module = fileURLToPath(new URL('../../src/stores/redis/index.js', import.meta.url));
  const script = `
    const { RedisStore } = await import(${JSON.stringify(module)});
    const { readSecret } = await import(${JSON.stringify(fileURLToPath(new URL('../../src/manifest/secrets.js', import.meta.url)))});
    const logger = { debug() {}, info() {}, warn() {}, error() {} };
    const context = { clock: { now: () => new Date() }, logger, env: {}, baseDir: '.', hostname: ${JSON.stringify(hostname)}, pid: process.pid,
      readSecret: (r) => readSecret(r, {}, '.'), getStore: () => Promise.reject(new Error('none')) };
    const store = await RedisStore.open('shared', { type: 'redis', url: ${JSON.stringify(redis.url)}, keyPrefix: 'lk:', lockTimeout: '10m' }, context);
    await store.locker().acquire(${JSON.stringify(name)}, { waitMs: 0 });
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
  return { pid: child.pid as number, token: await redis.cli('GET', `lk:lock:{${name}}`) };
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
  assert.equal(
    (await redis.cli('GET', 'lk:lock:{web}')).replace(/[0-9a-f]{16}$/, 'RANDOM'),
    `host-a:${process.pid}:${bootId}:${pidNamespace}:RANDOM`,
  );
  assert.ok(Number(await redis.cli('PTTL', 'lk:lock:{web}')) > 60_000);
  assert.equal(await b.locker().acquire('web', { waitMs: 300 }), undefined);
  const waiting = b.locker().acquire('web', { waitMs: 60_000 });
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
  // Minutes, so that a slow machine still sees the expiry it was given before it runs out.
  const a = await host('host-a', '2m');
  await redis.cli('SET', 'lk:lock:{immortal}', 'old-tool:1:forever');
  assert.equal(await a.locker().acquire('immortal', { waitMs: 0 }), undefined, 'held: not taken at once');
  const pttl = Number(await redis.cli('PTTL', 'lk:lock:{immortal}'));
  assert.ok(pttl > 0 && pttl <= 120_000, `it now expires (PTTL ${pttl})`);
  // A lock with an expiry keeps its own, however long: only a key without one is given one.
  await redis.cli('SET', 'lk:lock:{mortal}', 'other-host:1:long', 'PX', '600000');
  assert.equal(await a.locker().acquire('mortal', { waitMs: 0 }), undefined);
  assert.ok(
    Number(await redis.cli('PTTL', 'lk:lock:{mortal}')) > 120_000,
    'a lock with an expiry is left alone',
  );
  await redis.cli('DEL', 'lk:lock:{mortal}');
  // Its lifetime runs out (made to, rather than waited for); a hang guard, not a timing assertion: the
  // formerly immortal lock expires and the waiter gets it.
  await redis.cli('PEXPIRE', 'lk:lock:{immortal}', '1');
  const next = await a.locker().acquire('immortal', { waitMs: 120_000 });
  assert.ok(next, 'taken over after it expired');
  assert.match(await redis.cli('GET', 'lk:lock:{immortal}'), /^host-a:/);
  await next.release();
});

test('a lockTimeout shorter than 10s is refused', async () => {
  await assert.rejects(host('host-a', '2s'), /lockTimeout "2s" is shorter than 10s/);
});

test('a lock left by a killed process of another host is waited for (logged with -v), then taken over after it expires', async () => {
  const { pid } = await killedHolder('orphan', 'doomed');
  assert.match(await redis.cli('GET', 'lk:lock:{orphan}'), new RegExp(`^doomed:${pid}:`));
  const logger = memoryLogger();
  const b = await host('host-b', '2m', logger);
  assert.equal(await b.locker().acquire('orphan', { waitMs: 0 }), undefined, 'alive for 10 minutes');
  const waiting = logger.lines.filter((l) => l.includes('waiting for the lock'));
  assert.equal(waiting.length, 1, logger.lines.join('\n'));
  assert.match(
    waiting[0] ?? '',
    new RegExp(
      `certificate "orphan": waiting for the lock lk:lock:\\{orphan\\} of doomed:${pid} \\(it expires at \\S+Z, in \\d+m`,
    ),
  );
  const holder = await b.locker().holder?.('orphan');
  assert.equal(holder?.owner, `doomed:${pid}`);
  const left = (holder?.expiresAt?.getTime() ?? 0) - Date.now();
  assert.ok(left > 60_000 && left <= 600_000, `expires in ${left} ms`);
  // Its lifetime runs out (made to, rather than waited for): then the next host takes it.
  await redis.cli('PEXPIRE', 'lk:lock:{orphan}', '1');
  const lock = await b.locker().acquire('orphan', { waitMs: 60_000 });
  assert.ok(lock, 'taken over after the expiry');
  assert.match(await redis.cli('GET', 'lk:lock:{orphan}'), /^host-b:/);
  await lock.release();
});

test('a lock left by a killed process of this host is taken over at once, with a warning', async () => {
  const { pid } = await killedHolder('crashed', 'this-host');
  const logger = memoryLogger();
  const same = await host('this-host', '2m', logger);
  const lock = await same.locker().acquire('crashed', { waitMs: 0 });
  assert.ok(lock, 'the dead holder is not waited for');
  assert.match(await redis.cli('GET', 'lk:lock:{crashed}'), new RegExp(`^this-host:${process.pid}:`));
  const ttl = Number(await redis.cli('PTTL', 'lk:lock:{crashed}'));
  assert.ok(ttl > 60_000 && ttl <= 120_000, `our own lifetime (PTTL ${ttl})`);
  assert.ok(
    logger.lines.some((l) =>
      l.includes(
        `took over the lock lk:lock:{crashed} of this-host:${pid}, a process of this host that no longer exists`,
      ),
    ),
    logger.lines.join('\n'),
  );
  await lock.release();
});

test('a holder of this host is judged dead only by a pid gone in this boot and PID namespace', async () => {
  const same = await host('this-host');
  const dead = deadPid();
  const held = [
    // alive (this very process): a pid that exists, whoever has it now, is never judged dead
    `this-host:${process.pid}:${bootId}:${pidNamespace}:00112233aabbccd1`,
    // another boot (the host rebooted since: pids were reused)
    `this-host:${dead}:00000000-0000-0000-0000-000000000000:${pidNamespace}:00112233aabbccd2`,
    // another PID namespace (a container sharing the host name)
    `this-host:${dead}:${bootId}:1:00112233aabbccd3`,
    // an older cert-renew's token: no boot id, so never judged by its pid
    `this-host:${dead}:00112233aabbccd4`,
    // another host's
    `elsewhere:${dead}:${bootId}:${pidNamespace}:00112233aabbccd5`,
  ];
  for (const [i, token] of held.entries()) {
    await redis.cli('SET', `lk:lock:{judged${i}}`, token, 'PX', '60000');
    assert.equal(await same.locker().acquire(`judged${i}`, { waitMs: 0 }), undefined, token);
    assert.equal(await redis.cli('GET', `lk:lock:{judged${i}}`), token, 'left alone');
    await redis.cli('DEL', `lk:lock:{judged${i}}`);
  }
  // The same token with this boot and namespace and a pid that is gone: taken over.
  await redis.cli(
    'SET',
    'lk:lock:{judged}',
    `this-host:${dead}:${bootId}:${pidNamespace}:00112233aabbccd6`,
    'PX',
    '60000',
  );
  const lock = await same.locker().acquire('judged', { waitMs: 0 });
  assert.ok(lock);
  await lock.release();
});

test('a lock lost while held says whether it expired, vanished early or another process holds it now', async () => {
  // A clock the test moves: the lock's age decides between "expired" and "vanished" (no waiting).
  let now = Date.now();
  const logger = memoryLogger();
  const context = testContext({ hostname: 'host-a', logger });
  context.clock = { now: () => new Date(now) };
  const a = await openStore({ url: redis.url, keyPrefix: 'lk:', lockTimeout: '2m' }, context);
  stores.push(a);

  // Gone long before lockTimeout (deleted, or lost in a failover): vanished, not expired.
  const vanished = await a.locker().acquire('lapsed', { waitMs: 0 });
  assert.ok(vanished?.lostHow);
  await redis.cli('DEL', 'lk:lock:{lapsed}');
  assert.equal(await vanished.stillHeld(), false);
  assert.deepEqual(await vanished.lostHow(), { kind: 'vanished' });
  await vanished.release();

  // The extension timer's warning says the same, without advising a longer lockTimeout.
  const watched = await a.locker().acquire('lapsed', { waitMs: 0 });
  assert.ok(watched?.refresh);
  await redis.cli('DEL', 'lk:lock:{lapsed}');
  await watched.refresh();
  const line = logger.lines.find((l) => l.includes('lk:lock:{lapsed}') && l.includes('was lost'));
  assert.ok(line, logger.lines.join('\n'));
  assert.match(
    line,
    /the key disappeared .* after it was last extended, well within lockTimeout \(2m\): it was deleted, or lost in a Redis failover/,
  );
  assert.doesNotMatch(line, /expired|longer lockTimeout/);
  console.log(`vanished: ${line}`);
  await watched.release();

  // Gone after lockTimeout since its last extension (a paused Redis, a stalled machine): expired.
  const expired = await a.locker().acquire('lapsed', { waitMs: 0 });
  assert.ok(expired?.lostHow);
  now += 2 * 60_000;
  await redis.cli('DEL', 'lk:lock:{lapsed}');
  assert.deepEqual(await expired.lostHow(), { kind: 'expired' });
  await expired.release();

  const taken = await a.locker().acquire('lapsed', { waitMs: 0 });
  assert.ok(taken?.lostHow);
  await redis.cli('SET', 'lk:lock:{lapsed}', 'host-z:77:00112233aabbccdd', 'PX', '60000');
  assert.equal(await taken.stillHeld(), false);
  assert.deepEqual(await taken.lostHow(), { kind: 'taken', by: 'host-z:77', early: true });
  now += 2 * 60_000;
  assert.deepEqual(await taken.lostHow(), { kind: 'taken', by: 'host-z:77' });
  await taken.release();
  assert.equal(await redis.cli('GET', 'lk:lock:{lapsed}'), 'host-z:77:00112233aabbccdd');
  await redis.cli('DEL', 'lk:lock:{lapsed}');
});
