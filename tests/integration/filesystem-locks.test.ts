/**
 * Lock files of the filesystem store against real processes: four contending processes never hold the
 * lock at the same time (even while taking over a stale lock together), stale locks (dead process, old
 * mtime, unfinished file) are taken over, and a held lock stays fresh however long it is held.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { chmod, mkdir, readdir, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { processIdentity } from '../../src/runtime/identity.js';
import { createLogger } from '../../src/runtime/logger.js';
import { FilesystemStore } from '../../src/stores/filesystem/index.js';
import { testContext } from '../contract/fixtures.js';
import { type TempDir, tempDir } from '../harness/process.js';

const here = dirname(fileURLToPath(import.meta.url));

let dir: TempDir;
before(async () => {
  dir = await tempDir('cert-renew-fs-locks-');
});
after(async () => {
  await dir?.remove();
});

const locksDir = () => join(dir.path, 'certs', '.cert-renew', 'locks');

/** A pid that belonged to a process of this host that has exited. */
function deadPid(): number {
  const result = spawnSync(process.execPath, ['-e', '0']);
  assert.ok(result.pid);
  return result.pid;
}

/** This host's boot id and PID namespace, as a lock file carries them. */
const here_ = () => ({ boot: processIdentity().bootId, pidns: processIdentity().pidNamespace });

async function writeLock(name: string, content: object | string, mtime?: Date): Promise<string> {
  await mkdir(locksDir(), { recursive: true });
  const path = join(locksDir(), `${name}.lock`);
  await writeFile(path, typeof content === 'string' ? content : JSON.stringify(content));
  if (mtime) await utimes(path, mtime, mtime);
  return path;
}

function runWorker(
  logFile: string,
  rounds: number,
  holdMs: number,
): Promise<{ code: number | null; stderr: string }> {
  const child = spawn(
    process.execPath,
    [join(here, 'fixtures', 'lock-worker.js'), dir.path, logFile, String(rounds), String(holdMs)],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  return new Promise((resolve) => child.on('exit', (code) => resolve({ code, stderr })));
}

test('four processes contending for one lock never hold it together', async () => {
  // They start against a stale lock (its owner died), so they also race to take it over.
  await writeLock('shared', {
    token: 'deadbeefdeadbeef',
    pid: deadPid(),
    host: hostname(),
    ...here_(),
    createdAt: new Date().toISOString(),
  });
  const logFile = join(dir.path, 'contention.log');
  await writeFile(logFile, '');
  const results = await Promise.all([1, 2, 3, 4].map(() => runWorker(logFile, 6, 5)));
  for (const result of results) assert.equal(result.code, 0, result.stderr);

  const lines = (await readFile(logFile, 'utf8')).trim().split('\n');
  assert.equal(lines.length, 4 * 6 * 2);
  const holders = new Set<string>();
  for (let i = 0; i < lines.length; i += 2) {
    const [enter, who] = (lines[i] as string).split(' ');
    const [leave, same] = (lines[i + 1] as string).split(' ');
    assert.equal(enter, 'enter', `line ${i + 1}: ${lines[i]}`);
    assert.equal(leave, 'leave', `line ${i + 2}: ${lines[i + 1]} — two holders at once`);
    assert.equal(same, who, `line ${i + 2}: another process left while ${who} held the lock`);
    holders.add(who as string);
  }
  assert.equal(holders.size, 4);
  assert.deepEqual(
    (await readdir(locksDir())).filter((entry) => entry.startsWith('shared.')),
    [],
    'no lock, break or stale file is left',
  );
});

test('a lock of a process that died on this host is taken over at once', async () => {
  const store = new FilesystemStore('locks', { type: 'filesystem', path: 'certs' }, testContext(dir.path));
  await writeLock('dead-owner', {
    token: 'abcdefabcdef0001',
    pid: deadPid(),
    host: hostname(),
    ...here_(),
    createdAt: new Date().toISOString(),
  });
  const lock = await store.locker().acquire('dead-owner', { waitMs: 0 });
  assert.ok(lock, 'the dead process lock was taken over');
  const content = JSON.parse(await readFile(join(locksDir(), 'dead-owner.lock'), 'utf8')) as Record<
    string,
    unknown
  >;
  assert.equal(content.pid, process.pid);
  assert.equal(content.host, hostname());
  assert.equal(content.boot, processIdentity().bootId);
  assert.equal(content.pidns, processIdentity().pidNamespace);
  assert.match(String(content.token), /^[0-9a-f]{32}$/);
  assert.ok(!Number.isNaN(Date.parse(String(content.createdAt))));
  await lock.release();
});

test('a lock of another host is stale only once its mtime is older than lockTimeout', async () => {
  const store = new FilesystemStore('locks', { type: 'filesystem', path: 'certs' }, testContext(dir.path));
  // A live process elsewhere: the pid means nothing here, only the age counts.
  const path = await writeLock('remote', {
    token: 'abcdefabcdef0002',
    pid: 1,
    host: 'elsewhere.invalid',
    createdAt: 'x',
  });
  assert.equal(
    await store.locker().acquire('remote', { waitMs: 150 }),
    undefined,
    'a fresh lock of another host holds',
  );

  const old = new Date(Date.now() - 16 * 60_000);
  await utimes(path, old, old);
  const lock = await store.locker().acquire('remote', { waitMs: 0 });
  assert.ok(lock, 'older than the default 15m: taken over');
  await lock.release();

  const short = new FilesystemStore(
    'locks',
    { type: 'filesystem', path: 'certs', lockTimeout: '2m' },
    testContext(dir.path),
  );
  const recent = new Date(Date.now() - 3 * 60_000);
  await writeLock(
    'remote',
    { token: 'abcdefabcdef0003', pid: 1, host: 'elsewhere.invalid', createdAt: 'x' },
    recent,
  );
  assert.equal(
    await store.locker().acquire('remote', { waitMs: 0 }),
    undefined,
    '3 minutes old is fresh for 15m',
  );
  const taken = await short.locker().acquire('remote', { waitMs: 0 });
  assert.ok(taken, '3 minutes old is stale for a 2m lockTimeout');
  await taken.release();
});

test('leftovers of crashed lock writers are swept: dead or old temporary and moved-aside files, never a lock', async () => {
  const sweepDir = join(dir.path, 'sweep');
  const locks = join(sweepDir, 'certs', '.cert-renew', 'locks');
  await mkdir(locks, { recursive: true });
  const dead = { token: 'abcdefabcdef0009', pid: deadPid(), host: hostname(), createdAt: 'x', ...here_() };
  const alive = { token: 'abcdefabcdef000a', pid: 1, host: 'elsewhere.invalid', createdAt: 'x' };
  await writeFile(join(locks, 'a.lock.new-0123abcd'), JSON.stringify(dead));
  await writeFile(join(locks, 'b.lock.new-0123abce'), JSON.stringify(alive));
  await writeFile(join(locks, 'c.lock.stale-0123abcf'), JSON.stringify(alive));
  const old = new Date(Date.now() - 10 * 60_000);
  await utimes(join(locks, 'c.lock.stale-0123abcf'), old, old);
  await writeFile(join(locks, 'd.lock'), JSON.stringify(alive));
  await utimes(join(locks, 'd.lock'), old, old);
  const store = new FilesystemStore('locks', { type: 'filesystem', path: 'certs' }, testContext(sweepDir));
  const lock = await store.locker().acquire('other', { waitMs: 0 });
  assert.ok(lock);
  await lock.release();
  // Another host's fresh temporary file may still be linked into place: kept. Locks are never swept.
  assert.deepEqual((await readdir(locks)).filter((f) => !f.startsWith('.')).sort(), [
    'b.lock.new-0123abce',
    'd.lock',
  ]);
});

test('takeover claims left by crashed breakers are swept by the next run, whatever lock it takes', async () => {
  const sweepDir = join(dir.path, 'sweep-claims');
  const locks = join(sweepDir, 'certs', '.cert-renew', 'locks');
  await mkdir(locks, { recursive: true });
  const dead = { token: 'abcdefabcdef0011', pid: deadPid(), host: hostname(), createdAt: 'x', ...here_() };
  const alive = { token: 'abcdefabcdef0012', pid: 1, host: 'elsewhere.invalid', createdAt: 'x' };
  const old = new Date(Date.now() - 10 * 60_000);
  // A claim of a process of this host that is gone: removed at once, though no lock is contended.
  await writeFile(join(locks, 'c14.lock.break-d2b4d2b4d2b4d2b4'), JSON.stringify(dead));
  // Another host's claim: its process may be breaking that lock right now (kept), unless 10 minutes old.
  await writeFile(join(locks, 'c15.lock.break-0b8e0b8e0b8e0b8e'), JSON.stringify(alive));
  await writeFile(join(locks, 'c01.lock.break-deadbeef'), JSON.stringify(alive));
  await utimes(join(locks, 'c01.lock.break-deadbeef'), old, old);
  // A claim for an unfinished lock file (named by inode and mtime), and one still being written, both dead.
  await writeFile(join(locks, 'c16.lock.break-ino-1234-5678'), JSON.stringify(dead));
  await writeFile(join(locks, 'c17.lock.break-0123abcd.new-4567abcd'), JSON.stringify(dead));
  const store = new FilesystemStore('locks', { type: 'filesystem', path: 'certs' }, testContext(sweepDir));
  const lock = await store.locker().acquire('unrelated', { waitMs: 0 });
  assert.ok(lock);
  await lock.release();
  assert.deepEqual((await readdir(locks)).filter((f) => !f.startsWith('.')).sort(), [
    'c15.lock.break-0b8e0b8e0b8e0b8e',
  ]);
});

test('a lock file that cannot be removed at release is warned about, naming it', async () => {
  // The lock directory turns read-only while the lock is held (a remount, a chmod). As root, permissions
  // do not stop unlink: the holder then runs as nobody, in a directory it owns.
  const base = join(dir.path, 'unreleasable');
  await mkdir(base, { recursive: true, mode: 0o777 });
  await chmod(base, 0o777);
  await chmod(dir.path, 0o755);
  const module = fileURLToPath(new URL('../../src/stores/filesystem/index.js', import.meta.url));
  const script = `
    const { chmod } = await import('node:fs/promises');
    const { FilesystemStore } = await import(${JSON.stringify(module)});
    const lines = [];
    const logger = { debug() {}, info() {}, warn: (l) => lines.push(l), error: (l) => lines.push(l) };
    const context = { clock: { now: () => new Date() }, logger, env: {}, baseDir: ${JSON.stringify(base)},
      hostname: 'h', pid: process.pid, readSecret: async () => '', getStore: () => Promise.reject(new Error('none')) };
    const store = new FilesystemStore('files', { type: 'filesystem', path: 'certs', lockTimeout: '15m' }, context);
    const lock = await store.locker().acquire('web', { waitMs: 0 });
    if (!lock) throw new Error('no lock');
    await chmod(${JSON.stringify(join(base, 'certs', '.cert-renew', 'locks'))}, 0o555);
    await lock.release();
    console.log(JSON.stringify(lines));
  `;
  const root = process.getuid?.() === 0;
  const argv = [
    ...(root ? ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups'] : []),
    process.execPath,
    '--input-type=module',
    '-e',
    script,
  ];
  const result = spawnSync(argv[0] as string, argv.slice(1), { encoding: 'utf8', timeout: 60_000 });
  assert.equal(result.status, 0, result.stderr);
  const lines = JSON.parse(result.stdout) as string[];
  const path = join(base, 'certs', '.cert-renew', 'locks', 'web.lock');
  assert.equal(lines.length, 1, lines.join('\n'));
  assert.ok(lines[0]?.startsWith(`certificate web: cannot remove the lock file ${path} (`), lines[0]);
  assert.match(lines[0] ?? '', /EACCES/);
  assert.match(lines[0] ?? '', /another host waits for it until it is older than lockTimeout \(15m\)/);
  assert.ok((await stat(path)).isFile(), 'the lock file is still there');
  await chmod(join(base, 'certs', '.cert-renew', 'locks'), 0o755);
});

test('a live lock names its holder and when it goes stale; waiting for it is logged once at debug level', async () => {
  const lines: string[] = [];
  const logger = createLogger((line) => lines.push(line), 'debug');
  const store = new FilesystemStore(
    'locks',
    { type: 'filesystem', path: 'certs' },
    testContext(dir.path, { logger }),
  );
  const written = new Date(Date.now() - 5 * 60_000);
  await writeLock(
    'named',
    { token: 'abcdefabcdef0013', pid: 4242, host: 'elsewhere.invalid', createdAt: 'x' },
    written,
  );
  assert.equal(await store.locker().acquire('named', { waitMs: 300 }), undefined);
  const holder = await store.locker().holder?.('named');
  assert.equal(holder?.owner, 'elsewhere.invalid:4242');
  // Stale 15 minutes after its last rewrite (by the file server's clock, the same one here).
  const left = (holder?.expiresAt?.getTime() ?? 0) - Date.now();
  assert.ok(left > 9 * 60_000 && left <= 10 * 60_000, `goes stale in ${left} ms`);
  const waiting = lines.filter((l) => l.includes('waiting for the lock'));
  assert.equal(waiting.length, 1, lines.join('\n'));
  assert.match(
    waiting[0] ?? '',
    /certificate named: waiting for the lock \S+named\.lock of elsewhere\.invalid:4242 \(it goes stale at \S+Z unless its holder rewrites it\)/,
  );
  await rm(join(locksDir(), 'named.lock'));
});

test('an unfinished (empty) lock file is stale after a short grace', async () => {
  const store = new FilesystemStore('locks', { type: 'filesystem', path: 'certs' }, testContext(dir.path));
  await writeLock('empty', '');
  assert.equal(
    await store.locker().acquire('empty', { waitMs: 100 }),
    undefined,
    'just created: its owner may be writing it',
  );
  const old = new Date(Date.now() - 60_000);
  await utimes(join(locksDir(), 'empty.lock'), old, old);
  const lock = await store.locker().acquire('empty', { waitMs: 0 });
  assert.ok(lock);
  await lock.release();
});

test('a held lock is refreshed, so it never looks stale while held', async () => {
  const holderStore = new FilesystemStore(
    'locks',
    { type: 'filesystem', path: 'certs', lockTimeout: '12s' },
    testContext(dir.path),
  );
  // The contender sees the holder as another host's, so only the mtime can make it stale.
  const contender = new FilesystemStore(
    'locks',
    { type: 'filesystem', path: 'certs', lockTimeout: '12s' },
    testContext(dir.path, { hostname: 'contender.invalid' }),
  );
  const held = await holderStore.locker().acquire('long', { waitMs: 0 });
  assert.ok(held);
  // Age the file by hand as if the holder had stalled for a minute: its timer (every 3 s) makes it fresh
  // again, without the test depending on when exactly.
  const path = join(locksDir(), 'long.lock');
  const old = new Date(Date.now() - 60_000);
  await utimes(path, old, old);
  for (let i = 0; ; i++) {
    assert.ok(i < 600, 'the holder never refreshed its lock file (hang guard)');
    if (Date.now() - (await stat(path)).mtimeMs < 30_000) break;
    await sleep(100);
  }
  assert.equal(await contender.locker().acquire('long', { waitMs: 0 }), undefined, 'fresh again: held');
  // A refresh at a phase boundary does the same at once.
  await utimes(path, old, old);
  await held.refresh?.();
  // Refreshed: the file's time moved past the aged one (by far more than any clock granularity).
  assert.ok((await stat(path)).mtimeMs > old.getTime() + 30_000, 'refreshed by refresh()');
  await held.release();
  const next = await contender.locker().acquire('long', { waitMs: 0 });
  assert.ok(next);
  await next.release();
});

test('release leaves alone a lock that is no longer ours', async () => {
  const store = new FilesystemStore('locks', { type: 'filesystem', path: 'certs' }, testContext(dir.path));
  const held = await store.locker().acquire('lost', { waitMs: 0 });
  assert.ok(held);
  const replacement = { token: 'abcdefabcdef0004', pid: 1, host: 'elsewhere.invalid', createdAt: 'now' };
  await writeLock('lost', replacement);
  await held.release();
  assert.deepEqual(JSON.parse(await readFile(join(locksDir(), 'lost.lock'), 'utf8')), replacement);
});

test('an aborted wait stops with LOCK_BUSY', async () => {
  const store = new FilesystemStore('locks', { type: 'filesystem', path: 'certs' }, testContext(dir.path));
  const held = await store.locker().acquire('abort', { waitMs: 0 });
  assert.ok(held);
  const controller = new AbortController();
  setTimeout(() => controller.abort(), 50);
  await assert.rejects(store.locker().acquire('abort', { waitMs: 10_000, signal: controller.signal }), {
    code: 'LOCK_BUSY',
  });
  await held.release();
});

test('a holder whose lock was taken over knows it, and its release leaves the new lock alone', async () => {
  const store = new FilesystemStore('locks', { type: 'filesystem', path: 'certs' }, testContext(dir.path));
  const lock = await store.locker().acquire('taken-over', { waitMs: 0 });
  assert.ok(lock);
  assert.equal(await lock.stillHeld(), true);
  // Another host took it over (as it would after a partition made ours look stale).
  const other = { token: 'feedfeedfeedfeed', pid: 1, host: 'elsewhere', createdAt: new Date().toISOString() };
  const path = join(locksDir(), 'taken-over.lock');
  await rm(path);
  await writeLock('taken-over', other);
  assert.equal(await lock.stillHeld(), false);
  await lock.release();
  assert.equal(JSON.parse(await readFile(path, 'utf8')).token, other.token);
  await rm(path);
});
